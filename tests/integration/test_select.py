"""The select stage on a tiny real project: every estimator reported, the feature cache, dask fan-out,
unloadable candidates."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.integration.conftest import copy_of
from tests.conftest import TINY, graftline, make_project

from graftline.config import SelectParams
from graftline.data.dataset import load_split
from graftline.project import Project
from graftline.errors import ModelError
from graftline.models.candidates import load, resolve
from graftline.results import SelectionReport
from graftline.select import estimators as E
from graftline.select.features import extract
from graftline.select.rank import run_select


@pytest.fixture(scope="module")
def project(tiny_git_repo, tmp_path_factory) -> Path:
    """A copy of the session's tiny project: prepared data and the tiny zoo."""
    return copy_of(tiny_git_repo, tmp_path_factory.mktemp("select") / "proj")


def select(project: Path, name: str, **kw) -> tuple[SelectionReport, dict]:
    p = SelectParams(**kw)
    report = run_select(p, Project(project))  # a copy of the tiny project: its selection is ours to overwrite
    return report, json.loads(Project(project).timings("select").read_text())


def test_every_estimator_is_reported_and_the_ranking_follows_the_chosen_one(project: Path):
    report, _ = select(project, "sel_logme", feature_cache=None)
    assert {e.candidate for e in report.ranking} == {f"zoo:{c['id']}" for c in TINY["zoo"]["candidates"]}
    assert list(report.scale) == [*E.REGISTRY, E.ENSEMBLE]  # the score columns, each with how to read it
    for e in report.ranking:
        for name in report.scale:  # every zoo candidate has its source head: every estimator has a number
            assert math.isfinite(e.scores[name]), (e.candidate, name, e.scores[name])
        assert e.preprocessing.input_size == [1, 32, 32]
    assert report.selected == report.ranking[0].candidate and report.selected_spec.kind == "zoo"
    assert "log-density" in report.scale["logme"]
    # one candidate's LogME recomputed outside select: its features extracted here from the decoded splits
    row = next(e for e in report.ranking if e.candidate == "zoo:test_convnext.letters")
    model, card = load(resolve([row.candidate], project / "models/zoo", project)[0], project)
    feats, labels = [], []
    for split in ("train", "val"):
        part = load_split(project / "data/prepared", project, split, card.in_chans, card.preprocess.size)
        feats.append(extract(model, part.data, card.preprocess.mean, card.preprocess.std)[0])
        labels.append(part.data.labels.numpy())
    assert E.logme(np.concatenate(feats), np.concatenate(labels)) == pytest.approx(row.scores["logme"], rel=1e-6,
                                                                                    abs=1e-9)
    by_leep, _ = select(project, "sel_leep", estimator="leep", feature_cache=None)
    assert by_leep.selected == max(report.ranking, key=lambda e: e.scores["leep"]).candidate  # same scores, other key
    # train+val (the default) scores more labelled images than train alone; views multiply them
    assert report.scored_on.splits == ["train", "val"]
    fewer, _ = select(project, "sel_train", score_on="train", views=2, feature_cache=None)
    assert fewer.scored_on.images < report.scored_on.images and fewer.scored_on.views == 2


def test_feature_cache_extracts_each_candidate_once(project: Path, tmp_path: Path):
    cache = str(tmp_path / "cache")
    first, m1 = select(project, "c1", feature_cache=cache, candidates=["zoo:test_resnet.digits"])
    assert not m1["candidates"]["zoo:test_resnet.digits"]["features_cached"]
    second, m2 = select(project, "c2", feature_cache=cache)  # a candidate added: only the new ones are extracted
    cached = {k: v["features_cached"] for k, v in m2["candidates"].items()}
    assert cached.pop("zoo:test_resnet.digits") is True and not any(cached.values())
    third, m3 = select(project, "c3", feature_cache=cache)
    assert all(v["features_cached"] for v in m3["candidates"].values())
    assert [(e.candidate, e.scores["logme"], e.scores["leep"]) for e in third.ranking] == \
        [(e.candidate, e.scores["logme"], e.scores["leep"]) for e in second.ranking]
    _, m4 = select(project, "c4", feature_cache=cache, views=2)  # other preprocessing, other features
    assert not any(v["features_cached"] for v in m4["candidates"].values())


def test_dask_local_cluster_gives_the_same_ranking(project: Path):
    local, _ = select(project, "local", feature_cache=None)
    dask, m = select(project, "dask", feature_cache=None, executor="dask", dask_workers=2)
    assert m["executor"] == "dask"
    assert [e.candidate for e in dask.ranking] == [e.candidate for e in local.ranking]
    for a, b in zip(dask.ranking, local.ranking):
        assert a.scores["logme"] == pytest.approx(b.scores["logme"], rel=1e-9, abs=1e-9)


def test_unloadable_candidate_fails_the_stage_or_is_skipped(project: Path, tmp_path: Path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a safetensors file")
    cands = ["zoo:test_resnet.digits", {"file": str(bad), "architecture": "test_resnet"}]
    with pytest.raises(ModelError, match=f"candidate file:{bad}.*not a readable safetensors"):
        select(project, "bad", feature_cache=None, candidates=cands)
    report, _ = select(project, "skip", feature_cache=None, candidates=cands, skip_unloadable=True)
    assert report.selected == "zoo:test_resnet.digits"
    assert report.skipped[0].candidate == f"file:{bad}" and "safetensors" in report.skipped[0].reason
    # Through the CLI: exit 2 and one paragraph naming the candidate and the fix.
    params = (project / "params.yaml").read_text()
    try:
        import yaml

        cfg = yaml.safe_load(params)
        cfg["select"]["candidates"] = ["zoo:*", "hub:no_such_net_x.tag"]
        (project / "params.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        r = graftline("select", cwd=project)
        assert r.returncode == 2 and "candidate hub:no_such_net_x.tag" in r.stderr and "Traceback" not in r.stderr
        assert "list_pretrained" in r.stderr
    finally:
        (project / "params.yaml").write_text(params)

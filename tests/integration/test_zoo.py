"""The zoo stage trains its candidates in parallel processes: the same models as one after another, and a failure
in a worker fails the stage without leaving a half-written zoo."""

import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import TINY

from graftline.config import ZooParams
from graftline.errors import DataError
from graftline.models import weights
from graftline.train.pretrain import run_zoo


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """The tiny demo's source domains, rendered (seconds; no pipeline run needed)."""
    from graftline.data import demo

    root = tmp_path_factory.mktemp("zoo-sources")
    demo.generate(root / "data/demo", TINY["demo"]["source_per_class"], 0.15, 0, TINY["demo"]["letters_per_class"])
    return root


def test_zoo_weights_do_not_depend_on_workers_or_threads(sources: Path, tmp_path: Path, caplog):
    """``zoo.workers: 1`` (in this process) and the default (one process per thread, here 2) give bit-identical
    safetensors files, whatever torch's thread count in the calling process; progress is reported in steps while
    the candidates train, not only when one is done."""
    import logging

    p = ZooParams(**TINY["zoo"])
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # a 2-core machine without OMP_NUM_THREADS: what a fresh clone's `make run` sees
    try:
        serial = run_zoo(p.model_copy(update={"workers": 1}), sources / "data/demo/sources", tmp_path / "serial",
                         sources)
        assert torch.get_num_threads() == 2  # given back after training in this process
        with caplog.at_level(logging.INFO, logger="graftline.train.pretrain"):
            default = run_zoo(p, sources / "data/demo/sources", tmp_path / "default", sources, tmp_path / "zoo.json")
    finally:
        torch.set_num_threads(before)
    assert [c.id for c in default.candidates] == [c["id"] for c in TINY["zoo"]["candidates"]]
    for a, b in zip(serial.candidates, default.candidates):
        assert a.weights_sha256 == b.weights_sha256, a.id
        assert (tmp_path / "serial" / f"{a.id}.safetensors").read_bytes() == \
            (tmp_path / "default" / f"{b.id}.safetensors").read_bytes()
    assert "2 at a time" in caplog.text
    total = len(p.candidates) * p.steps
    assert f"of {total} steps" in caplog.text
    assert (tmp_path / "zoo.json").is_file()
    # What a worker sends while it trains: its candidate's steps, as they are done (here every step of 8).
    import queue

    from graftline.train import pretrain

    reports: queue.Queue = queue.Queue()
    pretrain._init_worker(reports)
    try:
        pretrain._train_candidate(p, 0, sources / "data/demo/sources", tmp_path, sources, 1, False)
    finally:
        pretrain._PROGRESS = None
        pretrain._SOURCES.clear()
        torch.set_num_threads(before)
    assert [reports.get_nowait() for _ in range(reports.qsize())] == [(0, k) for k in range(1, p.steps + 1)]


def test_a_failing_candidate_fails_the_parallel_zoo_and_leaves_no_zoo(sources: Path, tmp_path: Path, one_thread):
    rendered, sources = sources, tmp_path / "sources"
    shutil.copytree(rendered / "data/demo/sources", sources)
    (sources / "letters.npz").write_bytes((sources / "letters.npz").read_bytes()[:500])
    p = ZooParams(**{**TINY["zoo"], "workers": 2})  # the letters candidate fails in its worker: a truncated file
    with pytest.raises(Exception, match="(?i)zip|file"):
        run_zoo(p, sources, tmp_path / "out" / "zoo", tmp_path)
    assert not any((tmp_path / "out").iterdir())  # neither the zoo nor its temporary directory


def test_a_missing_source_domain_is_named_before_any_training(sources: Path, tmp_path: Path):
    rendered, sources = sources, tmp_path / "sources"
    sources.mkdir()
    (sources / "digits.npz").write_bytes((rendered / "data/demo/sources/digits.npz").read_bytes())
    with pytest.raises(DataError, match=r"no letters\.npz, random_labels\.npz .*dvc repro demo"):
        run_zoo(ZooParams(**TINY["zoo"]), sources, tmp_path / "zoo", rendered)
    assert not (tmp_path / "zoo").exists()

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


def test_parallel_zoo_trains_the_same_models_as_serial(tiny_git_repo: Path, tmp_path: Path, one_thread):
    p = ZooParams(**TINY["zoo"])
    sources = tiny_git_repo / "data/demo/sources"
    serial = run_zoo(p.model_copy(update={"workers": 1}), sources, tmp_path / "serial", tiny_git_repo)
    parallel = run_zoo(p.model_copy(update={"workers": 2}), sources, tmp_path / "parallel", tiny_git_repo,
                       tmp_path / "zoo.json")
    # One torch thread per candidate either way: each model depends on its seed and params, not on the process.
    assert [c.id for c in parallel.candidates] == [c["id"] for c in TINY["zoo"]["candidates"]]
    for a, b in zip(serial.candidates, parallel.candidates):
        assert a.weights_sha256 == b.weights_sha256, a.id
        sa, sb = weights.load(tmp_path / "serial" / a.id)[0].state_dict(), \
            weights.load(tmp_path / "parallel" / b.id)[0].state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert (tmp_path / "zoo.json").is_file()


def test_a_failing_candidate_fails_the_parallel_zoo_and_leaves_no_zoo(tiny_git_repo: Path, tmp_path: Path, one_thread):
    sources = tmp_path / "sources"
    shutil.copytree(tiny_git_repo / "data/demo/sources", sources)
    (sources / "letters.npz").write_bytes((sources / "letters.npz").read_bytes()[:500])
    p = ZooParams(**{**TINY["zoo"], "workers": 2})  # the letters candidate fails in its worker: a truncated file
    with pytest.raises(Exception, match="(?i)zip|file"):
        run_zoo(p, sources, tmp_path / "out" / "zoo", tmp_path)
    assert not any((tmp_path / "out").iterdir())  # neither the zoo nor its temporary directory


def test_a_missing_source_domain_is_named_before_any_training(tiny_git_repo: Path, tmp_path: Path):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "digits.npz").write_bytes((tiny_git_repo / "data/demo/sources/digits.npz").read_bytes())
    with pytest.raises(DataError, match=r"no letters\.npz, random_labels\.npz .*dvc repro demo"):
        run_zoo(ZooParams(**TINY["zoo"]), sources, tmp_path / "zoo", tiny_git_repo)
    assert not (tmp_path / "zoo").exists()

"""The finetune stage survives `kill -9` (bit-identical resume) and runs under torchrun (2 CPU processes, gloo)."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import BIN, TINY, deep_update, env, graftline, write_params
from tests.integration.conftest import copy_of

pytestmark = pytest.mark.slow  # subprocesses and torchrun

# Long enough that the kill lands at the first checkpoint (step 10) with most of the run still to come.
LONG = {"finetune": {"steps": 150, "batch_size": 16, "eval_every": 10, "warmup_steps": 5, "patience": 0}}  # no early stop


@pytest.fixture(scope="module")
def upstream(tiny_git_repo, tmp_path_factory) -> Path:
    """A tiny project with every stage before finetune done (real data, real tiny zoo): a copy of the session's."""
    p = copy_of(tiny_git_repo, tmp_path_factory.mktemp("resume") / "proj")
    shutil.rmtree(p / "checkpoints", ignore_errors=True)
    return p


def _env1() -> dict:
    e = env()
    e.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # same threads in every run: bit-identical CPU results
    return e


@pytest.mark.parametrize("augment", ["glyph", "photo"])  # every draw is seeded by (seed, step)
def test_kill_minus_9_then_rerun_ends_bit_identical(upstream: Path, augment: str):
    write_params(upstream, deep_update(TINY, deep_update(LONG, {"finetune": {"augment": augment}})))
    weights = upstream / "models/finetuned/seed-0/model.safetensors"
    ckpt = upstream / "checkpoints/finetune/seed-0/train.pt"

    subprocess.run([str(BIN / "graftline"), "finetune"], cwd=upstream, env=_env1(), check=True,
                   capture_output=True)
    reference = weights.read_bytes()
    assert not ckpt.exists()  # a finished run clears its checkpoint
    shutil.rmtree(upstream / "models/finetuned")

    proc = subprocess.Popen([str(BIN / "graftline"), "finetune"], cwd=upstream, env=_env1(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert ckpt.exists() and not weights.exists()

    r = subprocess.run([str(BIN / "graftline"), "finetune"], cwd=upstream, env=_env1(), capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((upstream / ".graftline/timings/finetune/seed-0.json").read_text())  # run history
    assert 0 < summary["resumed_from_step"] < 150, summary
    assert "resuming from" in r.stderr
    assert weights.read_bytes() == reference  # bit for bit
    assert [row["step"] for row in _curve(upstream)] == list(range(10, 151, 10))  # the whole curve, once


def _curve(p: Path) -> list[dict]:
    import csv

    with open(p / "metrics/finetune/seed-0/plots/metrics/train_loss.tsv") as f:
        return [{"step": int(r["step"])} for r in csv.DictReader(f, delimiter="\t")]


def test_a_checkpoint_from_other_params_is_not_resumed(upstream: Path):
    write_params(upstream, deep_update(TINY, LONG))
    ckpt = upstream / "checkpoints/finetune/seed-0/train.pt"
    proc = subprocess.Popen([str(BIN / "graftline"), "finetune"], cwd=upstream, env=_env1(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not ckpt.exists() and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    write_params(upstream, deep_update(TINY, deep_update(LONG, {"finetune": {"steps": 40}})))
    r = graftline("finetune", cwd=upstream)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "another configuration" in r.stderr
    assert json.loads((upstream / ".graftline/timings/finetune/seed-0.json").read_text())["resumed_from_step"] == 0


def test_ddp_on_two_processes_gives_the_one_process_weights(upstream: Path):
    """Each process trains on its half of every global batch and DDP averages the gradients: with a model without
    BatchNorm (ConvNeXt: LayerNorm only) 2 processes must end where 1 process does, up to float summation order."""
    from safetensors.torch import load_file

    over = {"select": {"candidates": ["zoo:test_convnext.digits"]},
            "finetune": {"strategy": "lp_ft", "probe_steps": 4, "steps": 8}}
    write_params(upstream, deep_update(TINY, over))
    graftline("select", cwd=upstream, check=True)
    r = subprocess.run([str(BIN / "graftline"), "finetune"], cwd=upstream, env=_env1(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    one = load_file(upstream / "models/finetuned/seed-0/model.safetensors")
    r = subprocess.run([str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", "--no-python",
                        str(BIN / "graftline"), "finetune"], cwd=upstream, env=_env1(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    summary = json.loads((upstream / "metrics/finetune/seed-0.json").read_text())
    assert summary["processes"] == 2 and summary["steps_done"] == 8
    assert summary["strategy"] == "lp_ft" and summary["probe"]["steps"] == 4
    assert r.stdout.count("finetune [lp_ft") == 1  # rank 0 reports, once
    two = load_file(upstream / "models/finetuned/seed-0/model.safetensors")
    assert one.keys() == two.keys()
    start = load_file(upstream / "models/zoo/test_convnext.digits.safetensors")
    moved = [k for k in one if k in start and one[k].shape == start[k].shape and not torch.equal(one[k], start[k])]
    assert moved  # the comparison is about trained weights, not untouched ones
    for k in one:
        assert torch.allclose(one[k], two[k], rtol=1e-4, atol=1e-5), (k, (one[k] - two[k]).abs().max().item())

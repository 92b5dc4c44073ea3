"""Ctrl-C and SIGTERM in the long stages: the command stops where it is with one line (where, how to resume),
exits 130/143, publishes nothing half-written, and the next run resumes: training from its checkpoint (bit-identical
to an uninterrupted run), the zoo from the candidates it finished. Plus two kill -9 points of the fault harness
(benchmarks/faults.py) on the shared tiny project, and two stage commands on one project at once."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from benchmarks.faults import POINTS, digest, trial
from tests.conftest import BIN, TINY, deep_update, env, write_params
from tests.integration.conftest import copy_of

LONG = {"finetune": {"steps": 150, "batch_size": 16, "eval_every": 10, "warmup_steps": 5}}


def _env1() -> dict:
    return {**env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _start(cmd: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "graftline"), *cmd], cwd=cwd, env=_env1(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path_glob: str, root: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300  # a hang guard, not a timing assertion
    while not any(root.glob(path_glob)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the stage ended before it could be interrupted"


def _tree(p: Path) -> dict[str, str]:
    return {q.relative_to(p).as_posix(): hashlib.sha256(q.read_bytes()).hexdigest() for q in sorted(p.rglob("*"))
            if q.is_file()} if p.exists() else {}


@pytest.fixture()
def proj(tiny_build: Path, tmp_path: Path) -> Path:
    p = copy_of(tiny_build, tmp_path / "proj")
    shutil.rmtree(p / "checkpoints", ignore_errors=True)
    return p


def test_sigterm_in_finetune_stops_with_one_line_and_the_next_run_resumes_bit_identical(proj: Path):
    write_params(proj, deep_update(TINY, LONG))
    weights = proj / "models/finetuned/seed-0/model.safetensors"
    subprocess.run([str(BIN / "graftline"), "finetune", "--seed", "0"], cwd=proj, env=_env1(), check=True,
                   capture_output=True)
    reference, published = weights.read_bytes(), _tree(proj / "models/finetuned")

    proc = _start(["finetune", "--seed", "0"], proj)
    _wait_for("checkpoints/finetune/seed-0/train.pt", proj, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("graftline finetune: stopped by SIGTERM") and "resumes from its last checkpoint" in line
    assert "`dvc repro`" in line and "Traceback" not in err
    assert _tree(proj / "models/finetuned") == published  # the previous model, untouched: nothing half-written

    r = subprocess.run([str(BIN / "graftline"), "finetune", "--seed", "0"], cwd=proj, env=_env1(),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resuming from" in r.stderr
    assert weights.read_bytes() == reference  # bit for bit


def test_ctrl_c_in_the_zoo_keeps_finished_candidates_and_the_next_run_resumes_from_them(proj: Path):
    zoo = deep_update(TINY, {"zoo": {"steps": 60, "workers": 2}})
    write_params(proj, zoo)
    subprocess.run([str(BIN / "graftline"), "zoo"], cwd=proj, env=_env1(), check=True, capture_output=True)
    reference = _tree(proj / "models/zoo")
    shutil.rmtree(proj / "models/zoo")

    proc = subprocess.Popen([str(BIN / "graftline"), "zoo"], cwd=proj, env=_env1(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for(".cache/zoo/*/[0-9]*/row.json", proj, proc)  # a kept candidate, not one being written
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "graftline zoo: stopped by SIGINT" in err and "kept in .cache/zoo" in err and "Traceback" not in err
    assert not (proj / "models/zoo").exists()  # nothing published

    r = subprocess.run([str(BIN / "graftline"), "zoo"], cwd=proj, env=_env1(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    timings = json.loads((proj / ".graftline/timings/zoo.json").read_text())  # (a worker's log line is not shown)
    assert any(t.get("resumed") for k, t in timings.items() if k != "seconds"), timings
    assert _tree(proj / "models/zoo") == reference  # the resumed zoo is the uninterrupted one, byte for byte
    assert not (proj / ".cache/zoo").exists()  # published: a forced re-run trains afresh


def test_two_stage_commands_at_once_the_second_stops_with_one_sentence(proj: Path):
    write_params(proj, deep_update(TINY, LONG))
    first = _start(["finetune", "--seed", "0"], proj)
    _wait_for("checkpoints/finetune/seed-0/train.pt", proj, first)
    second = subprocess.run([str(BIN / "graftline"), "finetune", "--seed", "1"], cwd=proj, env=_env1(),
                            capture_output=True, text=True)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
    assert second.returncode == 75, second.stderr
    assert "`graftline finetune` (pid " in second.stderr and len(second.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("point", [p for p in POINTS if p.what in (
    "validate's publish to data/prepared", "export's ONNX write")], ids=lambda p: p.stage)
def test_kill_minus_9_of_dvc_repro_then_repro_ends_as_an_uninterrupted_run(tiny_build: Path, tmp_path: Path, point):
    base = copy_of(tiny_build, tmp_path / "base")
    r = trial(base, tmp_path / "trial", point, digest(base), {})
    assert r["reached"] and r["survived"], r

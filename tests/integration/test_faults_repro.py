"""A second ``dvc repro`` writes the same dvc.lock, byte for byte, in another directory: no timing, cache state,
date, absolute path or dict order in any file DVC hashes (the timings live in .graftline/timings, undeclared)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import TINY, deep_update, dvc, write_params
from tests.integration.conftest import copy_of, ok


def test_a_forced_second_repro_elsewhere_writes_the_same_dvc_lock(tiny_build: Path, tmp_path: Path):
    # With export.int8: auto, INT8 ships only when it measured faster on this machine: a timing, which flipped
    # between two runs of a fresh-clone `make test`. export.int8: on quantises, calibrates and ships it whenever it
    # is as accurate, whatever the clock says, so the INT8 file is compared byte for byte too (docs/faults.md).
    # The first run re-runs only export and what follows; the second re-runs every stage.
    base = copy_of(tiny_build, tmp_path / "here" / "proj")
    write_params(base, deep_update(TINY, {"export": {"int8": "on"}}))
    ok(dvc("repro", cwd=base))
    first = (base / "dvc.lock").read_bytes()
    p = copy_of(base, tmp_path / "elsewhere" / "proj")  # another absolute path: none may leak into an output
    ok(dvc("repro", "--force", cwd=p))  # every stage runs again, none is restored from the run cache
    second = (p / "dvc.lock").read_bytes()
    assert second == first, "dvc.lock differs after a second full run"
    exported = json.loads((p / "metrics/export.json").read_text())["int8"]
    assert exported["kept"] == (p / "models/export/model.int8.onnx").is_file(), exported
    assert exported["kept"] or "loses" in exported["reason"], exported  # on: only accuracy can refuse it
    assert ok(dvc("status", cwd=p)).strip() == "Data and pipelines are up to date."
    # the timings went to the undeclared observability files, one per stage run
    timings = json.loads((p / ".graftline/timings/zoo.json").read_text())
    assert all(v["train_seconds"] >= 0 for k, v in timings.items() if k != "seconds")
    assert (p / ".graftline/timings/finetune/seed-0.json").is_file()
    assert "timings" not in first.decode() and "metrics/zoo.json" not in first.decode()

"""Shared test helpers: the repository root, running the real CLI, and tiny real projects."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

os.environ.update({"DVC_NO_ANALYTICS": "1", "GX_ANALYTICS_ENABLED": "false",
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test`: two workers on two cores, so one torch thread each (and in
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # every stage they start): 2 threads each oversubscribe the cores

# Small enough to run every stage in seconds, real all the way through.
TINY = {
    "demo": {"source_per_class": 30, "letters_per_class": 10},
    "zoo": {"steps": 8, "batch_size": 32, "candidates": [
        {"id": "test_resnet.digits", "architecture": "test_resnet", "domain": "digits"},
        {"id": "test_convnext.digits", "architecture": "test_convnext", "domain": "digits"},
        {"id": "test_convnext.letters", "architecture": "test_convnext", "domain": "letters"},
        {"id": "test_resnet.random_labels", "architecture": "test_resnet", "domain": "random_labels"},
    ]},
    "finetune": {"steps": 6, "batch_size": 16, "eval_every": 3, "warmup_steps": 1},
    "check": {"max_ntg": 1.0, "seeds": [0, 1]},
}


def toy_bars(n: int = 60, seed: int = 0):
    """A tiny 3-class image task: a bright bar whose position is the class ([n, 1, 32, 32] in [0, 1], labels)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.rand(n, 1, 32, 32, generator=g) * 0.2
    for c in range(3):
        x[y == c, :, :, c * 10: c * 10 + 6] += 0.8
    return x, y


def env() -> dict:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e["PYTHONUNBUFFERED"] = "1"
    return e


def graftline(*args: str, cwd: Path, check: bool = False) -> subprocess.CompletedProcess:
    """Run the installed ``graftline`` CLI for real."""
    proc = subprocess.run([str(BIN / "graftline"), *args], cwd=cwd, capture_output=True, text=True, env=env())
    if check and proc.returncode != 0:
        raise AssertionError(f"graftline {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def cli(*args: str, cwd: Path, check: bool = False) -> subprocess.CompletedProcess:
    """``graftline -C cwd <args>`` in this process (no interpreter start, no re-import of torch or GX): the exit
    code the console script would return, and what it printed on stdout and stderr."""
    import contextlib
    import io

    from graftline import cli as cli_module

    out, err, argv = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = ["graftline", "-C", str(cwd), *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli_module.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    proc = subprocess.CompletedProcess([*sys.argv, *args], code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"graftline {' '.join(args)} exited {code}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, capture_output=True, text=True, env=env())


def deep_update(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def write_params(project: Path, overrides: dict | None = None) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params = deep_update(params, overrides or {})
    if "looks" not in (overrides or {}).get("check", {}):  # dvc.yaml's chain of looks follows the seeds given
        seeds = params["check"]["seeds"]
        params["check"]["looks"] = {str(s): prev for prev, s in zip(seeds, seeds[1:])}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def make_project(path: Path, overrides: dict | None = None, dvc_init: bool = True) -> Path:
    """A real project directory: the repo's dvc.yaml, params.yaml (with overrides) and the src tree DVC hashes."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dvc.yaml", path / "dvc.yaml")
    shutil.copytree(REPO / "src", path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    write_params(path, overrides)
    if dvc_init:
        r = dvc("init", "--no-scm", "-q", cwd=path)
        assert r.returncode == 0, r.stderr
        dvc("config", "core.analytics", "false", cwd=path)
    return path


def pytest_collection_modifyitems(config, items):
    """Everything under tests/integration is slow (real pipelines): `make test-fast` (-m "not slow") skips it.

    Under pytest-xdist (`make test`: two workers, ``--dist loadfile --no-loadscope-reorder``) a module is the unit
    of work (its module-scoped fixtures are built once), handed to whichever worker is free, in this order: the
    longest modules first, so that the two workers finish together (docs/development.md has the durations). The tiny
    project is reproduced once for all workers (tests/integration/conftest.py)."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST)))  # stable: the rest keep their order


# The modules that take longest alone (docs/development.md), longest first; the Prefect-server test's worker builds
# the tiny project meanwhile the other starts the own-images tutorial, which makes its own project (no wait).
# (measured in a fresh-clone `make test`, docs/development.md: production loop 192 s, dvc_pipeline 130 s, ...)
LONGEST = ("test_prefect_server.py", "test_own_images.py", "test_production_loop.py", "test_dvc_pipeline.py",
           "test_dvc_registry.py", "test_resume_ddp.py", "test_faults_repro.py", "test_flow.py",
           "test_adapt_pipeline.py", "test_faults_signals.py", "test_fashion_example.py", "test_sequential_seeds.py",
           "test_select.py")

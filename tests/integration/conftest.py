"""Integration fixtures: one tiny git + DVC project reproduced once per test run (for all pytest-xdist workers
together), a copy of it per worker shared by the tests that only read it or leave it as they found it (the DVC
registry tests, the run report in Chromium), and a private copy for each test that changes it (``copy_of``: the DVC
pipeline, resume/DDP, selection, adapt and Prefect tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, TINY, dvc, env, make_project


def git(*args: str, cwd: Path) -> str:
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env())
    assert r.returncode == 0, f"git {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _build_tiny(p: Path) -> Path:
    """The tiny git + DVC project, reproduced (``dvc repro`` from scratch, about a minute)."""
    make_project(p, TINY, dvc_init=False)
    shutil.copy(REPO / ".gitignore", p / ".gitignore")
    git("init", "-q", "-b", "main", cwd=p)
    git("config", "user.email", "ci@example.com", cwd=p)
    git("config", "user.name", "ci", cwd=p)
    ok(dvc("init", "-q", cwd=p))
    ok(dvc("config", "core.analytics", "false", cwd=p))
    git("add", "-A", cwd=p)
    git("commit", "-qm", "tiny project", cwd=p)  # dvclive (the curves) needs a commit to start from
    (p.parent / "first-repro.log").write_text(ok(dvc("repro", cwd=p)))  # what the first run ran, for the tests
    git("add", "-A", cwd=p)
    git("commit", "-qm", "tiny run", cwd=p)
    assert "metrics/run.json" in git("ls-files", cwd=p)  # the judged numbers are versioned with the code
    return p


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory) -> Path:
    """The reproduced tiny project, built once per test run however many pytest-xdist workers there are
    (xdist's documented recipe: the first worker to take the lock in the run's shared temporary directory builds
    it, the others wait, then find it built). Read-only: tests get a copy (``tiny_git_repo``, ``copy_of``)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # no xdist: this process is the only one
        return _build_tiny(tmp_path_factory.mktemp("tiny-build") / "proj")
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / "tiny-build"  # one per run, above every worker's own basetemp
    done = shared / "built"
    with FileLock(str(shared) + ".lock"):
        if not done.is_file():
            shutil.rmtree(shared, ignore_errors=True)  # a build that failed half-way in another worker
            shared.mkdir()
            _build_tiny(shared / "proj")
            done.write_text("ok")
    return shared / "proj"


@pytest.fixture(scope="session")
def tiny_git_repo(tiny_build: Path, tmp_path_factory) -> Path:
    """This worker's copy of the reproduced tiny project, shared by its tests that only read it or leave it as they
    found it; ``<it>.parent / "first-repro.log"`` is what the first ``dvc repro`` printed."""
    p = copy_of(tiny_build, tmp_path_factory.mktemp("git") / "proj")
    shutil.copy(tiny_build.parent / "first-repro.log", p.parent / "first-repro.log")
    return p


def copy_of(project: Path, dest: Path) -> Path:
    """A private copy of a reproduced project (git, DVC cache and outputs: DVC sees it up to date), for a test that
    changes what it works on; copying costs a second, reproducing the tiny pipeline about a minute."""
    shutil.copytree(project, dest, symlinks=True)
    return dest

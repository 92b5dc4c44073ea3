"""Integration fixtures: one tiny git + DVC project reproduced once per session, shared by the tests that only read
it or leave it as they found it (the DVC registry tests, the run report in Chromium) and copied by those that change
it (``copy_of``: the DVC pipeline, resume/DDP and selection tests)."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def tiny_git_repo(tmp_path_factory) -> Path:
    p = make_project(tmp_path_factory.mktemp("git") / "proj", TINY, dvc_init=False)
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


def copy_of(project: Path, dest: Path) -> Path:
    """A private copy of a reproduced project (git, DVC cache and outputs: DVC sees it up to date), for a test that
    changes what it works on; copying costs a second, reproducing the tiny pipeline about a minute."""
    shutil.copytree(project, dest, symlinks=True)
    return dest

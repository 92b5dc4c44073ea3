"""The stage runner's fault handling (graftline/cli_run.py): one writer per project, leftovers swept, a full disk
and a read-only project as one paragraph, a read-only data root accepted."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import threading
import time
from pathlib import Path

import pytest

from graftline.cli_run import project_lock
from graftline.project import Project
from graftline.atomic import leftovers
from tests.conftest import BIN, cli, env, write_params
from tests.unit.test_manifest import make_folder

FOLDER = {"data": {"source": "folder", "root": "images", "train_per_class": None, "val_per_class": None,
                   "val_fraction": 0.25, "test_fraction": 0.25}}


def _project(tmp_path: Path) -> Path:
    make_folder(tmp_path / "images", per_class=4)
    write_params(tmp_path, FOLDER)
    return tmp_path


def test_a_second_stage_on_a_busy_project_stops_with_one_sentence(tmp_path):
    p = _project(tmp_path)
    with project_lock(Project(p).lock, "zoo"):
        r = cli("prepare", cwd=p)
    assert r.returncode == 75, r.stderr
    assert "`graftline zoo` (pid " in r.stderr and "is running on this project" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (p / "data" / "staged").exists()  # it did not start
    assert cli("prepare", cwd=p).returncode == 0  # the lock went with its holder


def test_with_lock_wait_the_second_queues_behind_the_first(tmp_path, monkeypatch):
    p = _project(tmp_path)
    held, release = threading.Event(), threading.Event()

    def first():
        with project_lock(Project(p).lock, "zoo"):
            held.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    held.wait(10)
    threading.Timer(1.0, release.set).start()
    monkeypatch.setenv("GRAFTLINE_LOCK_WAIT", "60")
    r = cli("prepare", cwd=p)
    t.join()
    assert r.returncode == 0, r.stderr
    assert release.is_set()  # it ran only after the first let go


def test_an_interrupted_write_leaves_nothing_a_stage_does_not_sweep(tmp_path):
    p = _project(tmp_path)
    (p / "metrics").mkdir()
    (p / "metrics" / ".check.json.k3j2.tmp").write_text("{")  # write_bytes_atomic's, killed mid-write
    (p / "data" / ".prepared.tmp").mkdir(parents=True)  # atomic_dir's, killed before the swap
    (p / "models" / ".zoo.old").mkdir(parents=True)
    user = p / "images" / ".draft.tmp"  # the user's own data: never touched
    user.write_text("mine")
    assert len(leftovers(p)) == 3
    assert cli("prepare", cwd=p).returncode == 0
    assert leftovers(p) == [] and user.read_text() == "mine"


def _limited(limit: int):
    def pre():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def test_a_full_disk_is_one_paragraph_nothing_is_published_and_the_next_run_succeeds(tmp_path):
    """RLIMIT_FSIZE (``ulimit -f``) stands in for a full disk: the write fails with EFBIG, as ENOSPC would."""
    p = _project(tmp_path)
    r = subprocess.run([str(BIN / "graftline"), "prepare"], cwd=p, capture_output=True, text=True, env=env(),
                       preexec_fn=_limited(2000))
    assert r.returncode == 2, r.stderr
    assert "file size limit" in r.stderr and "Nothing was published" in r.stderr and "Traceback" not in r.stderr
    assert "graftline prepare: error: " in r.stderr and str(p) in r.stderr  # names the path
    assert not (p / "data" / "staged").exists() and leftovers(p) == []
    r = subprocess.run([str(BIN / "graftline"), "prepare"], cwd=p, capture_output=True, text=True, env=env())
    assert r.returncode == 0, r.stderr
    assert (p / "data" / "staged" / "meta.json").is_file()


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` read-only for this process: chmod for a user; for root (whom modes do not stop) a read-only bind
    mount; the test is skipped where neither can be done."""
    if os.geteuid() != 0:
        modes = {q: q.stat().st_mode for q in [path, *path.rglob("*")]}
        for q in modes:
            q.chmod(modes[q] & ~0o222)
        try:
            yield
        finally:
            for q, m in modes.items():
                q.chmod(m)
        return
    bind = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot make {path} read-only as root here (mount: {bind.stderr.decode().strip()})")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], capture_output=True)
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only: {ro.stderr.decode().strip()}")
        yield
    finally:
        for _ in range(20):  # a process that just exited may still hold the mount for a moment
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)


def test_a_read_only_data_root_works_and_nothing_is_written_there(tmp_path):
    p = _project(tmp_path)
    before = sorted((q.relative_to(p / "images"), q.stat().st_mtime_ns) for q in (p / "images").rglob("*"))
    with read_only(p / "images"):
        r = cli("prepare", cwd=p)
    assert r.returncode == 0, r.stderr
    assert sorted((q.relative_to(p / "images"), q.stat().st_mtime_ns) for q in (p / "images").rglob("*")) == before


def test_a_read_only_project_is_a_clear_error(tmp_path):
    p = _project(tmp_path / "proj")
    with read_only(p):
        r = subprocess.run([str(BIN / "graftline"), "prepare"], cwd=p, capture_output=True, text=True, env=env())
    assert r.returncode == 2, r.stderr
    assert "cannot write there" in r.stderr and "the project may not" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

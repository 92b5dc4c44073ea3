"""How every stage command runs, once for all of them: one writer per project, Ctrl-C and SIGTERM, a full or
read-only disk.

- **One writer.** A stage command holds ``.graftline/lock`` (``fcntl.flock``: the kernel drops it when the process
  dies, even by ``kill -9``; the file names the holder). A second stage command on the same project stops at once
  with one sentence naming the one running (``GRAFTLINE_LOCK_WAIT=<seconds>`` waits for it instead).
- **Leftovers.** Holding the lock, it removes what an interrupted write left (``project.sweep_leftovers``).
- **Interruptions.** SIGINT and SIGTERM stop the stage where it is (each is raised as ``KeyboardInterrupt`` in the
  main thread; the zoo's worker processes get SIGTERM): the atomic writes publish nothing half-written, and the
  command prints one line, where it stopped and how to resume, and exits 130 (SIGINT) or 143 (SIGTERM).
- **Resources.** ENOSPC, EDQUOT, EFBIG (``ulimit -f``: SIGXFSZ is ignored so that the write fails instead of the
  process dying), EROFS, EACCES and EPERM become one paragraph naming the path and, for a full disk, the space.
- **Timings.** The wall time of the run goes to ``.graftline/timings/<stage>.json`` (never into a DVC output).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Iterator

from graftline.errors import GraftlineError, ProjectBusy, ResourceError

STAGES = ("params-check", "demo", "prepare", "validate", "zoo", "select", "finetune", "baseline", "check", "export",
          "report")
# What an interrupted stage keeps, so that the next run resumes instead of starting over.
KEPT = {"zoo": "the candidates already trained are kept in .cache/zoo",
        "select": "the features already extracted are kept in the feature cache",
        "finetune": "training resumes from its last checkpoint (checkpoints/finetune)",
        "baseline": "training resumes from its last checkpoint (checkpoints/baseline)",
        "prepare": "the per-image facts already decoded are kept in their cache"}
_received: list[int] = []  # the signals that stopped this run
_owner: list[int] = []  # the pid that installed the handlers: a forked worker (facts' pool) inherits them


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread (a KeyboardInterrupt, so every ``finally`` and click's own
    handling see it as Ctrl-C)."""


def root_of(argv: list[str]) -> Path:
    """The project directory the command will run in (``-C``/``--project``), before typer parses it."""
    for i, a in enumerate(argv):
        if a in ("-C", "--project") and i + 1 < len(argv):
            return Path(argv[i + 1]).resolve()
        if a.startswith("--project="):
            return Path(a.split("=", 1)[1]).resolve()
    return Path(".").resolve()


def unless_interrupted(code: int) -> int:
    """``code``, or KeyboardInterrupt when a signal stopped the stage (typer turns Ctrl-C into a plain exit 130)."""
    if _received:
        raise Interrupted(signal.Signals(_received[0]).name)
    return code


def signal_code() -> int:
    """The exit code of an interrupted run: 128 + the signal (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + (_received[0] if _received else signal.SIGINT)


def _on_signal(signum: int, _frame) -> None:
    if _owner and os.getpid() != _owner[0]:  # a forked worker: die as the signal says (Pool.terminate relies on it)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    first = not _received
    _received.append(signum)
    if first:
        import multiprocessing

        for child in multiprocessing.active_children():  # the zoo's workers: a terminal's Ctrl-C reaches them,
            with contextlib.suppress(OSError):           # a `kill <pid>` does not
                os.kill(child.pid, signal.SIGTERM)
        raise Interrupted(signal.Signals(signum).name)


def _child_defaults() -> None:
    """In a forked child (facts' pool) the signals act as before: Pool.terminate's SIGTERM must end a worker."""
    if _owner and os.getpid() != _owner[0]:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)


os.register_at_fork(after_in_child=_child_defaults)


def _holder(path: Path) -> str:
    try:
        h = json.loads(path.read_text())
        return (f"`graftline {h['command']}` (pid {h['pid']}, started "
                f"{time.strftime('%H:%M:%S', time.localtime(h['started']))})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another graftline stage"


@contextlib.contextmanager
def project_lock(lock: Path, command: str) -> Iterator[None]:
    """Hold ``lock`` for this process (see the module doc); under torchrun only rank 0 takes it."""
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        wait = float(os.environ.get("GRAFTLINE_LOCK_WAIT", "0") or 0)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ProjectBusy(
                        f"{lock.parent.parent}: {_holder(lock)} is running on this project; one stage writes to a "
                        f"project at a time. Wait for it (or set GRAFTLINE_LOCK_WAIT=<seconds> to queue behind it), "
                        f"then run `graftline {command}` again.") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"command": command, "pid": os.getpid(), "started": time.time()}).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def stage_run(command: str, args: list[str], root: Path) -> Iterator[None]:
    """Run one stage command under the project lock, with the signal handlers and the timings file."""
    from graftline.project import Project, record_timings
    from graftline.atomic import sweep_leftovers

    proj = Project(root)
    key = command + "".join(f"/seed-{args[i + 1]}" for i, a in enumerate(args[:-1]) if a == "--seed")
    if command in ("finetune", "baseline") and "/" not in key:
        key = None  # the default seed: the stage records it under its own seed (record_timings in the stage)
    _owner[:] = [os.getpid()]
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    old_xfsz = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _received.clear()
    t0 = time.perf_counter()
    try:
        with project_lock(proj.lock, command):
            sweep_leftovers(root)
            if key:
                with contextlib.suppress(OSError):
                    proj.timings(key).unlink()
            yield
            if key:
                record_timings(proj, key, {"seconds": round(time.perf_counter() - t0, 2)})
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        signal.signal(signal.SIGXFSZ, old_xfsz)


def interrupted_line(command: str, last: str | None) -> str:
    """One line: which signal, where the stage was (its last log message), what is kept, how to resume."""
    name = signal.Signals(_received[0]).name if _received else "SIGINT"
    where = f" during {last.strip()!r}" if last else ""
    kept = KEPT.get(command, "its finished outputs are kept")
    return (f"graftline {command}: stopped by {name}{where}; nothing half-written was published and {kept}: run "
            f"`dvc repro` (or `graftline {command}`) again to resume.")


NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def resource_error(exc: OSError, root: Path) -> ResourceError | None:
    """A full disk, a file size limit or a read-only/forbidden path as one paragraph; None for other OSErrors."""
    if exc.errno not in NO_SPACE + READ_ONLY:
        return None
    path = Path(exc.filename) if exc.filename else getattr(exc, "graftline_path", None) or root
    if exc.errno in READ_ONLY:
        return ResourceError(
            f"{path}: cannot write there ({os.strerror(exc.errno)}). A stage writes its outputs, caches and "
            f"timings inside the project ({root}); the data root may be read-only, the project may not. Make the "
            "project writable (or copy it somewhere writable) and run again.")
    needed = getattr(exc, "graftline_bytes", None)
    free = None
    for p in (path, *path.parents):
        if p.exists():
            free = shutil.disk_usage(p).free
            break
    import resource

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    what = f"the disk is full ({_mb(free)} free)" if free is not None else "the disk is full"
    if exc.errno == errno.EFBIG or limit != resource.RLIM_INFINITY:
        what = f"the file size limit (`ulimit -f`: {_mb(limit)} per file) was reached, or {what}"
    return ResourceError(
        f"{path}: {what} while writing{f' {_mb(needed)}' if needed else ''}. Nothing was published: the stage's "
        "outputs are as they were. Free at least "
        f"{_mb(needed) if needed else 'the size of that output'} (more for the stages after it), then run again.")


def _mb(n: int | None) -> str:
    if n is None:
        return "?"
    return next(f"{n / f:.1f} {u}" for f, u in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "bytes")) if n >= f or f == 1)


def describe(exc: BaseException, root: Path) -> GraftlineError | None:
    """The GraftlineError an OSError stands for (walking ``__cause__``/``__context__``), or None."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and (err := resource_error(seen, root)) is not None:
            return err
        if type(seen).__module__ == "sqlite3" and (code := _sqlite_errno(str(seen))):  # the facts cache's SQLite
            from graftline.data.prepare import facts_cache

            return resource_error(OSError(code, os.strerror(code), str(facts_cache(root))), root)
        seen = seen.__cause__ or seen.__context__
    return None


def _sqlite_errno(message: str) -> int | None:
    """SQLite reports a full disk or file size limit as "disk I/O error"/"database or disk is full" and a read-only
    file as "attempt to write a readonly database"/"unable to open database file"."""
    m = message.lower()
    if "disk is full" in m or "disk i/o error" in m:
        return errno.ENOSPC
    if "readonly database" in m or "unable to open database" in m:
        return errno.EROFS
    return None


def timings_line(proj) -> str:
    """Every stage's last wall time, from .graftline/timings (what `graftline report` prints beside the page)."""
    times = []
    for path in sorted(proj.state.glob("timings/**/*.json")):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            t = json.loads(path.read_text())
            if (s := t.get("seconds", t.get("train_seconds"))) is not None:
                times.append(f"{path.relative_to(proj.state / 'timings').with_suffix('').as_posix()} {s:.1f} s")
    return "stage times (.graftline/timings): " + (", ".join(times) if times else "none recorded yet")

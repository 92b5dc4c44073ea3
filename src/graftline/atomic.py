"""Atomic writes, and what an interrupted one leaves behind.

Nothing is half-written on failure: files go to a temporary sibling first, then are renamed into place
(``write_bytes_atomic``, ``atomic_dir``). A process killed mid-write leaves that sibling; the stage runner
(cli_run) sweeps such leftovers from the project's output folders at the next stage start (``sweep_leftovers``),
so the temporaries' names and the sweep's patterns are defined side by side, here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return o.as_posix()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _umask() -> int:
    os.umask(mask := os.umask(0))
    return mask


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a published model should read like any file
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # for the CLI's full-disk paragraph: which output, how many bytes
            exc.graftline_path, exc.graftline_bytes = path, len(data)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode())


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``path`` whole, on failure it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not getattr(exc, "graftline_path", None):
            exc.graftline_path = path  # a library's write (torch.onnx) names no file: name the output
        raise
    old = path.with_name(f".{path.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


# What an interrupted write leaves: write_bytes_atomic's .<name>.<random>.tmp, atomic_dir's .<name>.tmp/.old.
_LEFTOVER = (".*.tmp", ".*.old")
# Never inside the user's data (data/raw, or a root elsewhere): only the folders graftline writes, and data/ itself.
_SWEPT = ("data/staged", "data/prepared", "data/demo", "models", "reports", "metrics", ".graftline", ".cache",
          "checkpoints")


def leftovers(root: Path) -> list[Path]:
    """Temporary files and directories an interrupted graftline write left in the project's output folders."""
    odd = lambda name: any(Path(name).match(p) for p in _LEFTOVER)  # noqa: E731
    found = [e for e in (root / "data").iterdir() if odd(e.name)] if (root / "data").is_dir() else []
    for dirpath, dirnames, filenames in (w for top in _SWEPT for w in os.walk(root / top)):
        found += [Path(dirpath) / n for n in [*dirnames, *filenames] if odd(n)]
        dirnames[:] = [d for d in dirnames if not odd(d)]
    return sorted(found)


def sweep_leftovers(root: Path) -> list[Path]:
    """Remove :func:`leftovers` (call with the project lock held: a running writer's temporaries look the same)."""
    gone = leftovers(root)
    for p in gone:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    return gone

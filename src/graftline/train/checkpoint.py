"""Training checkpoints: one file per run, rewritten atomically at every epoch end.

A ``kill -9`` can land anywhere, so the file is either the previous complete checkpoint or the new complete one
(``write_bytes_atomic``: temporary sibling, then rename). Each checkpoint carries a *fingerprint* of everything the
run depends on (params, data hash, starting weights); a checkpoint from another configuration is ignored, not
resumed, so editing params.yaml after a crash starts afresh instead of silently mixing two runs.
"""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path

import torch

from graftline.atomic import write_bytes_atomic
from graftline.train import distributed as dist

FORMAT = 2  # 2: stateless data order (the step is the whole sampler state)
log = logging.getLogger(__name__)


def save(path: Path, fingerprint: str, state: dict) -> None:
    """Write ``state`` (tensors, dicts, lists) to ``path`` atomically; only the main process writes."""
    if dist.is_main():
        buf = io.BytesIO()
        torch.save({"format": FORMAT, "fingerprint": fingerprint, **state}, buf)
        write_bytes_atomic(path, buf.getvalue())
    dist.barrier()


def load(path: Path, fingerprint: str) -> dict | None:
    """The checkpoint at ``path`` if it exists and belongs to this run (same fingerprint), else None."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a checkpoint we cannot read is not worth failing the run for
        log.warning("ignoring unreadable checkpoint %s (%s: %s); starting afresh", path, type(exc).__name__, exc)
        return None
    if state.get("format") != FORMAT or state.get("fingerprint") != fingerprint:
        log.info("%s belongs to another configuration (params, data or starting weights changed); starting afresh",
                 path)
        return None
    if dist.is_main():
        log.info("resuming from %s at step %d", path, state["step"])
    return state


def clear(directory: Path) -> None:
    """Remove a finished run's checkpoints (only the main process)."""
    if dist.is_main():
        shutil.rmtree(directory, ignore_errors=True)

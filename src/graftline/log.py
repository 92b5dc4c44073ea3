"""Logging for the command line: stage messages on stderr, one line each, library loggers kept quiet."""

from __future__ import annotations

import logging
import os
import sys


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest and in-process callers redirect it)."""

    last: str | None = None  # the last message shown: where a stage was when a signal stopped it (cli_run)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        _Stderr.last = record.getMessage()
        super().emit(record)


def last_message() -> str | None:
    """The last message graftline logged on stderr in this process (None before the first)."""
    return _Stderr.last


def setup_logging(level: str | None = None) -> None:
    """``GRAFTLINE_LOG_LEVEL`` (default INFO) for graftline's own loggers; others at WARNING."""
    lvl = (level or os.environ.get("GRAFTLINE_LOG_LEVEL", "INFO")).upper()
    root = logging.getLogger()
    if not any(isinstance(h, _Stderr) for h in root.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("graftline").setLevel(lvl)


def write_status(command: str, code: int, outcome: str) -> None:
    """With ``GRAFTLINE_STATUS_FILE`` set (graftline_flows.dvc), record how the command ended (exit code, outcome) as
    JSON: the orchestrator reads graftline's own exit code there, not in DVC's log; no file = DVC did not run it."""
    from pathlib import Path

    from graftline.atomic import write_json_atomic

    if path := os.environ.get("GRAFTLINE_STATUS_FILE"):
        write_json_atomic(Path(path), {"command": command, "exit_code": code, "outcome": outcome})

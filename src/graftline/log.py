"""Logging for the command line: stage messages on stderr, one line each, library loggers kept quiet."""

from __future__ import annotations

import logging
import os
import sys


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest and in-process callers redirect it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


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

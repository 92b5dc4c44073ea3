"""Logging for the command line: stage messages on stderr, one line each, library loggers kept quiet."""

from __future__ import annotations

import logging
import os


def setup_logging(level: str | None = None) -> None:
    """``GRAFTLINE_LOG_LEVEL`` (default INFO) for graftline's own loggers; others at WARNING."""
    lvl = (level or os.environ.get("GRAFTLINE_LOG_LEVEL", "INFO")).upper()
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("graftline").setLevel(lvl)

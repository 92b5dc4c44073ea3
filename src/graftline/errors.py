"""The errors a user can act on.

Every error the CLI can raise on purpose is a ``GraftlineError``: it carries one paragraph that names the file,
the rule that failed and the fix, and the exit code the CLI returns (see ``cli.py``):

* 1 — a gate failed (validation rule, negative transfer, export parity): the stage wrote its report first;
* 2 — bad input or configuration (params.yaml, a missing file, an unloadable candidate).
"""

from __future__ import annotations


class GraftlineError(Exception):
    """Base class: ``str(err)`` is the whole user-facing message."""

    exit_code = 2


class ConfigError(GraftlineError):
    """params.yaml (or a command-line option) is wrong: unknown key, wrong type, value out of range."""

    exit_code = 2


class DataError(GraftlineError):
    """The input data cannot be read as declared: missing root, bad CSV, path escaping the data root."""

    exit_code = 2


class ModelError(GraftlineError):
    """A model or candidate cannot be built or loaded."""

    exit_code = 2


class GateFailed(GraftlineError):
    """A quality gate failed. Raised only after the stage has written its report, so the user can read why."""

    exit_code = 1

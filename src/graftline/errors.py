"""The errors a user can act on.

Every error the CLI can raise on purpose is a ``GraftlineError``: it carries one paragraph that names the file,
the rule that failed and the fix, and the exit code the CLI returns (see ``cli.py``):

* 1 — a gate failed (validation rule, negative transfer, export parity): the stage wrote its report first;
* 2 — bad input or configuration (params.yaml, a missing file, an unloadable candidate), or a full disk / read-only
  project (``ResourceError``);
* 75 — another stage command is running on the project (``ProjectBusy``); 130/143 — stopped by SIGINT/SIGTERM.
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


class ResourceError(GraftlineError):
    """The machine refused a write: a full disk, a file size limit, a read-only or forbidden path (cli_run.py)."""

    exit_code = 2


class ProjectBusy(GraftlineError):
    """Another stage command holds the project's lock (.graftline/lock); exit 75, sysexits' EX_TEMPFAIL: try again."""

    exit_code = 75

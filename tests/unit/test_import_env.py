"""Importing graftline leaves the host's environment alone: the analytics switches (GX, DVC, Prefect's server, the
hub) are set by the entry points (``graftline``'s main, the Prefect flow), not by a library import. A notebook or a
service that imports graftline keeps the os.environ it had."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

from graftline import ANALYTICS_OFF, analytics_off
from tests.conftest import REPO

ENV_MUTATORS = {"setdefault", "update", "pop", "popitem", "clear", "__setitem__", "__delitem__"}


def _module_level_env_changes(tree: ast.Module) -> list[int]:
    """Line numbers of statements run on import (outside any def or class body) that change os.environ."""
    lines, todo = [], [s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    for stmt in todo:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                f = node.func
                if f.attr in ENV_MUTATORS and ast.unparse(f.value) in ("os.environ", "environ"):
                    lines.append(node.lineno)
                if f.attr == "putenv" and ast.unparse(f.value) == "os":
                    lines.append(node.lineno)
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                lines += [node.lineno for t in targets
                          if isinstance(t, ast.Subscript) and ast.unparse(t.value) in ("os.environ", "environ")]
    return lines


def test_no_module_changes_the_environment_on_import():
    found = [f"{p.relative_to(REPO)}:{n}" for p in sorted((REPO / "src").rglob("*.py"))
             for n in _module_level_env_changes(ast.parse(p.read_text()))]
    assert not found, f"os.environ changed at import (move it to an entry point): {found}"


def test_importing_the_library_and_the_flow_leaves_os_environ_as_it_was():
    # A fresh interpreter without the switches (the test process has them: tests/conftest.py), so a module that
    # set one on import would show up as a difference.
    code = ("import json, os; before = dict(os.environ)\n"
            "import graftline, graftline.cli, graftline.validate.suite, graftline_flows.pipeline\n"
            "after = dict(os.environ)\n"
            "print(json.dumps({k: [before.get(k), after.get(k)] for k in set(before) | set(after)"
            " if before.get(k) != after.get(k)}))")
    env = {k: v for k, v in os.environ.items() if k not in ANALYTICS_OFF}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {}


def test_the_entry_points_turn_analytics_off_but_keep_the_users_choice():
    env = {"DVC_NO_ANALYTICS": "0"}  # the user opted in to DVC's analytics
    analytics_off(env)
    assert env == {**ANALYTICS_OFF, "DVC_NO_ANALYTICS": "0"}
    main = ast.parse((REPO / "src/graftline/cli.py").read_text())
    calls = {ast.unparse(n.func) for f in main.body if isinstance(f, ast.FunctionDef) and f.name == "main"
             for n in ast.walk(f) if isinstance(n, ast.Call)}
    assert "analytics_off" in calls  # `graftline` (every DVC stage's command) sets them before running anything

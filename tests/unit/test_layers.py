"""The library's layers, enforced: no cycles, no upward imports, stages never import each other.

Bottom to top: base modules (config, errors, project, results, log) -> data -> models -> eval -> the stages
(validate, select, train, check, export, adapt, report) -> summary, scaffold -> cli. Every ``import graftline.X`` in
src/graftline, at any depth (a lazy import inside a function counts), is checked.

Above the library, in the same distribution: graftline_flows (Prefect + DVC), which drives the CLI through DVC and
reads back only the results it publishes. The library never imports it, Prefect or DVC, and no file of it (templates
included) holds a Prefect import line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

SRC = REPO / "src" / "graftline"
FLOWS = REPO / "src" / "graftline_flows"
# What graftline_flows may import from the library: the results its Prefect artifacts publish (report.py).
FLOWS_MAY_IMPORT = {"graftline.project", "graftline.results", "graftline.summary"}
PREFECT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+prefect[ \t.]|import[ \t]+prefect\b).*$", re.MULTILINE)
BASE = {"config", "errors", "project", "atomic", "results", "log", "lineage", "__init__"}
LEVEL = {"data": 1, "models": 2, "eval": 3}
STAGES = {"validate", "select", "train", "check", "export", "adapt", "report", "compare"}
TOP = {"summary": 5, "scaffold": 5, "cli_tools": 5.5, "cli_run": 5.5, "cli_adapt": 5.5, "cli_seq": 5.5, "cli_params": 5.5, "cli_weights": 5.5, "cli_compare": 5.5, "cli": 6}  # readers of every stage's results, then the command line


def level(unit: str) -> int:
    if unit in BASE:
        return 0
    if unit in LEVEL:
        return LEVEL[unit]
    if unit in STAGES:
        return 4
    if unit in TOP:
        return TOP[unit]
    raise AssertionError(f"src/graftline/{unit}: not placed in a layer; add it to tests/unit/test_layers.py")


def unit_of(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else rel[0][:-3]


def edges() -> list[tuple[str, str, str]]:
    """(importing unit, imported unit, file:line) for every graftline import."""
    out = []
    for f in sorted(SRC.rglob("*.py")):
        u = unit_of(f)
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.Import):
                mods = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom) and not n.level:
                mods = [n.module or ""]
            else:
                continue
            for m in mods:
                parts = m.split(".")
                if parts[0] == "graftline" and len(parts) > 1 and parts[1] != u:
                    out.append((u, parts[1], f"{f.relative_to(REPO)}:{n.lineno}"))
    return out


def test_every_import_goes_down_and_stages_never_import_each_other():
    bad = []
    for a, b, where in edges():
        la, lb = level(a), level(b)
        if lb > la or (la == lb and la > 0 and a != b):
            bad.append(f"{where}: {a} (layer {la}) imports {b} (layer {lb})")
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_no_cycles_between_subpackages():
    import networkx as nx

    cycles = sorted(" -> ".join(c) for c in nx.simple_cycles(nx.DiGraph([(a, b) for a, b, _ in edges()])))
    assert not cycles, cycles  # of any length: a 3-cycle inside layer 0 passes the layer test


def imports(root: Path) -> list[tuple[str, str]]:
    """(file:line, absolute module) for every import in the .py files under root, at any depth."""
    out = []
    for f in sorted(root.rglob("*.py")):
        for n in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else \
                [n.module or ""] if isinstance(n, ast.ImportFrom) and not n.level else []
            out += [(f"{f.relative_to(REPO)}:{n.lineno}", m) for m in names]
    return out


def test_library_never_imports_prefect_or_dvc():
    """Nor graftline_flows: the orchestration sits above the library, never inside it."""
    bad = [f"{where} imports {m}" for where, m in imports(SRC)
           if m.split(".")[0] in ("prefect", "dvc", "graftline_flows")]
    assert not bad, bad


def test_no_library_file_holds_a_prefect_import_line():
    """Templates included: what graftline init writes imports graftline_flows, never Prefect itself."""
    bad = []
    for f in sorted(SRC.rglob("*")):
        if not f.is_file() or "__pycache__" in f.parts:
            continue
        try:
            text = f.read_text()
        except UnicodeDecodeError:
            continue
        bad += [f"{f.relative_to(REPO)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0).strip()}"
                for m in PREFECT_LINE.finditer(text)]
    assert not bad, bad


def test_flows_import_only_the_results_they_publish():
    bad = [f"{where} imports {m}" for where, m in imports(FLOWS)
           if m.split(".")[0] == "graftline" and m not in FLOWS_MAY_IMPORT]
    assert not bad, f"graftline_flows may import only {sorted(FLOWS_MAY_IMPORT)} of the library: {bad}"
    assert FLOWS_MAY_IMPORT <= {m for _, m in imports(FLOWS)}  # the list stays what the flows actually use


@pytest.fixture
def tree_copy(tmp_path, monkeypatch) -> Path:
    """A copy of src/graftline and src/graftline_flows that the checks read instead of the real tree: a probe file
    written into the real tree would be seen (then vanish) under a test running beside this one (make test runs two
    workers), and would be copied into other tests' projects."""
    import shutil

    for pkg in ("graftline", "graftline_flows"):
        shutil.copytree(REPO / "src" / pkg, tmp_path / "src" / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    g = globals()
    monkeypatch.setitem(g, "REPO", tmp_path)
    monkeypatch.setitem(g, "SRC", tmp_path / "src" / "graftline")
    monkeypatch.setitem(g, "FLOWS", tmp_path / "src" / "graftline_flows")
    return tmp_path / "src"


def test_the_cycle_check_finds_a_three_cycle_in_layer_0(tree_copy):
    test_no_cycles_between_subpackages()
    for a, b in (("errors", "project"), ("project", "results")):
        (tree_copy / "graftline" / f"{a}.py").write_text(f"import graftline.{b}  # noqa\n")
    (tree_copy / "graftline" / "results.py").write_text("import graftline.errors  # noqa\n")
    with pytest.raises(AssertionError, match="errors|project|results") as exc:
        test_no_cycles_between_subpackages()
    assert all(u in str(exc.value) for u in ("errors", "project", "results"))


@pytest.mark.parametrize("importer,imported", [("train", "check"), ("data", "validate"), ("models", "train")])
def test_the_contract_catches_a_violation(tree_copy, importer, imported):
    """The check itself must fail on a bad import (a test that cannot fail proves nothing)."""
    test_every_import_goes_down_and_stages_never_import_each_other()  # the copy passes as it is
    (tree_copy / "graftline" / importer / "_layer_probe.py").write_text(f"from graftline.{imported} import x  # noqa\n")
    with pytest.raises(AssertionError):
        test_every_import_goes_down_and_stages_never_import_each_other()


@pytest.mark.parametrize("probe,line,check", [
    ("graftline/scaffold/_layer_probe.py", "import graftline_flows.pipeline  # noqa\n",
     test_library_never_imports_prefect_or_dvc),
    ("graftline/train/_layer_probe.py", "def f():\n    from prefect import flow  # noqa\n",
     test_library_never_imports_prefect_or_dvc),
    ("graftline/scaffold/templates/_layer_probe.txt", "x = 1\n    from prefect import flow, task\n",
     test_no_library_file_holds_a_prefect_import_line),
    ("graftline/scaffold/templates/_layer_probe.tmpl", "import prefect.artifacts\n",
     test_no_library_file_holds_a_prefect_import_line),
    ("graftline_flows/_layer_probe.py", "from graftline.train import x  # noqa\n",
     test_flows_import_only_the_results_they_publish),
    ("graftline_flows/_layer_probe.py", "import graftline  # noqa\n", test_flows_import_only_the_results_they_publish),
])
def test_the_boundary_checks_catch_a_violation(tree_copy, probe, line, check):
    """Each boundary check fails on a file that crosses it (a test that cannot fail proves nothing)."""
    check()  # the copy passes as it is
    (tree_copy / probe).write_text(line)
    with pytest.raises(AssertionError):
        check()

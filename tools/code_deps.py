"""Each DVC stage's code deps = the import closure of its command within src/graftline.

A stage's cmd is ``graftline <command>``. Its code is ``cli.py`` (the command function and the helpers it calls
live there) plus every graftline module reachable by imports from it: the imports of the command function, then,
recursively, every ``import graftline...`` / ``from graftline... import ...`` (relative ones too) anywhere in each
reached module — lazy imports inside functions included, because they may run — and the ``__init__.py`` of every
package on the way (Python executes them). Static and conservative: a module imported by a command the stage does
not run (another cli command, or ``cli_tools``'s init/predict) is not included.

    python -m tools.code_deps            # print each stage's closure
    python -m tools.code_deps --check    # exit 1 naming any stage whose dvc.yaml deps miss a module it imports
    python -m tools.code_deps --write    # rewrite the src/graftline deps of every stage in dvc.yaml (comments kept)
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PKG = "graftline"


def module_file(name: str, src: Path = SRC) -> Path | None:
    base = src.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(nodes, current: str, is_pkg: bool, src: Path = SRC) -> set[str]:
    """graftline modules imported by these AST nodes (``from pkg import sub`` counts ``pkg.sub`` if it is one)."""
    out: set[str] = set()
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, ast.Import):
                out |= {a.name for a in n.names if a.name.split(".")[0] == PKG}
            elif isinstance(n, ast.ImportFrom):
                if n.level:
                    base = current.split(".") if is_pkg else current.split(".")[:-1]
                    base = base[: len(base) - (n.level - 1)]
                    mod = ".".join(base + ([n.module] if n.module else []))
                else:
                    mod = n.module or ""
                if mod.split(".")[0] != PKG:
                    continue
                out.add(mod)
                out |= {f"{mod}.{a.name}" for a in n.names if module_file(f"{mod}.{a.name}", src)}
    return {m for m in out if module_file(m, src)}


def closure(start: set[str], src: Path = SRC, opaque: frozenset[str] = frozenset()) -> set[Path]:
    """Files of every module reachable from ``start``, with their packages' ``__init__.py``. An ``opaque`` module's
    file is included but its imports are not followed (cli.py: only the running command's imports count)."""
    todo, seen = list(start), set(opaque)
    while todo:
        mod = todo.pop()
        parents = [".".join(mod.split(".")[:i]) for i in range(1, mod.count(".") + 1)]
        for m in [mod, *parents]:
            if m in seen:
                continue
            seen.add(m)
            f = module_file(m, src)
            tree = ast.parse(f.read_text(), str(f))
            todo += sorted(imports_in([tree], m, f.name == "__init__.py", src) - seen)
    return {module_file(m, src) for m in seen}


def command_closure(command: str, src: Path = SRC) -> set[Path]:
    """cli.py + the closure of what the ``graftline <command>`` function (and cli helpers it calls) imports."""
    cli = src / PKG / "cli.py"
    tree = ast.parse(cli.read_text())
    funcs = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    cmd = next((f for f in funcs.values() if f.name == command or any(
        isinstance(d, ast.Call) and any(isinstance(a, ast.Constant) and a.value == command for a in d.args)
        for d in f.decorator_list)), None)
    if cmd is None:
        raise SystemExit(f"{cli}: no command function for `graftline {command}`")
    called = {n.func.id for n in ast.walk(cmd) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    helpers = [funcs[c] for c in called if c in funcs and c.startswith("_")]
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    start = imports_in([cmd, *helpers, *top], f"{PKG}.cli", False, src) | {PKG}
    # cli_tools holds the commands that are never stages (init, predict): it runs at import (the app registers
    # them) but the code inside its command functions never runs in a stage, so its lazy imports are not followed
    return closure(start, src, frozenset({f"{PKG}.cli", f"{PKG}.cli_tools"}))


def covered(path: Path, deps: list[str], root: Path = REPO) -> bool:
    rel = path.relative_to(root).as_posix()
    return any(rel == d.rstrip("/") or rel.startswith(d.rstrip("/") + "/") for d in deps)


def compact(files: set[Path], root: Path = REPO) -> list[str]:
    """Relative paths; a folder stands for its files when every module in it (no subfolders) is in the closure."""
    out, by_dir = [], {}
    for f in files:
        by_dir.setdefault(f.parent, set()).add(f)
    for d, fs in sorted(by_dir.items()):
        every = set(d.glob("*.py"))
        if d.name != PKG and fs == every and not [p for p in d.iterdir() if p.is_dir() and p.name != "__pycache__"]:
            out.append(d.relative_to(root).as_posix())
        else:
            out += sorted(f.relative_to(root).as_posix() for f in fs)
    return sorted(out)


def body(stage: dict) -> dict:
    """The stage definition itself (a ``foreach`` stage keeps it under ``do``)."""
    return stage["do"] if "do" in stage else stage


def stage_commands(dvc_yaml: dict) -> dict[str, str]:
    return {name: body(s)["cmd"].split()[1] for name, s in dvc_yaml["stages"].items()
            if isinstance(body(s).get("cmd"), str) and body(s)["cmd"].split()[:1] == ["graftline"]}


def _load(path: Path):
    from ruamel.yaml import YAML

    y = YAML()
    y.preserve_quotes, y.width = True, 120
    y.indent(mapping=2, sequence=4, offset=2)
    return y, y.load(path.read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--dvc-yaml", type=Path, default=REPO / "dvc.yaml")
    args = ap.parse_args(argv)
    y, doc = _load(args.dvc_yaml)
    bad = []
    for stage, command in stage_commands(doc).items():
        files = command_closure(command)
        spec = body(doc["stages"][stage])
        deps = [str(d) for d in spec.get("deps", [])]
        if args.write:
            seq = spec["deps"]  # edited in place: ruamel keeps the comments of the entries that stay
            for i in reversed(range(len(seq))):
                if str(seq[i]).startswith("src/"):
                    del seq[i]
            seq.extend(compact(files))
        elif args.check:
            bad += [f"{stage}: {f.relative_to(REPO)}" for f in sorted(files) if not covered(f, deps)]
        else:
            print(f"{stage}: {' '.join(compact(files))}")
    if args.write:
        with args.dvc_yaml.open("w") as fh:
            y.dump(doc, fh)
    if bad:
        print("dvc.yaml misses code its stages import (python -m tools.code_deps --write):\n  " + "\n  ".join(bad),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

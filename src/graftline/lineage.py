"""Code lineage: each pipeline stage's code is the import closure of its library entry modules, hashed.

``graftline params-check`` (the DAG's first stage, deps: the whole params.yaml and the graftline package) writes
``.graftline/code/<stage>.json`` for every stage: the sha256 of every module in the closure of the modules that
stage runs, in the graftline that is INSTALLED (the package this module belongs to). Each stage depends on its own
stamp, so:

- editing a module re-runs exactly the stages whose closure holds it (the stamps of the others are rewritten
  byte for byte, and DVC sees no change);
- the CLI (cli.py, cli_adapt.py, cli_tools.py) is not in any closure: a command only loads params, calls the
  stage's ``run_*`` function and prints, so editing a message re-runs nothing;
- the closure depends on the mode: in adapt mode (``adapt.method`` other than none) the finetune/baseline commands
  run graftline.adapt, otherwise graftline.train.finetune, so editing adapt/dann.py re-runs only adapt arms;
- an init project gets the same stamps from the installed package: upgrading graftline re-runs what changed.

Static and conservative: every ``import graftline...`` in a reached module counts, lazy ones inside functions
too (they may run), plus the ``__init__.py`` of every package on the way. Layer 0: it reads the source text and
imports no stage.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

PKG = "graftline"
PKG_DIR = Path(__file__).resolve().parent
STAMP_DIR = Path(".graftline") / "code"

# The library modules each stage's command runs. A trailing ".*" means every module of that package (a stage that
# is a package: validate, select, check, export, report). Supervised vs adapt mode: see ``entry_modules``.
ENTRY: dict[str, tuple[str, ...]] = {
    "demo": ("graftline.data.demo",),
    "prepare": ("graftline.data.prepare",),
    "validate": ("graftline.validate.*",),
    "zoo": ("graftline.train.pretrain",),
    "select": ("graftline.select.*",),
    "finetune": ("graftline.train.finetune",),
    "baseline": ("graftline.train.finetune",),
    "look-first": ("graftline.check.look",),  # the sequential design's looks (check/look.py)
    "look": ("graftline.check.look",),
    "check": ("graftline.check.*",),
    "export": ("graftline.export.*",),
    "compare": ("graftline.compare.*",),
    "report": ("graftline.report.*",),
}
ADAPT_ENTRY = ("graftline.adapt.*",)  # finetune/baseline in adapt mode: the adapted and source-only arms
ADAPT_STAGES = ("finetune", "baseline")


def entry_modules(stage: str, adapt_method: str = "none") -> tuple[str, ...]:
    if stage in ADAPT_STAGES and adapt_method != "none":
        return ADAPT_ENTRY
    return ENTRY[stage]


def module_file(name: str, pkg_dir: Path = PKG_DIR) -> Path | None:
    parts = name.split(".")
    if parts[0] != PKG:
        return None
    base = pkg_dir.joinpath(*parts[1:])
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def imports_in(tree: ast.AST, current: str, is_pkg: bool, pkg_dir: Path = PKG_DIR) -> set[str]:
    """graftline modules imported anywhere in ``tree`` (``from pkg import sub`` counts ``pkg.sub`` if it is one)."""
    out: set[str] = set()
    for n in ast.walk(tree):
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
            out |= {f"{mod}.{a.name}" for a in n.names if module_file(f"{mod}.{a.name}", pkg_dir)}
    return {m for m in out if module_file(m, pkg_dir)}


def _expand(entries: tuple[str, ...], pkg_dir: Path) -> set[str]:
    out = set()
    for e in entries:
        if e.endswith(".*"):
            pkg = e[:-2]
            d = pkg_dir.joinpath(*pkg.split(".")[1:])
            out |= {f"{pkg}.{f.stem}" if f.stem != "__init__" else pkg for f in d.glob("*.py")}
        else:
            out.add(e)
    missing = sorted(m for m in out if module_file(m, pkg_dir) is None)
    if missing:
        raise LookupError(f"graftline.lineage: entry modules not found in {pkg_dir}: {', '.join(missing)}")
    return out


def closure(entries: tuple[str, ...], pkg_dir: Path = PKG_DIR) -> set[Path]:
    """Files of every module reachable from ``entries``, with their packages' ``__init__.py``."""
    # config too: the CLI hands the stage its params through it, so its defaults and validators shape every run
    todo, seen = sorted(_expand(entries, pkg_dir)) + [PKG, f"{PKG}.config"], set()
    while todo:
        mod = todo.pop()
        parents = [".".join(mod.split(".")[:i]) for i in range(1, mod.count(".") + 1)]
        for m in [mod, *parents]:
            if m in seen:
                continue
            seen.add(m)
            todo += sorted(_imports_of(m, module_file(m, pkg_dir), pkg_dir) - seen)
    return {module_file(m, pkg_dir) for m in seen}


_PARSED: dict[tuple[str, str, bytes], frozenset[str]] = {}


def _imports_of(mod: str, f: Path, pkg_dir: Path) -> frozenset[str]:
    """``imports_in`` of one module file, parsed once per content (every stage's closure shares the modules)."""
    data = f.read_bytes()
    key = (mod, str(pkg_dir), data)
    if key not in _PARSED:
        tree = ast.parse(data.decode("utf-8"), str(f))
        _PARSED[key] = frozenset(imports_in(tree, mod, f.name == "__init__.py", pkg_dir))
    return _PARSED[key]


def stamp(stage: str, adapt_method: str = "none", pkg_dir: Path = PKG_DIR) -> dict:
    """What ``.graftline/code/<stage>.json`` holds: the mode and the sha256 of each module the stage runs.

    No version string: a release that changes no module of a stage re-runs nothing of it (exact lineage)."""
    files = closure(entry_modules(stage, adapt_method), pkg_dir)
    mode = "adapt" if stage in ADAPT_STAGES and adapt_method != "none" else "default"
    return {"stage": stage, "mode": mode, "modules": {
        f.relative_to(pkg_dir.parent).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(files)}}


def write_stamps(root: Path, adapt_method: str, stages: list[str] | None = None, pkg_dir: Path = PKG_DIR
                 ) -> dict[str, bool]:
    """Write every stage's stamp under ``root``; return which ones changed (unchanged files are not touched)."""
    from graftline.atomic import write_bytes_atomic

    changed = {}
    for stage in stages or list(ENTRY):
        text = (json.dumps(stamp(stage, adapt_method, pkg_dir), indent=1, sort_keys=True) + "\n").encode()
        path = root / STAMP_DIR / f"{stage}.json"
        changed[stage] = not path.is_file() or path.read_bytes() != text
        if changed[stage]:
            write_bytes_atomic(path, text)
    return changed


def check_declared_files(root: Path, reference_profile: str | None) -> None:
    """A file a stage reads that only params can name must be in that stage's deps: DVC cannot interpolate a null
    key, so the validate stage declares ``validate.reference_profile`` only once a project sets it."""
    import yaml

    from graftline.errors import ConfigError

    if not reference_profile or not (root / "dvc.yaml").is_file():
        return
    stages = (yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}).get("stages", {})
    deps = [str(d) for d in (stages.get("validate") or {}).get("deps", [])]
    if Path(reference_profile).as_posix() not in {Path(d).as_posix() for d in deps}:
        raise ConfigError(
            f"{root / 'dvc.yaml'}: validate.reference_profile is {reference_profile!r} but the validate stage does "
            "not list it in deps, so DVC would not re-validate when the reference changes. Add "
            f"`- {reference_profile}` under stages.validate.deps in dvc.yaml (or set validate.reference_profile: "
            "null).")

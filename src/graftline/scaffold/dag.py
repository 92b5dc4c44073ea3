"""The pipeline's DAG, from one text: scaffold/templates/dvc.yaml.tmpl.

The repository's own dvc.yaml is this template rendered for the demo (``render_dag(demo=True)``: the demo and zoo
stages kept, code read from src/graftline); ``graftline init`` renders it for a project on the installed package
(the demo blocks dropped unless ``--with-demo-zoo``, code read from the installed graftline). tests/unit/test_code_deps.py
fails when the committed dvc.yaml is not the rendering, so the two cannot drift. Blocks are whole lines between
``{{#demo}}`` and ``{{/demo}}``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

REPO_CODE_ROOT = "src/graftline"
REPO_MADE_BY = "the demo's; `make deps` writes it from src/graftline/scaffold/templates/dvc.yaml.tmpl"
INIT_MADE_BY = "made by `graftline init` from graftline's scaffold/templates/dvc.yaml.tmpl"


def template() -> str:
    return resources.files("graftline.scaffold").joinpath("templates", "dvc.yaml.tmpl").read_text()


def installed_code_root() -> str:
    """What an init project's params-check stage depends on for the installed graftline, so that upgrading it
    re-stamps the code (and re-runs the stages whose code changed): the wheel's RECORD (pip writes the sha256 of
    every installed file there; it changes exactly on an install), else, for an editable install, the package
    folder (DVC ignores no __pycache__ outside the project: the first run of a module may write one)."""
    from importlib.metadata import PackageNotFoundError, distribution

    import graftline

    pkg = Path(graftline.__file__).resolve().parent
    try:
        dist = distribution("graftline")
    except PackageNotFoundError:
        return pkg.as_posix()
    record = next((f for f in dist.files or [] if f.name == "RECORD"), None)
    if record is not None:
        path = Path(str(dist.locate_file(record))).resolve()
        if (path.parent.parent / "graftline").resolve() == pkg:  # a wheel installed beside it, not an editable one
            return path.as_posix()
    return pkg.as_posix()


def render_dag(demo: bool, code_root: str = REPO_CODE_ROOT, made_by: str = REPO_MADE_BY) -> str:
    out, keep = [], True
    for line in template().splitlines(keepends=True):
        tag = line.strip()
        if tag in ("{{#demo}}", "{{/demo}}"):
            keep = demo if tag == "{{#demo}}" else True
            continue
        if keep:
            out.append(line)
    return "".join(out).replace("{{code_root}}", code_root).replace("{{made_by}}", made_by)

"""``graftline init``: a new project around a team's own images, running on the installed package.

Writes dvc.yaml, params.yaml, prefect.yaml (+ flows/pipeline.py), .gitignore and a README stub from the templates
beside this module, runs ``git init`` + ``dvc init``, and either copies the images into ``data/raw`` and tracks
them with ``dvc add`` or references them in place (``in_place``: an absolute ``data.root``, hashed by DVC as an
external dependency). Defaults are for real data: every label kept, near-duplicate distance 4 (photos), ``hub:``
or ``file:`` candidates; the demo and zoo stages only with ``with_demo_zoo``. The graftline repository itself stays
the demo.

flows/pipeline.py is the Prefect entrypoint of prefect.yaml and only re-exports ``graftline_flows.pipeline`` (the
per-stage flow, installed with graftline): byte for byte the repository's own flows/pipeline.py, so every project
runs the same flow. This module never imports graftline_flows or Prefect; it writes text.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from graftline.config.training import looks_text
from graftline.data.sources import IMAGE_SUFFIXES
from graftline.errors import ConfigError
from graftline.scaffold.budget import budget_for
from graftline.scaffold.checks import check_init_data, docs_link
from graftline.scaffold.dag import INIT_MADE_BY, installed_code_root, render_dag

log = logging.getLogger(__name__)

DEFAULT_CANDIDATES = ["hub:resnet18.a1_in1k", "hub:mobilenetv3_large_100.ra_in1k"]

DEMO_PARAMS = """demo:                      # the embedded default (stage `demo`): rendered source domains for the zoo
  seed: 0
  source_per_class: 1600
  letters_per_class: 400
  source_eval_fraction: 0.15
"""
ZOO_PARAMS = """
zoo:                       # stage `zoo`: source models pretrained on the demo's synthetic domains
  steps: 200
  candidates:
    - {id: resnet10t.digits, architecture: resnet10t, domain: digits}
    - {id: resnet10t.letters, architecture: resnet10t, domain: letters}
"""
def _template(name: str) -> str:
    return resources.files("graftline.scaffold").joinpath("templates", name).read_text()


def _fill(text: str, values: dict[str, str]) -> str:
    for k, v in values.items():
        text = text.replace("{{" + k + "}}", v)
    return text


def _run(cmd: list[str], cwd: Path) -> None:
    beside = Path(sys.executable).with_name(cmd[0])  # the dvc installed with this graftline, PATH or not
    cmd = [str(beside) if beside.is_file() else cmd[0], *cmd[1:]]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if proc.returncode:
        raise ConfigError(f"graftline init: `{' '.join(cmd)}` in {cwd} exited {proc.returncode}: "
                          f"{(proc.stderr or proc.stdout).strip()[-800:]}. Fix the cause and run init again in an "
                          "empty directory.")


def count_images(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _copy(src: Path, dst: Path) -> None:
    """A real copy, never hard links: `dvc add` moves the file into its cache and makes it read-only, which through
    a shared inode would change the user's originals. (--in-place avoids the copy.)"""
    shutil.copytree(src, dst, symlinks=False)


def init_project(directory: Path, *, images: Path | None = None, csv: Path | None = None, in_place: bool = False,
                 candidates: list[str] | None = None, with_demo_zoo: bool = False, steps: int | None = None,
                 seeds: int | None = None,
                 batch_size: int = 32, git: bool = True) -> dict:
    """Create the project; return what was made (root, data root, images, candidates, missing hub weights)."""

    if (images is None) == (csv is None):
        raise ConfigError("graftline init: give exactly one of --images FOLDER (laid out <class>/<image>) or "
                          "--csv FILE (columns path,label[,split], paths relative to the CSV's folder).")
    source_path = (images or csv).resolve()
    if images is not None and not source_path.is_dir():
        raise ConfigError(f"{source_path}: --images must be a folder laid out <class>/<image>.")
    if csv is not None and not source_path.is_file():
        raise ConfigError(f"{source_path}: --csv must be a CSV or parquet file with columns path,label[,split].")
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise ConfigError(f"{directory}: not empty. graftline init makes a new project; give a new or empty folder.")
    check_init_data(images, csv)  # refuse data that cannot train a classifier before anything is created
    directory.mkdir(parents=True, exist_ok=True)
    data_dir = source_path if images is not None else source_path.parent
    n_images = count_images(data_dir)
    if in_place:
        root = str(source_path)
    else:
        _copy(data_dir, directory / "data" / "raw")
        root = "data/raw" if images is not None else f"data/raw/{source_path.name}"
    cands = list(DEFAULT_CANDIDATES if candidates is None else candidates) + (["zoo:*"] if with_demo_zoo else [])
    b = budget_for(n_images, batch_size, steps, seeds)  # steps, eval interval and seeds from the folder's size
    values = {
        "name": directory.name, "source": "folder" if images is not None else "csv", "root": root,
        "candidates": "\n".join(f"    - {c!r}" if c.startswith(("hub:", "zoo:", "file:")) else f"    - {c}"
                                for c in cands),
        "steps": str(b.steps), "warmup_steps": str(b.warmup_steps),  # the validator: warmup below steps
        "batch_size": str(batch_size), "eval_every": str(b.eval_every),
        "demo_params": DEMO_PARAMS if with_demo_zoo else "", "zoo_params": ZOO_PARAMS if with_demo_zoo else "",
        "seeds": "[" + ", ".join(str(i) for i in range(b.seeds)) + "]", "min_seeds": str(b.min_seeds),
        "looks": looks_text(list(range(b.seeds))),
        "images": f"{n_images} images", "version": _version(), "prefect_version": _prefect_version(),
        "data_line": (f"referenced in place at {root} (not copied)" if in_place else
                      f"copied into data/raw and tracked by DVC (data/raw.dvc); add images, then `dvc add data/raw`"),
        "candidate_line": ", ".join(cands), "docs": docs_link(directory),
    }
    # Templates are named *.tmpl: a file called dvc.yaml anywhere in this repository would be read by DVC as a stage
    # file of the demo pipeline.
    # dvc.yaml: the one DAG text (scaffold/dag.py), the repository's own dvc.yaml rendered without the demo stages
    (directory / "dvc.yaml").write_text(render_dag(with_demo_zoo, installed_code_root(), INIT_MADE_BY))
    for name, target in [("params.yaml", "params.yaml"), ("gitignore", ".gitignore"),
                         ("README.md", "README.md"), ("prefect.yaml", "prefect.yaml"),
                         ("pipeline.py", "flows/pipeline.py")]:
        out = directory / target
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(_fill(_template(f"{name}.tmpl"), values))
    if git:
        _run(["git", "init", "-q"], directory)
        _run(["dvc", "init", "-q"], directory)
        _run(["dvc", "config", "core.analytics", "false"], directory)
        if not in_place:
            _run(["dvc", "add", "-q", "data/raw"], directory)
        _run(["git", "add", "-A"], directory)
        # A first commit: dvclive and `dvc exp` need one. An identity only when git has none configured.
        who = subprocess.run(["git", "config", "user.email"], cwd=directory, capture_output=True, text=True).stdout
        ident = [] if who.strip() else ["-c", "user.name=graftline init", "-c", "user.email=graftline@localhost"]
        _run(["git", *ident, "commit", "-qm", "graftline init: a project for my images"], directory)
    missing = missing_hub_weights(cands)
    return {"root": str(directory), "data_root": root, "images": n_images, "candidates": cands, "missing": missing}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("graftline")
    except PackageNotFoundError:
        return "(source tree)"


def _prefect_version() -> str:
    from importlib.metadata import version

    return version("prefect")


def missing_hub_weights(candidates: list[str]) -> list[str]:
    """The ``hub:`` candidates whose weights are not in the Hugging Face cache, each with what to put there."""
    from graftline.models.hub import hub_cache_hint, hub_weights_cached

    return [hub_cache_hint(c.removeprefix("hub:")) for c in candidates
            if isinstance(c, str) and c.startswith("hub:") and not hub_weights_cached(c.removeprefix("hub:"))]

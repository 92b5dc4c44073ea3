"""The commands that are not pipeline stages: ``init`` (a new project around your own images) and ``predict``
(serving the ONNX model). Registered on the app in ``cli.py``; kept apart so that the stages' code (which DVC hashes
as each stage's dependency) does not include them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def cli_exception_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(usage errors, aborts) of every click the app may raise: typer >= 0.29 vendors click as ``typer._click``,
    older typers raise the installed click's classes, so both are caught whichever version is installed."""
    import importlib

    usage, aborts = [], [typer.Abort] if hasattr(typer, "Abort") else []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        usage.append(mod.ClickException)
        if hasattr(mod, "Abort"):
            aborts.append(mod.Abort)
    return tuple(usage), tuple(aborts)


def usage_paragraph(exc: Exception, cmd: str) -> str:
    """A usage error as one paragraph: what is wrong, the command's usage line, where the help is."""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else " ".join(filter(None, ["graftline", cmd]))
    usage = ""
    if ctx is not None:
        usage = " ".join(ctx.get_usage().split())  # "Usage: graftline init [OPTIONS] DIRECTORY" on one line
    msg = " ".join(exc.format_message().split())
    return f"{path}: error: {msg.rstrip('.')}. {usage} (`{path} --help` lists the options).".replace("  ", " ")


def init(
    directory: Path = typer.Argument(..., help="The new project's folder (new or empty)."),
    images: Optional[Path] = typer.Option(None, "--images", help="Your images: a folder laid out <class>/<image>."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Or a CSV/parquet manifest path,label[,split]."),
    in_place: bool = typer.Option(False, "--in-place", help="Reference the images where they are (no copy, no "
                                  "dvc add)."),
    candidate: Optional[list[str]] = typer.Option(None, "--candidate", help="A source candidate (hub:<timm name> "
                                                  "or file:<path>); repeat for several. Default: two ImageNet CNNs if "
                                                  "the Hugging Face cache has them, else the demo zoo."),
    with_demo_zoo: bool = typer.Option(False, "--with-demo-zoo", help="Also the demo and zoo stages."),
    steps: Optional[int] = typer.Option(None, min=1, help="finetune.steps (default: 20 passes over the training "
                                        "images, 50-300: scaffold/budget.py)"),
    batch_size: int = typer.Option(32, min=1, help="finetune.batch_size"),
    seeds: Optional[int] = typer.Option(None, min=1, help="check.seeds = [0 .. N-1]: candidate paired runs per arm "
                                        "(default: 5 with >= 300 test images, else 3)"),
) -> None:
    """A new project around your own images: dvc.yaml, params.yaml, prefect.yaml, git + DVC, images tracked."""
    from graftline.scaffold import DEFAULT_CANDIDATES, init_project
    from graftline.scaffold.checks import candidates_here

    note = None
    if candidate is None:  # the defaults this machine has: cached ImageNet models, else the demo zoo
        candidate, with_demo_zoo, note = candidates_here(DEFAULT_CANDIDATES, with_demo_zoo)
    made = init_project(directory, images=images, csv=csv, in_place=in_place, candidates=candidate,
                        with_demo_zoo=with_demo_zoo, steps=steps, batch_size=batch_size, seeds=seeds)
    typer.echo(f"init: {made['root']}: {made['images']} images ({made['data_root']}), candidates "
               f"{', '.join(made['candidates'])}")
    if note:
        typer.echo(f"init: note: {note}", err=True)
    for hint in made["missing"]:
        typer.echo(f"init: warning: not in the Hugging Face cache: {hint}", err=True)
    typer.echo(f"next: cd {directory} && dvc repro && graftline summary")


def predict(
    ctx: typer.Context,
    images: list[Path] = typer.Argument(..., help="Image files, folders (recursive) or a CSV with a 'path' column."),
    model: Path = typer.Option(Path("models/export"), help="model.onnx, or the directory holding it."),
    top_k: int = typer.Option(1, min=1, help="How many classes to show per image."),
    fmt: str = typer.Option("text", "--format", help="text | json | csv"),
    batch_size: int = typer.Option(64, min=1, help="Images per onnxruntime call."),
) -> None:
    """Classify images with the exported ONNX model: onnxruntime, numpy and PIL only (torch is not imported)."""
    from graftline.export.predict import predict as run_predict
    from graftline.export.predict import render

    if fmt not in ("text", "json", "csv"):
        raise typer.BadParameter(f"must be text, json or csv, not {fmt!r}", param_hint="'--format'")
    from graftline.errors import DataError
    from graftline.export.predict import expand

    if not expand(images):
        raise DataError(f"no images to classify in {', '.join(map(str, images))} (looked for image files, recursively "
                        "in folders, or the 'path' column of a CSV). Fix: give image files or a folder that holds "
                        "them.")
    results = run_predict(model if model.is_absolute() else ctx.obj["root"] / model, images, top_k, batch_size)
    typer.echo(render(results, fmt))


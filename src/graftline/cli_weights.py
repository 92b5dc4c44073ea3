"""``graftline weights``: bring pretrained weights from elsewhere into graftline's saved-model form
(graftline.models.foreign), so that ``select.candidates`` takes them as ``file:<OUT>``. Registered on the app in
``cli.py``; kept apart from the stages' code (which DVC hashes as each stage's dependency)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Pretrained weights from other code bases into graftline saved models.")


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="The state dict: .pth/.pt/.bin (loaded weights-only) or .safetensors."),
    architecture: str = typer.Option(..., "--architecture", "-a", help="timm's name for the same network, whose "
                                     "tensors match the file's in count, shape and order (e.g. tf_efficientnet_lite0)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output stem: writes OUT.safetensors and OUT.json."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", min=0, help="0 drops the source head (a backbone); "
                                              "default: keep the file's head."),
    statistics_check: bool = typer.Option(True, "--statistics-check/--no-statistics-check", help="Refuse weights "
                                          "whose BatchNorm statistics do not fit real photos (catches most swapped "
                                          "same-shape tensors); turn off for weights trained on other images."),
) -> None:
    """Import a state dict whose names differ from timm's but whose tensors match it by position."""
    from graftline.models.foreign import import_weights

    card = import_weights(path, architecture, out, num_classes, statistics_check)
    head = f"{card.num_classes}{' ImageNet' if card.label_names else ''} classes" if card.num_classes else "no head"
    typer.echo(f"weights import: {path.name} -> {out}.safetensors as {architecture} ({head}), input "
               f"{'x'.join(map(str, card.preprocess.input_size))} {card.preprocess.interpolation} crop "
               f"{card.preprocess.crop_pct}, source sha256 {card.lineage.source_weights_sha256[:12]}; use it as select.candidates: file:{out}")

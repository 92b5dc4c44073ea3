"""What a training run is told (``Recipe``), what it may be hooked with (``Hooks``) and what it reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch


@dataclass(frozen=True)
class Recipe:
    """The hyper-parameters of one run (``fit``); everything that changes the weights is here."""

    steps: int
    batch_size: int
    lr: float
    weight_decay: float = 0.05
    warmup_steps: int = 0
    eval_every: int = 50  # steps per epoch: evaluation, checkpoint, early stopping, unfreezing happen at epoch ends
    augment: str | bool = "glyph"  # data.augment policy: glyph | photo | none (True/False: glyph/none)
    seed: int = 0
    keep_best: bool = False  # end on the best validation checkpoint instead of the last step
    patience: int = 0  # early stopping: stop after this many epochs without a better val accuracy (0 = off)
    layer_decay: Optional[float] = None  # layer-wise lr decay over timm's layer groups (discriminative fine-tuning)
    device: str = "auto"  # auto = cuda when available
    amp: bool = True  # bfloat16 autocast, CUDA only
    channels_last: bool = True  # on CUDA, and on CPU for inputs of 64x64 px and more (eval/logits.py)


Penalty = Callable[[torch.nn.Module], torch.Tensor]


@dataclass
class Hooks:
    """How a strategy or a stage plugs into the loop without changing it.

    ``penalty(model)`` is added to the loss (L2-SP, EWC); ``on_epoch_start(model, epoch)`` may change which
    parameters train (progressive unfreezing); ``on_eval(row)`` gets one row per epoch (dvclive, curves) — on resume
    the restored rows first; ``checkpoint`` (+ ``fingerprint``) makes the run resumable; ``desc`` labels the
    progress bar (None: no bar).
    """

    penalty: Optional[Penalty] = None
    on_epoch_start: Optional[Callable[[torch.nn.Module, int], None]] = None
    on_eval: Optional[Callable[[dict], None]] = None
    checkpoint: Optional[Path] = None
    fingerprint: str = ""
    desc: Optional[str] = None


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_step: int = 0
    best_val_acc: Optional[float] = None
    final_val_acc: Optional[float] = None
    kept_step: int = 0  # the step whose weights the model ends with
    seconds: float = 0.0
    steps_done: int = 0
    resumed_from: int = 0  # the step a checkpoint restored (0 = a fresh start)
    stopped_early: bool = False

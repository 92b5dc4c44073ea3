"""params.yaml's training sections: ``finetune`` (the recipe of both arms) and ``check`` (the paired-seed verdict),
and the strategy and regulariser names they accept (train/strategies.py and train/regularizers.py register the code
under these names; tests/unit/test_strategies.py fails when the two disagree)."""

from __future__ import annotations

import warnings
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from graftline.config.base import Section

STRATEGIES = ("linear_probe", "full", "lp_ft", "discriminative", "progressive")
REGULARIZERS = ("none", "l2_sp", "ewc")
AUGMENT_POLICIES = ("glyph", "photo", "none")  # data/augment.py's POLICIES (tests/unit/test_augment.py checks)


class FinetuneParams(Section):
    steps: int = Field(300, ge=1, description="optimizer steps per arm (transfer and scratch get the same budget)")
    batch_size: int = Field(32, ge=1, description="images per step")
    lr: float = Field(0.0003, gt=0.0, le=10.0, description="peak learning rate (AdamW) of the transfer arm")
    weight_decay: float = Field(0.05, ge=0.0, description="AdamW weight decay (not on norms and biases)")
    warmup_steps: int = Field(20, ge=0, description="linear warmup steps before the cosine schedule")
    eval_every: int = Field(25, ge=1, description="steps per epoch: validation, checkpoint, early stopping")
    augment: Literal[AUGMENT_POLICIES] = Field(
        "glyph", description="training augmentation policy: glyph (small affine maps, for small glyph-like images), "
                             "photo (random resized crop, horizontal flip, light colour jitter), none; the old "
                             "true/false still read as glyph/none, with a warning")
    zero_init_head: bool = Field(True, description="start the classifier at zero in both arms (BiT)")
    keep_best: bool = Field(False, description="end on the best validation checkpoint (noisy with few val images)")
    patience: int = Field(3, ge=0, description="early stopping, both arms alike: epochs (eval_every steps each) "
                                               "without a better val accuracy before stopping; 0 = off")
    min_val_images: int = Field(50, ge=1, description="early stopping only with at least this many validation "
                                                      "images (fewer: the full budget, the stop would follow noise)")
    strategy: Literal[STRATEGIES] = "full"
    regularizer: Literal[REGULARIZERS] = "none"
    probe_steps: int = Field(200, ge=1, description="head-only steps on cached features (linear_probe, lp_ft)")
    probe_lr: float = Field(0.01, gt=0.0, le=10.0, description="learning rate of the linear probe")
    layer_decay: float = Field(0.7, gt=0.0, le=1.0, description="discriminative: lr ratio between adjacent groups")
    unfreeze_every: int = Field(1, ge=1, description="progressive: epochs between unfreezing two layer groups")
    l2_sp_alpha: float = Field(0.1, ge=0.0, description="L2-SP pull of the backbone towards the source weights")
    l2_sp_beta: float = Field(0.01, ge=0.0, description="L2-SP weight decay of the new head")
    ewc_lambda: float = Field(0.1, ge=0.0, description="EWC strength (Fisher scaled to mean 1)")
    ewc_samples: int = Field(200, ge=1, description="source images the EWC Fisher is averaged over")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto = cuda when available")
    amp: bool = Field(True, description="bfloat16 autocast on CUDA (ignored on CPU)")
    resume: bool = Field(True, description="continue from checkpoints/<arm>/ after a crash")

    @field_validator("augment", mode="before")
    @classmethod
    def _augment_bool(cls, v):
        if isinstance(v, bool):  # the bool of earlier releases: same behaviour, one warning to rename it
            warnings.warn(f"finetune.augment: {str(v).lower()} is deprecated; write "
                          f"augment: {'glyph' if v else 'none'} in params.yaml (same behaviour)", FutureWarning,
                          stacklevel=2)
            return "glyph" if v else "none"
        return v

    @model_validator(mode="after")
    def _warmup_inside_budget(self):
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be below steps ({self.steps}): the learning "
                             "rate would still be warming up when training ends; set finetune.warmup_steps to about "
                             f"a tenth of the steps (e.g. {self.steps // 10})")
        return self


class CheckParams(Section):
    """The transfer-vs-scratch verdict: paired seeds, an interval, three outcomes (check/verdict.py), taken
    sequentially (check/sequential.py): pairs are trained in the order of ``seeds`` until the verdict settles."""

    seeds: list[int] = Field([0, 1, 2, 3, 4], min_length=1, description="candidate training seeds, in order (at "
                             "most this many pairs are trained); each trains both arms (paired); the first seed's "
                             "transfer model is exported")
    min_seeds: int = Field(2, ge=1, description="pairs always trained before the first look; = len(seeds) turns the "
                                                "sequential design off (a fixed number of pairs)")
    looks: dict[str, int] = Field({"1": 0, "2": 1, "3": 2, "4": 3}, description="each seed after the first (quoted: "
                                  "DVC iterates string keys only) -> the seed before it in `seeds`: dvc.yaml's chain "
                                  "of looks (DVC cannot derive it from the list); must match `seeds`")
    scratch_lr: float = Field(0.001, gt=0.0, le=10.0, description="the from-scratch baseline's own learning rate")
    max_ntg: float = Field(0.0, ge=-1.0, le=1.0, description="negative transfer: the whole interval of "
                                                            "err(transfer) - err(scratch) above this")
    confidence: float = Field(0.95, ge=0.5, le=0.999, description="confidence of the verdict over all its looks "
                              "(each look's interval is at 1 - (1 - confidence) / looks: Bonferroni)")
    on_inconclusive: Literal["warn", "fail"] = "warn"
    max_forgetting: Optional[float] = Field(None, ge=0.0, le=1.0, description="also negative when the source task "
                                                                              "loses more accuracy than this")
    bootstrap: int = Field(2000, ge=200, le=100_000, description="bootstrap replicates of the interval")
    lr_search: str = Field("none: both rates as set in params.yaml", description="how finetune.lr and scratch_lr "
                           "were chosen (recorded in metrics/check.json): equal tuning effort for both arms")

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct, got {v}")
        return v

    @model_validator(mode="after")
    def _chain(self):
        if self.min_seeds > len(self.seeds):
            raise ValueError(f"min_seeds ({self.min_seeds}) is more than the {len(self.seeds)} seeds in check.seeds: "
                             f"lower check.min_seeds or add seeds")
        want = chain_of(self.seeds)
        if self.looks != want:
            text = looks_text(self.seeds)
            raise ValueError(f"looks must be {text} for seeds {self.seeds}, got {self.looks}: dvc.yaml chains each "
                             f"pair to the look after the pair before it, and DVC cannot compute that chain from the "
                             f"list; set check.looks: {text} in params.yaml (with `dvc exp run`, also "
                             f"-S 'check.looks={text}')")
        return self

    @property
    def max_seeds(self) -> int:
        return len(self.seeds)


def chain_of(seeds: list[int]) -> dict[str, int]:
    """``check.looks`` for ``seeds``: each seed after the first -> the seed before it."""
    return {str(s): prev for prev, s in zip(seeds, seeds[1:])}


def looks_text(seeds: list[int]) -> str:
    """``check.looks`` for ``seeds`` as params.yaml writes it."""
    return "{" + ", ".join(f'"{k}": {v}' for k, v in chain_of(seeds).items()) + "}"

"""params.yaml's ``adapt`` section: unsupervised domain adaptation as a mode of the pipeline (graftline.adapt)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

# none: today's supervised pipeline. The others: graftline/adapt/<method>.py (im = information maximisation), each
# registered there with its default trade_off; tests/unit/test_adapt.py fails when this list and the registry differ.
ADAPT_METHODS = ("none", "source_only", "dann", "cdan", "mcc", "coral", "im")


class AdaptParams(BaseModel):
    """With ``method`` other than none, the finetune stage adapts the selected candidate *with its source head*
    (labelled source images + unlabelled target images) and the baseline stage trains the source-only arm with the
    same budget and seed; check compares them on the target's test split, export ships the adapted model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal[ADAPT_METHODS] = "none"
    candidate: Optional[str] = Field(None, description="the source model (zoo:<id> | hub:<name> | file:<path>), "
                                                       "its head must know the target's classes; null: select's "
                                                       "pick (which read the target's train+val labels)")
    source: Optional[str] = Field(None, description="labelled source images: a folder <class>/<image>, a CSV "
                                                    "path,label[,split] or a .npz (x, y, split, classes); null: "
                                                    "the selected candidate's own source data (its source_eval.data)")
    target_folder: Optional[str] = Field(None, description="a folder of unlabelled target images (any layout); "
                                                           "null: data/prepared's train+val images, labels ignored")
    steps: int = Field(900, ge=1, description="tllib's schedule does not depend on it: DEV (no target label) "
                                              "preferred 900 to 300/600 on the demo (benchmarks/adaptation.py)")
    batch_size: int = Field(64, ge=2, description="source and target images per step (each)")
    lr: float = Field(0.01, gt=0.0, le=10.0, description="tllib's; DEV preferred it to 0.003 (README)")
    backbone_lr: float = Field(0.1, gt=0.0, le=10.0, description="the pretrained body's lr, times lr (tllib's 0.1)")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum")
    weight_decay: float = Field(1e-3, ge=0.0, description="SGD weight decay")
    trade_off: Optional[float] = Field(None, ge=0.0, description="weight of the adaptation loss; null: the "
                                                                 "method's measured default (README)")
    augment: bool = Field(False, description="augment source and target images")

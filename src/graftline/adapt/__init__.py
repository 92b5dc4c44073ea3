"""Unsupervised domain adaptation: labelled source images + unlabelled target images -> an adapted model.

One file per method (``source_only``, ``dann``, ``cdan``, ``mcc``, ``coral``, ``im``), each a small
``torch.nn.Module`` whose ``forward(feats_s, feats_t, logits_s, logits_t, progress)`` returns the adaptation loss
that is added, times ``trade_off``, to the source cross-entropy; ``loop.adapt`` is the one training loop;
``criteria`` holds the label-free model selection (DEV, SND). This stage imports data, models, eval and base
modules only.
Target labels never enter: every function here takes target *images*; labels exist only in evaluation code.
"""

from __future__ import annotations

from graftline.adapt.cdan import CDAN
from graftline.adapt.coral import Coral
from graftline.adapt.dann import DANN
from graftline.adapt.im import InformationMaximisation
from graftline.adapt.mcc import MCC
from graftline.adapt.source_only import SourceOnly

METHODS = {"source_only": SourceOnly, "dann": DANN, "cdan": CDAN, "mcc": MCC, "coral": Coral,
           "im": InformationMaximisation}

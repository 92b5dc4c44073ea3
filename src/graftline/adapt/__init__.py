"""Unsupervised domain adaptation: labelled source images + unlabelled target images -> an adapted model.

One file per method (``source_only``, ``dann``, ``cdan``, ``mcc``, ``coral``, ``im``), each a small
``torch.nn.Module`` whose ``forward(feats_s, feats_t, logits_s, logits_t, progress)`` returns the adaptation loss
that is added, times ``trade_off``, to the source cross-entropy; each registers itself with ``@register_method``
and carries its default ``trade_off`` (registry.py); ``loop.adapt`` is the one training loop;
``criteria`` holds the label-free model selection (DEV, SND). This stage imports data, models, eval and base
modules only.
Target labels never enter: every function here takes target *images*; labels exist only in evaluation code.
"""

from __future__ import annotations

from graftline.adapt.registry import METHODS, build_method, register_method  # noqa: F401

# Importing a method's module registers it (every module is imported here, so METHODS is complete).
from graftline.adapt.source_only import SourceOnly  # noqa: E402,F401
from graftline.adapt.dann import DANN  # noqa: E402,F401
from graftline.adapt.cdan import CDAN  # noqa: E402,F401
from graftline.adapt.mcc import MCC  # noqa: E402,F401
from graftline.adapt.coral import Coral  # noqa: E402,F401
from graftline.adapt.im import InformationMaximisation  # noqa: E402,F401

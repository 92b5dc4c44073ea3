"""The check stage: negative transfer gap on the held-out test split, and its gate.

NTG (Wang et al., "Characterizing and Avoiding Negative Transfer", CVPR 2019) = err(transfer) - err(scratch),
where both models have the same architecture, data and training budget. NTG > 0 means the source made things worse
(negative transfer). The gate fails when NTG > ``check.max_ntg`` (default 0: transfer must not lose to scratch).
"""

from __future__ import annotations

from pathlib import Path

from graftline.config import CheckParams
from graftline.errors import GateFailed
from graftline.data.dataset import load_split
from graftline.eval.logits import accuracy
from graftline.models import weights
from graftline.results import CheckResult


def ntg(transfer_acc: float, scratch_acc: float) -> float:
    """err(transfer) - err(scratch) = scratch_acc - transfer_acc."""
    return (1.0 - transfer_acc) - (1.0 - scratch_acc)


def run_check(p: CheckParams, prepared: Path, project_root: Path, finetuned: Path, baseline: Path,
              metrics_path: Path) -> CheckResult:
    """Evaluate both arms on the test split; write ``metrics_path``; raise GateFailed if NTG > max_ntg."""
    transfer, tmeta = weights.load(finetuned / "model")
    scratch, smeta = weights.load(baseline / "model")
    test = load_split(prepared, project_root, "test", tmeta["in_chans"], tmeta["input_size"][1:])
    t_acc = accuracy(transfer, test.data, None, tmeta["mean"], tmeta["std"])
    s_acc = accuracy(scratch, test.data, None, smeta["mean"], smeta["std"])
    gap = ntg(t_acc, s_acc)
    result = CheckResult(transfer_acc=t_acc, scratch_acc=s_acc, ntg=gap, max_ntg=p.max_ntg, passed=gap <= p.max_ntg,
                         test_images=len(test), source=tmeta["source"], architecture=tmeta["architecture"],
                         data_hash=test.meta["data_hash"])
    result.write(metrics_path)
    if not result.passed:
        raise GateFailed(
            f"negative transfer: the model fine-tuned from {tmeta['source']} scores {t_acc:.3f} on the test split, "
            f"scratch scores {s_acc:.3f}; NTG = {gap:+.3f} > check.max_ntg = {p.max_ntg:+.3f} ({metrics_path}). "
            "Pick another source (select.candidates), revisit the fine-tuning recipe, or raise check.max_ntg if a "
            "tie is acceptable."
        )
    return result

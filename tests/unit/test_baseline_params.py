"""The scratch arm's declared params are exactly the finetune keys it shares with the transfer arm (SCRATCH_KEYS),
plus its own learning rate: a key declared but not read re-runs every baseline seed for nothing, one read but not
declared leaves them stale (tests/integration/test_params_coverage.py measures the reads)."""

import yaml

from graftline.train.finetune import SCRATCH_KEYS
from tests.conftest import REPO


def test_baseline_declares_the_keys_it_shares_with_the_transfer_arm():
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["baseline"]["do"]
    declared = {p for p in stage["params"] if isinstance(p, str)}
    assert {p for p in declared if p.startswith("finetune.")} == {f"finetune.{k}" for k in SCRATCH_KEYS}
    assert {"check.scratch_lr", "adapt"} <= declared and "finetune" not in declared

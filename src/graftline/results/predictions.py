"""``reports/test_predictions.json``: both arms' test predictions of every seed (written by check, read by the
report)."""

from __future__ import annotations

from graftline.results import Result
from graftline.results.rows import SeedPredictions


class CheckPredictions(Result):
    """``reports/test_predictions.json``: what check predicted on the test split, both arms of every seed, so the
    report shows the confusion matrix without running the models again."""

    made_by: str = "`graftline check`"
    data_hash: str
    classes: list[str]
    labels: list[int]  # the true class index per test image
    seeds: list[SeedPredictions]

    def of(self, seed: int) -> SeedPredictions:
        return next(s for s in self.seeds if s.seed == seed)

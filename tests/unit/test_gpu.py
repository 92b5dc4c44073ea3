"""The training loop's CUDA path (bf16 autocast, channels-last, resume from a checkpoint). Skipped without a GPU:
CI has none; run it where one is (`pytest tests/unit/test_gpu.py`)."""

from pathlib import Path

import pytest
import torch

from tests.conftest import toy_bars

from graftline.models import weights
from graftline.train.loop import Recipe, accuracy, fit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _toy(n=96, seed=0):
    return toy_bars(n, seed)


def test_cuda_amp_channels_last_learns_and_resumes(tmp_path: Path):
    x, y = _toy()
    recipe = Recipe(steps=60, batch_size=16, lr=0.01, warmup_steps=2, eval_every=20, augment=True, seed=1,
                    device="cuda", amp=True, channels_last=True)
    torch.manual_seed(0)
    model = weights.create("resnet10t", 3, 1)
    res = fit(model, x, y, recipe, [0.5], [0.25], x_val=x, y_val=y, checkpoint=tmp_path / "ck.pt", fingerprint="f")
    assert res.steps_done == 60
    assert accuracy(model, x, y, [0.5], [0.25]) > 0.9
    # A run that finds the finished checkpoint resumes past it instead of starting over.
    torch.manual_seed(0)
    again = weights.create("resnet10t", 3, 1)
    res2 = fit(again, x, y, recipe, [0.5], [0.25], x_val=x, y_val=y, checkpoint=tmp_path / "ck.pt", fingerprint="f")
    assert res2.resumed_from is not None and res2.resumed_from > 0

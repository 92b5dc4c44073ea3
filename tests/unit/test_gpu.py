"""The training loop's CUDA path (bf16 autocast, channels-last, resume from a checkpoint). Skipped without a GPU:
CI has none; run it where one is (`pytest tests/unit/test_gpu.py`)."""

from pathlib import Path

import pytest
import torch

from tests.conftest import toy_bars

from graftline.data.dataset import ArrayData
from graftline.eval.logits import accuracy
from graftline.models import weights
from graftline.train.loop import FitData, fit
from graftline.train.recipe import Hooks, Recipe

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class Crash(Exception):
    pass


def _crash_at(epoch):
    def hook(model, e):
        if e == epoch:
            raise Crash()
    return hook


def test_cuda_amp_channels_last_learns_and_resumes_where_it_stopped(tmp_path: Path):
    x, y = toy_bars(96, 0)
    data = FitData(ArrayData(x, y), ArrayData(x, y), [0.5], [0.25])
    recipe = Recipe(steps=60, batch_size=16, lr=0.01, warmup_steps=2, eval_every=20, augment=True, seed=1,
                    device="cuda", amp=True, channels_last=True)
    torch.manual_seed(0)
    straight = weights.create("resnet10t", 3, 1)
    res = fit(straight, data, recipe)
    assert res.steps_done == 60 and res.resumed_from == 0
    assert accuracy(straight, x, y, [0.5], [0.25]) > 0.9
    # Crash at the start of epoch 2 (step 40): the checkpoint of step 40 is on disk; a re-run resumes there.
    ck = tmp_path / "ck.pt"
    torch.manual_seed(0)
    with pytest.raises(Crash):
        fit(weights.create("resnet10t", 3, 1), data, recipe, Hooks(on_epoch_start=_crash_at(2), checkpoint=ck,
                                                                   fingerprint="f"))
    torch.manual_seed(0)
    resumed = weights.create("resnet10t", 3, 1)
    res2 = fit(resumed, data, recipe, Hooks(checkpoint=ck, fingerprint="f"))
    assert res2.resumed_from == 40 and res2.steps_done == 60
    assert [h["step"] for h in res2.history] == [20, 40, 60]
    assert accuracy(resumed, x, y, [0.5], [0.25]) > 0.9
    # CUDA kernels are not bit-deterministic, but the resumed run must land where the straight one did
    a = torch.cat([t.flatten().float() for t in straight.state_dict().values()])
    b = torch.cat([t.flatten().float() for t in resumed.state_dict().values()])
    assert torch.allclose(a, b, rtol=0.05, atol=0.02)

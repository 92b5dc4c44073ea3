"""Augmentation as a policy (data/augment.py, finetune.augment): deterministic under a seed, the same on any number
of processes, the old bool still read, and the glyph policy's draws unchanged."""

import warnings

import pytest
import torch

from graftline.config.training import AUGMENT_POLICIES, FinetuneParams
from graftline.data import augment
from graftline.train.sampler import StepSampler, step_generator


def test_the_config_names_the_policies_the_code_has():
    assert set(AUGMENT_POLICIES) == set(augment.POLICIES)
    assert FinetuneParams().augment == "glyph"
    with pytest.raises(ValueError):
        FinetuneParams(augment="heavy")


@pytest.mark.parametrize("old, new", [(True, "glyph"), (False, "none")])
def test_the_old_bool_maps_with_a_warning(old, new):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert FinetuneParams(augment=old).augment == new
    assert any(f"augment: {new}" in str(w.message) for w in caught)
    assert augment.policy_of(old) == new


@pytest.mark.parametrize("policy", ["glyph", "photo"])
def test_a_policy_is_a_pure_function_of_seed_and_step(policy):
    x = torch.rand(8, 3, 40, 40)
    a = augment.augment_batch(x, step_generator(7, 3), policy)
    b = augment.augment_batch(x, step_generator(7, 3), policy)
    c = augment.augment_batch(x, step_generator(7, 4), policy)
    assert torch.equal(a, b) and not torch.allclose(a, c) and not torch.allclose(a, x)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


def test_photo_draws_are_the_same_on_any_number_of_processes():
    """Two processes each apply their slice of the global batch's draws: together they equal one process."""
    x = torch.rand(6, 3, 32, 32)
    whole = augment.apply("photo", x, augment.draw("photo", 6, step_generator(1, 9)))
    halves = []
    for rank in range(2):
        s = StepSampler(6, 6, 1, rank, 2)
        p = augment.part(augment.draw("photo", 6, step_generator(1, 9)), s.part)
        halves.append(augment.apply("photo", s.part(x), p))
    assert torch.equal(torch.cat(halves), whole)


def test_photo_crops_flips_and_jitters_lightly():
    """A horizontal ramp: about half the images are flipped (the ramp falls instead of rising); a flat grey image
    only changes brightness (a crop of it is the same grey), by at most ±20 %."""
    ramp = torch.linspace(0.2, 0.8, 64).view(1, 1, 1, 64).expand(200, 3, 64, 64).contiguous()
    out = augment.augment_batch(ramp, torch.Generator().manual_seed(0), "photo")
    falls = (out[:, 0, 32, -4] < out[:, 0, 32, 3]).float().mean().item()
    assert 0.35 < falls < 0.65
    flat = augment.augment_batch(torch.full((200, 3, 16, 16), 0.5), torch.Generator().manual_seed(1), "photo")
    per_image = flat.mean((1, 2, 3))
    assert (per_image - 0.5).abs().max() <= 0.1 + 1e-6 and per_image.std() > 0.03


def test_glyph_draws_are_the_earlier_releases():
    """The glyph policy draws exactly the affine maps it always drew, so the demo trains on the same images."""
    g1, g2 = step_generator(0, 5), step_generator(0, 5)
    assert torch.equal(augment.draw("glyph", 32, g1)["theta"], augment.affine_params(32, g2))
    assert augment.draw("none", 32, g1) == {} and augment.apply("none", torch.ones(1, 1, 2, 2), {}).sum() == 4


def test_a_photo_run_at_64px_resumes_bit_exact(tmp_path):
    """At 64 px the loop runs channels_last on CPU and evaluates every epoch (which must leave the layout as it
    was): a run stopped after its first checkpoint and re-run ends with the weights of an uninterrupted one."""
    from graftline.data.dataset import ArrayData
    from graftline.models import weights
    from graftline.train.loop import FitData, fit
    from graftline.train.recipe import Hooks, Recipe

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(24, 3, 64, 64, generator=g), torch.randint(0, 3, (24,), generator=g)
    data = FitData(ArrayData(x, y), ArrayData(x[:8], y[:8]), [0.5] * 3, [0.25] * 3)
    recipe = Recipe(steps=6, batch_size=8, lr=1e-3, eval_every=2, augment="photo", device="cpu", seed=3)

    def run(ckpt=None, stop_at=None):
        torch.manual_seed(0)
        model = weights.create("test_resnet", 3, 3)

        def stop(_model, epoch):
            if epoch == stop_at:
                raise KeyboardInterrupt
        try:
            fit(model, data, recipe, Hooks(checkpoint=ckpt, fingerprint="f", on_epoch_start=stop))
        except KeyboardInterrupt:
            return None
        return model.state_dict()

    whole = run()
    assert run(tmp_path / "train.pt", stop_at=1) is None and (tmp_path / "train.pt").is_file()
    resumed = run(tmp_path / "train.pt")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)

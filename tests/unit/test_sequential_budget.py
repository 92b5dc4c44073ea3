"""`graftline init`'s budget from the folder's size (scaffold/budget.py) and early stopping's val-size rule."""

from __future__ import annotations

from graftline.config import CheckParams, FinetuneParams
from graftline.config.training import chain_of
from graftline.scaffold.budget import budget_for


def test_a_200_photo_folder_gets_a_budget_that_fits_a_laptop():
    b = budget_for(200, 32)  # 60 training images: 2 steps a pass
    assert (b.steps, b.eval_every, b.seeds, b.min_seeds) == (50, 5, 3, 3)  # 3 pairs, no interim look
    FinetuneParams(steps=b.steps, eval_every=b.eval_every, warmup_steps=b.warmup_steps)  # valid as written
    seeds = list(range(b.seeds))
    assert CheckParams(seeds=seeds, min_seeds=b.min_seeds, looks=chain_of(seeds)).max_seeds == 3


def test_large_folders_get_the_sequential_design_and_whole_epochs_capped_at_300_steps():
    for n in (600, 1000, 5000, 100_000):
        b = budget_for(n, 32)
        assert b.seeds == 5 and b.min_seeds == 2 and b.steps <= 300 and b.steps % b.eval_every == 0, n
        assert b.warmup_steps < b.steps
    assert budget_for(1000, 32).eval_every == 10  # one pass over 300 training images


def test_what_the_user_gives_wins():
    b = budget_for(200, 8, steps=6, seeds=2)
    assert (b.steps, b.seeds, b.min_seeds) == (6, 2, 2) and b.eval_every <= 6


def test_early_stopping_is_on_by_default_with_a_val_size_floor():
    p = FinetuneParams()
    assert p.patience == 3 and p.min_val_images == 50

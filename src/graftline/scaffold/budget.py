"""`graftline init`'s training budget, from the folder's size: steps, the eval interval and the paired seeds.

A fixed 300 steps x 5 seeds made a ~190-photo project train for over half an hour on 2 cores, with its best
validation checkpoint at step 35 (FACTS.md, 2026-12-02): about 17 passes over its ~60 training images. So:
- ``eval_every`` = one pass over the training images (an epoch), at least 5 steps (each validation costs a pass
  over the val split);
- ``steps`` = 20 passes, between 50 and 300 (the demo's 300 is 300 passes over its 30 images, and its arms plateau
  by step 125-275: docs/guide/verdict.md#budgets);
- seeds: with a test split of at least 300 images, 5 candidate pairs, the first look after 2 (the sequential design,
  check/sequential.py); below that, 3 pairs and no interim look (``min_seeds`` = 3): on small test sets two pairs'
  interval under-covers (simulated in the verdict guide), and a tie there needs all the pairs anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

VAL_FRACTION, TEST_FRACTION = 0.2, 0.5  # data.val_fraction / data.test_fraction defaults (config/sections.py)
BIG_TEST = 300  # test images from which an interim look after two pairs is trusted


@dataclass
class Budget:
    steps: int
    eval_every: int
    warmup_steps: int
    seeds: int
    min_seeds: int


def budget_for(n_images: int, batch_size: int, steps: int | None = None, seeds: int | None = None) -> Budget:
    """The defaults for a folder of ``n_images``; ``steps``/``seeds`` given by the user win."""
    train = max(1, round(n_images * (1 - VAL_FRACTION - TEST_FRACTION)))
    per_pass = math.ceil(train / batch_size)
    derived = steps is None
    if derived:
        steps = min(300, max(50, 20 * per_pass))
    eval_every = min(max(5, per_pass), steps)
    if derived:  # whole epochs, so the last one ends with a validation
        steps = max(eval_every, steps // eval_every * eval_every)
    big = n_images * TEST_FRACTION >= BIG_TEST
    if seeds is None:
        seeds = 5 if big else 3
    min_seeds = min(seeds, 2 if big else 3)
    return Budget(steps=steps, eval_every=eval_every, warmup_steps=min(20, steps // 10), seeds=seeds,
                  min_seeds=min_seeds)

"""The CLI's adapt mode: with ``adapt.method`` other than none, ``graftline finetune``/``baseline`` train the
adapted and the source-only arms (graftline.adapt.stage) instead of the supervised ones. (``graftline check``
writes metrics/adapt.json: graftline.check.stage.)"""

from __future__ import annotations

import typer


def adapt_arm(arm: str, seed: int | None, params, proj) -> bool:
    """Run ``arm`` in adapt mode; False (nothing done) when ``adapt.method`` is none."""
    if params.adapt.method == "none":
        return False
    from graftline.adapt.stage import run_adapt_arm

    s = run_adapt_arm(params.adapt, arm, params.check.seeds[0] if seed is None else seed, proj)
    a = s.adapt
    typer.echo(f"{arm} [adapt {a.method}, trade-off {a.trade_off:g}, seed {s.seed}]: {s.train_images} "
               f"labelled source + {a.target_images} unlabelled target images, DEV {a.dev:.3f} (label-free)")
    return True

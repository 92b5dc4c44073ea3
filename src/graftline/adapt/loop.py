"""The one adaptation loop: a source batch and a target batch per step, source cross-entropy + trade-off × the
method's loss, SGD with the schedule of Transfer-Learning-Library (tllib).

Defaults are tllib's: SGD lr 0.01, momentum 0.9, weight decay 1e-3, lr_i = lr · (1 + 0.001 i)^−0.75, the pretrained
body at 0.1× the lr (head and the method's own modules at 1×), trade-off 1. Both batches go through the network
together (BatchNorm sees both domains, as in tllib). The data order is a function of the seed alone, so two runs
with the same inputs are bit-identical (on the CPU) — the property the no-leak test relies on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import torch

from graftline.data.augment import augment_batch
from graftline.data.images import normalize
from graftline.errors import ModelError
from graftline.models.heads import head_param_names

log = logging.getLogger(__name__)


@dataclass
class AdaptRecipe:
    method: str = "im"
    steps: int = 300
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-3
    backbone_lr: float = 0.1          # multiplier of lr for the pretrained body
    trade_off: float = 1.0
    seed: int = 0
    augment: bool = False
    eval_every: int = 0               # call on_eval every N steps (0: only at the end)
    method_kwargs: dict = field(default_factory=dict)


def features_and_logits(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """timm's pre-logit features and the classifier's logits in one pass."""
    f = model.forward_head(model.forward_features(x), pre_logits=True)
    return f, model.get_classifier()(f)


def _optimizer(model, method, r: AdaptRecipe) -> torch.optim.SGD:
    head = set(head_param_names(model))
    body = [p for n, p in model.named_parameters() if n not in head and p.requires_grad]
    top = [p for n, p in model.named_parameters() if n in head] + list(method.parameters())
    groups = [{"params": body, "lr_scale": r.backbone_lr}, {"params": top, "lr_scale": 1.0}]
    return torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay, nesterov=True)


def adapt(model: torch.nn.Module, source_x: torch.Tensor, source_y: torch.Tensor, target_x: torch.Tensor,
          recipe: AdaptRecipe, mean, std, on_eval: Callable[[int, torch.nn.Module], None] | None = None
          ) -> torch.nn.Module:
    """Adapt ``model`` in place and return it. ``source_x``/``target_x`` are [N, C, H, W] in [0, 1]; the target
    comes as images only. ``on_eval(step, model)`` is called every ``recipe.eval_every`` steps and at the end."""
    from graftline.adapt import build_method

    torch.manual_seed(recipe.seed)
    g = torch.Generator().manual_seed(recipe.seed)
    with torch.no_grad():
        feat_dim = features_and_logits(model.eval(), normalize(source_x[:2], mean, std))[0].shape[1]
    num_classes = model.get_classifier().out_features
    method = build_method(recipe.method, feat_dim, num_classes, recipe.method_kwargs)
    opt = _optimizer(model, method, recipe)
    b, ns, nt = recipe.batch_size, len(source_x), len(target_x)
    model.train()
    method.train()
    for step in range(recipe.steps):
        for grp in opt.param_groups:
            grp["lr"] = recipe.lr * grp["lr_scale"] * (1 + 0.001 * step) ** -0.75
        i_s = torch.randint(ns, (b,), generator=g)
        i_t = torch.randint(nt, (b,), generator=g)
        xs, xt = source_x[i_s], target_x[i_t]
        if recipe.augment:
            xs, xt = augment_batch(xs, g), augment_batch(xt, g)
        f, z = features_and_logits(model, normalize(torch.cat([xs, xt]), mean, std))
        ce = torch.nn.functional.cross_entropy(z[:b], source_y[i_s])
        extra = method(f[:b], f[b:], z[:b], z[b:], step / max(recipe.steps - 1, 1))
        loss = ce + recipe.trade_off * extra
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not torch.isfinite(loss):
            raise ModelError(f"adapt: {recipe.method} loss is {loss.item()} at step {step}; lower adapt.lr in "
                             "params.yaml")
        done = step + 1
        if on_eval and ((recipe.eval_every and done % recipe.eval_every == 0) or done == recipe.steps):
            on_eval(done, model)
            model.train()
        if done % 50 == 0:
            log.debug("adapt %s step %d ce %.3f extra %.3f", recipe.method, done, ce.item(), extra.item())
    return model.eval()

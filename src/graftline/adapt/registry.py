"""The adapt-method registry: each method's module registers its class, which carries its default ``trade_off``.

``adapt.method`` in params.yaml is a ``Literal`` (config is layer 0); tests/unit/test_adapt.py fails when it and
``METHODS`` disagree. A method is a ``torch.nn.Module`` built as ``cls(feat_dim, num_classes, **options)`` whose
``forward(feats_s, feats_t, logits_s, logits_t, progress)`` returns the adaptation loss; its options are its
constructor's own keywords, so a misspelt one is an error, not silently ignored.

Default trade-offs: chosen without target labels, by DEV among a 3-value grid on a seed outside the evaluated ones,
at the shipped recipe (lr 0.01, body 0.1x, 900 steps; benchmarks/adaptation.py --tune; README).
"""

from __future__ import annotations

import inspect
from typing import Callable

import torch

from graftline.errors import ConfigError

METHODS: dict[str, type[torch.nn.Module]] = {}


def register_method(name: str) -> Callable[[type], type]:
    """Class decorator: register the method as ``name``; the class must define its default ``trade_off``."""
    def deco(cls: type) -> type:
        if name in METHODS:
            raise ValueError(f"adapt method {name!r} is registered twice (graftline/adapt/)")
        if not isinstance(getattr(cls, "trade_off", None), (int, float)):
            raise TypeError(f"adapt method {name!r} ({cls.__name__}) must define a class attribute trade_off")
        cls.name = name
        METHODS[name] = cls
        return cls

    return deco


def options_of(cls: type) -> list[str]:
    """The keyword options a method's constructor takes beyond (feat_dim, num_classes)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[3:]  # self, feat_dim, num_classes
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def build_method(name: str, feat_dim: int, num_classes: int, options: dict | None = None) -> torch.nn.Module:
    """``METHODS[name](feat_dim, num_classes, **options)``, with a ConfigError naming the method's options when one
    is unknown (a typo would otherwise train the method with its default)."""
    if name not in METHODS:
        raise ConfigError(f"adapt.method: unknown method {name!r}; one of {', '.join(METHODS)} (graftline/adapt/).")
    cls = METHODS[name]
    unknown = sorted(set(options or {}) - set(options_of(cls)))
    if unknown:
        raise ConfigError(f"adapt: method {name} has no option {', '.join(map(repr, unknown))}; its options are "
                          f"{', '.join(options_of(cls)) or 'none'} ({cls.__module__}). Fix the name.")
    return cls(feat_dim, num_classes, **(options or {}))

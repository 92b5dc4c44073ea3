"""``hub:`` candidates and the Hugging Face cache: which repository timm reads, whether it is cached, and exactly
what to put there when it is not (this machine may have no network: ``HF_HUB_OFFLINE=1``)."""

from __future__ import annotations

from pathlib import Path


def hub_repo(name: str) -> str:
    """The Hugging Face repository timm loads ``name``'s weights from (``timm/resnet18.a1_in1k``)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return (cfg.hf_hub_id if cfg is not None and cfg.hf_hub_id else f"timm/{name}").split("@")[0]


def hub_weights_cached(name: str) -> bool:
    """Whether the Hugging Face cache (``HF_HOME``/``HF_HUB_CACHE``) holds ``name``'s weights file."""
    from huggingface_hub import try_to_load_from_cache

    repo = hub_repo(name)
    return any(isinstance(try_to_load_from_cache(repo, f), str) for f in ("model.safetensors", "pytorch_model.bin"))


def hub_cache_hint(name: str) -> str:
    """Exactly what to put in the Hugging Face cache for ``hub:<name>``, and how."""
    from huggingface_hub import constants

    repo = hub_repo(name)
    folder = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
    return (f"hub:{name} needs {repo}/model.safetensors in the Hugging Face cache ({folder}); on a machine with "
            f"internet run `hf download {repo} model.safetensors config.json` (or `python -c \"import timm; "
            f"timm.create_model('{name}', pretrained=True)\"`) with the same HF_HOME, then copy {folder} here "
            "(HF_HUB_OFFLINE=1 then uses it without a network)")

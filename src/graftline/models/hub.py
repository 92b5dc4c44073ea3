"""``hub:`` candidates and the Hugging Face cache: which repository timm reads, whether it is cached, and exactly
what to put there when it is not (this machine may have no network: ``HF_HUB_OFFLINE=1``)."""

from __future__ import annotations

from pathlib import Path


def hub_repo(name: str) -> str:
    """The Hugging Face repository timm loads ``name``'s weights from (``timm/resnet18.a1_in1k``)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return (cfg.hf_hub_id if cfg is not None and cfg.hf_hub_id else f"timm/{name}").split("@")[0]


def hub_weights_file(name: str) -> str | None:
    """The path of ``name``'s weights in the Hugging Face cache (``HF_HOME``/``HF_HUB_CACHE``), or None."""
    from huggingface_hub import try_to_load_from_cache

    repo = hub_repo(name)
    for f in ("model.safetensors", "pytorch_model.bin"):
        if isinstance(found := try_to_load_from_cache(repo, f), str):
            return found
    return None


def hub_weights_cached(name: str) -> bool:
    """Whether the Hugging Face cache (``HF_HOME``/``HF_HUB_CACHE``) holds ``name``'s weights file."""
    return hub_weights_file(name) is not None


def hub_offline(timeout: float = 2.0) -> str | None:
    """Why the hub cannot be reached (``HF_HUB_OFFLINE`` set, or no connection within ``timeout`` s), or None.

    Asked before a download, so that a machine without a network gets one line at once instead of
    huggingface_hub's retries with back-off (1+2+4+8+8 s per file)."""
    import os
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{host}:{port} is unreachable ({type(exc).__name__})"
    return None


def hub_miss_line(name: str, why: str) -> str:
    """The one line for a ``hub:`` candidate that is neither cached nor downloadable."""
    from huggingface_hub import constants

    repo = hub_repo(name)
    folder = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
    return (f"not in the Hugging Face cache at {folder} and cannot be downloaded ({why}); put it there "
            f"with `hf download {repo} model.safetensors config.json` on a machine with internet (same HF_HOME, then "
            "copy the folder here), or use a file: or zoo: candidate")


def hub_cache_hint(name: str) -> str:
    """Exactly what to put in the Hugging Face cache for ``hub:<name>``, and how."""
    from huggingface_hub import constants

    repo = hub_repo(name)
    folder = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
    return (f"hub:{name} needs {repo}/model.safetensors in the Hugging Face cache ({folder}); on a machine with "
            f"internet run `hf download {repo} model.safetensors config.json` (or `python -c \"import timm; "
            f"timm.create_model('{name}', pretrained=True)\"`) with the same HF_HOME, then copy {folder} here "
            "(HF_HUB_OFFLINE=1 then uses it without a network)")

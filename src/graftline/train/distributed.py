"""DDP under ``torchrun``: the same loop on N processes (gloo on CPU, nccl on GPU).

Outside ``torchrun`` (``WORLD_SIZE`` unset or 1) every function is a no-op, so the loop reads the same either way.
Every process computes the same global batch (``sampler.StepSampler``) and loads and trains on its own slice; DDP averages the
gradients, so the effective batch stays ``finetune.batch_size``. Only the main process (rank 0) writes files.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as td


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return td.get_rank() if td.is_available() and td.is_initialized() else int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def active() -> bool:
    return td.is_available() and td.is_initialized() and td.get_world_size() > 1


def is_main() -> bool:
    return rank() == 0


def init() -> None:
    """Join the process group when started by torchrun (idempotent)."""
    if world_size() > 1 and not td.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank())
        td.init_process_group(backend)


def wrap(model: torch.nn.Module, current, device: torch.device):
    """A DDP wrapper over the parameters that train now; rebuilt only when that set changed."""
    if not active():
        return None
    trained = tuple(n for n, p in model.named_parameters() if p.requires_grad)
    if current is not None and getattr(current, "_graftline_trained", None) == trained:
        return current
    from torch.nn.parallel import DistributedDataParallel as DDP

    ddp = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    ddp._graftline_trained = trained
    return ddp


def agree(flag: bool) -> bool:
    """Rank 0's decision, on every rank (early stopping must stop all processes together)."""
    if not active():
        return flag
    obj = [flag]
    td.broadcast_object_list(obj, src=0)
    return bool(obj[0])


def barrier() -> None:
    if active():
        td.barrier()

"""Fused vs per-tensor AdamW on the demo's fine-tuning step, side by side in one run (this machine is noisy).

The finetune/baseline stages and the zoo train with ``train.optim.make_optimizer`` (timm's AdamW groups). torch's
default AdamW on CPU loops over the parameters in Python (``_single_tensor_adam``: a quarter of a 300-step demo
fine-tune in cProfile); ``fused=True`` updates them in one kernel. Same model, batch and data for both; the two
optimizers alternate in rounds so that load on the machine hits both alike. Prints ms/step for each, the largest
weight difference after the same steps (rounding only), and the speed-up ratio last.

    python benchmarks/optimizer.py [--rounds 5] [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import timm
import torch

OUT = Path(__file__).parent / "results" / "optimizer.json"


def run(fused: bool, steps: int, state: dict | None = None) -> tuple[float, dict]:
    from timm.optim import create_optimizer_v2

    torch.manual_seed(0)
    model = timm.create_model("resnet10t", num_classes=10, in_chans=1)
    opt = create_optimizer_v2(model, "adamw", lr=1e-3, weight_decay=0.05, fused=fused)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 1, 32, 32, generator=g), torch.randint(0, 10, (32,), generator=g)
    for i in range(steps + 5):
        if i == 5:  # warm-up steps excluded (allocator, first-call dispatch)
            t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps * 1000, model.state_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=40)
    a = ap.parse_args()
    ms = {"per_tensor": [], "fused": []}
    for _ in range(a.rounds):
        t, w_ref = run(False, a.steps)
        ms["per_tensor"].append(t)
        t, w_fused = run(True, a.steps)
        ms["fused"].append(t)
    diff = max(float((w_ref[k].float() - w_fused[k].float()).abs().max()) for k in w_ref)
    med = {k: statistics.median(v) for k, v in ms.items()}
    ratio = med["per_tensor"] / med["fused"]
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"ms_per_step": med, "runs": ms, "max_weight_diff": diff, "speedup": ratio,
                               "threads": torch.get_num_threads(), "steps": a.steps, "rounds": a.rounds}, indent=2))
    print(f"per-tensor AdamW {med['per_tensor']:.1f} ms/step, fused {med['fused']:.1f} ms/step "
          f"(median of {a.rounds} alternating rounds, {torch.get_num_threads()} threads); "
          f"weights after {a.steps + 5} steps differ by at most {diff:.2e}")
    print(f"fused AdamW step speed-up: {ratio:.2f}x")


if __name__ == "__main__":
    main()

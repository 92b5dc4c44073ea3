"""LogME speed at the size the issue names (N=5000 images, D=2048 features, C=100 classes), side by side.

`per-class reference`: the way the public reference code is organised — an SVD of the features, then, class by
class, MacKay's fixed point on [D]-vectors (written here from the paper, with the same zero-eigenvalue correction so
both compute the same number). `graftline.select.estimators.logme`: one eigen-decomposition of the smaller Gram
matrix shared by every class and one vectorised fixed point over all classes at once.

Both run in this process, one after the other, on the same features; the ratio is printed last.
    python benchmarks/logme_speed.py [--n 5000 --d 2048 --c 100]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from graftline.select.estimators import logme


def per_class_reference(f: np.ndarray, y: np.ndarray, iters: int = 1000, tol: float = 1e-8) -> float:
    f = f.astype(np.float64)
    n, d = f.shape
    _, s, vh = np.linalg.svd(f, full_matrices=False)  # the reference's first step
    sigma = s**2
    r = len(sigma)
    evidences = []
    for c in np.unique(y):
        t = (y == c).astype(np.float64)
        q = vh @ (f.T @ t)  # [r]
        alpha, beta = 1.0, 1.0
        for _ in range(iters):
            gamma = np.sum(beta * sigma / (alpha + beta * sigma))
            m = beta * q / (alpha + beta * sigma)
            res2 = np.sum((f @ (vh.T @ m) - t) ** 2)  # the residual in sample space, as the reference computes it
            new_alpha, new_beta = gamma / (m @ m), (n - gamma) / res2
            done = abs(new_alpha / new_beta - alpha / beta) / (alpha / beta) < tol
            alpha, beta = new_alpha, new_beta
            if done:
                break
        m = beta * q / (alpha + beta * sigma)
        res2 = np.sum((f @ (vh.T @ m) - t) ** 2)
        logdet = np.sum(np.log(alpha + beta * sigma)) + (d - r) * np.log(alpha)
        ev = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi) - beta / 2 * res2
              - alpha / 2 * (m @ m) - logdet / 2)
        evidences.append(ev / n)
    return float(np.mean(evidences))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--c", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/logme_speed.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    y = rng.integers(0, args.c, args.n)
    # Features with class structure plus noise, like a real backbone's (non-negative after a ReLU).
    f = np.maximum(rng.normal(size=(args.c, args.d))[y] * 0.3 + rng.normal(size=(args.n, args.d)), 0).astype(np.float32)
    t0 = time.perf_counter()
    ours = logme(f, y)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = per_class_reference(f, y)
    t_ref = time.perf_counter() - t0
    print(f"N={args.n} D={args.d} C={args.c}")
    print(f"per-class reference: {t_ref:7.2f} s  logme {ref:.6f}")
    print(f"graftline logme:     {t_ours:7.2f} s  logme {ours:.6f}  (|diff| {abs(ours - ref):.1e})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"n": args.n, "d": args.d, "c": args.c, "reference_seconds": t_ref,
                                    "graftline_seconds": t_ours, "speedup": t_ref / t_ours,
                                    "abs_diff": abs(ours - ref)}, indent=2) + "\n")
    print(f"graftline logme {t_ours:.2f} s (target < 10 s); speedup over the per-class reference: {t_ref / t_ours:.1f}x")


if __name__ == "__main__":
    main()

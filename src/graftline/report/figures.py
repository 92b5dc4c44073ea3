"""The run report's charts as PNG bytes (matplotlib, Agg): both arms' curves (every seed), the selection scatter,
the confusion matrix. Each function takes plain data read from the stages' files, so the report never imports a stage."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    _plt().close(fig)
    return buf.getvalue()


def read_tsv(path: Path) -> tuple[list[float], list[float]]:
    """A dvclive metric file (``step<TAB>value``) -> steps, values; empty when it is missing."""
    if not path.is_file():
        return [], []
    rows = [ln.split("\t") for ln in path.read_text().splitlines()[1:] if ln.strip()]
    return [float(r[0]) for r in rows], [float(r[1]) for r in rows]


def curves(arms: dict[str, dict[int, Path]], names: dict[str, str] | None = None) -> bytes:
    """Train loss (left) and validation accuracy (right) of every seed of every arm: one thin line per seed, the
    seeds' mean in bold where they share their steps. ``arms``: arm -> seed -> dvclive ``plots/metrics`` folder;
    ``names``: the arms' labels (transfer/scratch, or adapted/source-only)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    colors = {"finetune": "tab:blue", "baseline": "tab:orange"}
    for ax, metric, marker in ((axes[0], "train_loss", None), (axes[1], "val_acc", "o")):
        for arm, by_seed in arms.items():
            label = (names or {}).get(arm, arm)
            runs = [read_tsv(folder / f"{metric}.tsv") for folder in by_seed.values()]
            runs = [(s, v) for s, v in runs if s]
            for s, v in runs:
                ax.plot(s, v, color=colors.get(arm), alpha=0.35, lw=0.8, marker=marker, ms=2)
            seeds = ", ".join(str(k) for k in by_seed)
            if runs and all(s == runs[0][0] for s, _ in runs):
                ax.plot(runs[0][0], np.mean([v for _, v in runs], axis=0), color=colors.get(arm), lw=2,
                        label=f"{label}: mean of seeds {seeds}")
            elif runs:
                ax.plot([], [], color=colors.get(arm), label=f"{label}: seeds {seeds}")
    axes[0].set(xlabel="step", ylabel="train loss", title="training loss (thin: each seed)")
    axes[1].set(xlabel="step", ylabel="val accuracy", title="validation accuracy (thin: each seed)", ylim=(0, 1))
    for ax in axes:
        ax.legend(fontsize=7)
    return _png(fig)


def selection_scatter(names: list[str], x: list[float], y: list[float], selected: str, xlabel: str,
                      ylabel: str) -> bytes:
    """Every candidate's selection score (x) against a second measurement (y); the pick is ringed."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax.scatter(x, y, color="tab:blue")
    for n, a, b in zip(names, x, y):
        if n == selected:
            ax.scatter([a], [b], s=160, facecolors="none", edgecolors="tab:red", linewidths=2)
        ax.annotate(n.split(":", 1)[-1], (a, b), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set(xlabel=xlabel, ylabel=ylabel, title="source selection (red ring: selected)")
    return _png(fig)


def confusion(matrix: np.ndarray, classes: list[str], title: str = "test confusion matrix") -> bytes:
    """Counts [true, predicted] with the count in each cell."""
    plt = _plt()
    k = len(classes)
    side = min(9.0, 2.5 + 0.45 * k)
    fig, ax = plt.subplots(figsize=(side, side * 0.85), dpi=100)
    im = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), classes, rotation=90 if k > 12 else 0, fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    if k <= 30:
        hi = matrix.max() / 2 if matrix.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > hi else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _png(fig)

"""The run report's charts as PNG bytes (matplotlib, Agg): both arms' curves, the selection scatter, the confusion
matrix. Each function takes plain data read from the stages' files, so the report never imports a stage."""

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


def curves(arms: dict[str, Path]) -> bytes:
    """Train loss (left) and validation accuracy (right) of every arm on one figure; ``arms``: name -> dvclive
    ``plots/metrics`` folder."""
    plt = _plt()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=100)
    colors = {"finetune": "tab:blue", "baseline": "tab:orange"}
    for name, folder in arms.items():
        s, v = read_tsv(folder / "train_loss.tsv")
        ax_loss.plot(s, v, label=name, color=colors.get(name))
        s, v = read_tsv(folder / "val_acc.tsv")
        ax_acc.plot(s, v, marker="o", ms=3, label=name, color=colors.get(name))
    ax_loss.set(xlabel="step", ylabel="train loss", title="training loss")
    ax_acc.set(xlabel="step", ylabel="val accuracy", title="validation accuracy", ylim=(0, 1))
    ax_loss.legend()
    ax_acc.legend()
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


def confusion(matrix: np.ndarray, classes: list[str]) -> bytes:
    """Counts [true, predicted] with the count in each cell."""
    plt = _plt()
    k = len(classes)
    side = min(9.0, 2.5 + 0.45 * k)
    fig, ax = plt.subplots(figsize=(side, side * 0.85), dpi=100)
    im = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), classes, rotation=90 if k > 12 else 0, fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title="test confusion matrix (fine-tuned model)")
    if k <= 30:
        hi = matrix.max() / 2 if matrix.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > hi else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _png(fig)

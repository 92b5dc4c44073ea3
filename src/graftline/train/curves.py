"""Training curves: dvclive rows per epoch (``dvc exp show`` / ``dvc plots``) and an offline PNG."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from graftline.train import distributed as dist

log = logging.getLogger(__name__)


class Curves:
    """dvclive rows, one per epoch as they come (``dvc exp show`` / ``dvc plots``); the probe phase is prefixed."""

    def __init__(self, live_dir: Path, probe_steps: int = 0):
        self.live_dir, self.live, self.rows = live_dir, None, []
        self.probe_steps = probe_steps  # lp_ft: the fine-tuning rows are plotted after the probe's
        if not dist.is_main():
            return
        try:
            from dvclive import Live

            self.live = Live(dir=str(live_dir), report=None, save_dvc_exp=False, dvcyaml=None)
        except Exception as exc:  # noqa: BLE001 - e.g. dvclive in a git repo with no commit yet (scmrepo "Empty git repo")
            log.warning("dvclive could not start (%s: %s); the summary and %s are still written",
                        type(exc).__name__, exc, live_dir / "curves.png")

    def __call__(self, phase: str, row: dict) -> None:
        self.rows.append({"phase": phase, **row})
        if self.live is None:
            return
        prefix = "" if phase == "train" else f"{phase}/"
        offset = 0 if phase != "train" else self.probe_steps
        self.live.step = row["step"] + offset
        for k in ("train_loss", "val_acc", "lr"):
            if k in row:
                self.live.log_metric(prefix + k, row[k])

    def close(self, summary: dict) -> None:
        if self.live is not None:
            for k, v in summary.items():
                self.live.summary[k] = v
            self.live.end()
        if dist.is_main():
            self.live_dir.mkdir(parents=True, exist_ok=True)
            plot(self.live_dir / "curves.png", self.rows, self.live_dir.name)


def plot(path: Path, history: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = [h for h in history if h.get("phase", "train") == "train"] or history
    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    ax.plot(steps, [h["train_loss"] for h in history], label="train loss", color="tab:blue")
    ax.set_xlabel("step")
    ax.set_ylabel("train loss")
    if any("val_acc" in h for h in history):
        ax2 = ax.twinx()
        ax2.plot(steps, [h.get("val_acc", np.nan) for h in history], label="val acc", color="tab:orange")
        ax2.set_ylabel("val accuracy")
        ax2.set_ylim(0, 1)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

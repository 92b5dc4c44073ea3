"""How long to pretrain the zoo's source model, chosen on the target's VALIDATION split (the test split stays for the
verdict).

The selected candidate (``zoo:resnet10t.digits``) is pretrained on the rendered digits by the zoo stage's own code
(``train.pretrain._train_candidate``: ``zoo`` params, one torch thread as in a zoo worker) for each step count,
then fine-tuned with the finetune stage's recipe over 5 seeds; prints validation and test accuracy per step count
and the one validation prefers last. The zoo's source accuracy is saturated (0.999 at 150 steps), so it cannot choose; the target's validation split can.

Uses a pipeline run in this directory (data/prepared, reports/selection.json): ``make run`` first.

    python benchmarks/zoo_steps.py [--steps 150 200 300]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from transfer_vs_scratch import _setup  # noqa: E402

from graftline.eval.logits import accuracy  # noqa: E402
from graftline.models import weights  # noqa: E402
from graftline.train.finetune import _recipe, init_model  # noqa: E402
from graftline.train.loop import FitData, fit  # noqa: E402
from graftline.train.pretrain import _train_candidate  # noqa: E402

SEEDS = [0, 1, 2, 3, 4]
OUT = ROOT / "benchmarks" / "results" / "zoo_steps.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, nargs="+", default=[150, 200, 300])
    a = ap.parse_args()
    params, sel, _, meta, splits = _setup()
    z = params.zoo
    index = next(i for i, c in enumerate(z.candidates) if f"zoo:{c.id}" == sel.selected)
    cand = z.candidates[index]
    rows, t0 = {}, time.perf_counter()
    for steps in a.steps:
        with tempfile.TemporaryDirectory() as tmp:  # the zoo stage's own per-candidate training, at `steps`
            _train_candidate(z.model_copy(update={"steps": steps}), index, ROOT / "data/demo/sources", Path(tmp),
                             ROOT, 1, False)
            body, zmeta = weights.load(Path(tmp) / cand.id)
        mean, std, src_acc = zmeta.preprocess.mean, zmeta.preprocess.std, zmeta.lineage.source_eval.accuracy
        vals, tests = [], []
        for seed in SEEDS:
            torch.manual_seed(seed)  # the finetune stage's order: load, seed, then the new head
            model = init_model(copy.deepcopy(body), zmeta, len(splits["train"].classes),
                               params.finetune.zero_init_head)
            fit(model, FitData(splits["train"].data, None, mean, std), _recipe(params.finetune, params.finetune.lr, seed))
            vals.append(accuracy(model, splits["val"].data, None, mean, std))
            tests.append(accuracy(model, splits["test"].data, None, mean, std))
        rows[steps] = {"source_eval_acc": src_acc, "val": vals, "test": tests, "val_mean": statistics.mean(vals),
                       "test_mean": statistics.mean(tests), "test_sd": statistics.stdev(tests)}
        print(f"zoo steps {steps:4d}: source eval {src_acc:.4f}  val {statistics.mean(vals):.3f}  test "
              f"{statistics.mean(tests):.4f} ± {statistics.stdev(tests):.4f}  {[round(t, 3) for t in tests]}", flush=True)
    chosen = max(rows, key=lambda s: (rows[s]["val_mean"], -s))  # ties: the cheaper pretraining
    out = {"candidate": sel.selected, "seeds": SEEDS, "finetune_lr": params.finetune.lr, "rows": rows,
           "chosen_on_val": chosen, "seconds": round(time.perf_counter() - t0, 1)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"validation prefers {chosen} zoo steps (val {rows[chosen]['val_mean']:.3f}, test "
          f"{rows[chosen]['test_mean']:.4f}); params.yaml has zoo.steps {z.steps}")


if __name__ == "__main__":
    main()

"""Train/serve parity on a project's whole test split: the trained torch model through the training and evaluation
path against the shipped ONNX model through the serving path, image by image.

- train side: ``load_split`` (the data path that check and export evaluate with: the card's transform, the
  card's colour policy) -> the exported seed's torch model (``models/finetuned/seed-<s>/model``) -> logits;
- serve side: the test files themselves, read the way ``graftline predict`` reads them (``model_input``: PIL decode,
  the card *read back from the ONNX file's metadata*, mean/std or uint8 for in-graph) -> onnxruntime -> logits.

Any drift between the two (a resize filter, a crop, a colour mode, a mean/std, a layout) shows as lower top-1
agreement and a larger logit difference. Usage:

    python benchmarks/serve_parity.py [--project build/fashion/project-50] [--seed 0] [--out FILE.json]

The default project is this repository (the demo, after `dvc repro`).

Prints and writes (default benchmarks/results/serve_parity.json): images, top-1 agreement, max and mean |logit
difference|, each side's test accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def measure(project: Path, seed: int) -> dict:
    from graftline.data.dataset import load_split
    from graftline.eval.logits import predict_logits
    from graftline.models import weights
    from graftline.models.runtime import metadata, model_input, session
    from graftline.project import Project

    proj = Project(project)
    model, card = weights.load(proj.arm("finetune", seed) / "model")
    test = load_split(proj.prepared, proj.root, "test", card.in_chans, card.preprocess.size, card.preprocess)
    train_logits = predict_logits(model, test.data, card.preprocess.mean, card.preprocess.std).numpy()

    sess = session(proj.onnx_model)
    served_card = metadata(sess, proj.onnx_model)
    files = [test.data.root / p for p in test.data.paths]  # the same files, as predict gets them
    name = sess.get_inputs()[0].name
    serve_logits = np.concatenate([sess.run(["logits"], {name: model_input(files[i: i + 64], served_card)})[0]
                                   for i in range(0, len(files), 64)])
    y = test.y.numpy()
    diff = np.abs(train_logits.astype(np.float64) - serve_logits)
    return {"project": str(project), "seed": seed, "images": len(files),
            "export_preprocess": served_card.export.preprocess if served_card.export else None,
            "transform": served_card.preprocess.model_dump(),
            "top1_agreement": float((train_logits.argmax(1) == serve_logits.argmax(1)).mean()),
            "max_abs_logit_diff": float(diff.max()), "mean_abs_logit_diff": float(diff.mean()),
            "max_abs_logit": float(np.abs(train_logits).max()),
            "train_path_accuracy": float((train_logits.argmax(1) == y).mean()),
            "serve_path_accuracy": float((serve_logits.argmax(1) == y).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--project", type=Path, default=ROOT, help="a project after dvc repro (default: the demo)")
    ap.add_argument("--seed", type=int, default=0, help="the exported seed (check.seeds[0])")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serve_parity.json")
    a = ap.parse_args()
    from graftline.project import Project

    project = a.project.resolve()
    if not Project(project).onnx_model.is_file():
        raise SystemExit(f"{project}: no {Project(project).onnx_model}; run `dvc repro` there first (export ships it).")
    r = measure(project, a.seed)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(r, indent=1) + "\n")
    tmp.replace(a.out)
    print(f"{r['images']} test images: top-1 agreement {100 * r['top1_agreement']:.2f} %, max |logit diff| "
          f"{r['max_abs_logit_diff']:.2e} (mean {r['mean_abs_logit_diff']:.1e}, logits up to {r['max_abs_logit']:.1f}); "
          f"accuracy train path {r['train_path_accuracy']:.4f}, serve path {r['serve_path_accuracy']:.4f}")


if __name__ == "__main__":
    main()

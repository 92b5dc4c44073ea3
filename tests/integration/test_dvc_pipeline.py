"""`dvc repro` runs the whole DAG for real on a tiny config; DVC re-runs only what a change makes stale."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.integration.conftest import copy_of
from tests.conftest import TINY, deep_update, dvc, graftline, make_project, write_params

pytestmark = pytest.mark.slow

SEEDS = TINY["check"]["seeds"]
LOOKS = ["look-first", *(f"look@{s}" for s in SEEDS[1:])]  # sequential seeds: the look before each pair
STAGES = ["params-check", "demo", "prepare", "validate", "zoo", "select", *LOOKS,
          *(f"{arm}@{s}" for arm in ("finetune", "baseline") for s in SEEDS), "check", "export", "compare", "report"]


def ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def built(tiny_git_repo, tmp_path_factory) -> tuple[Path, str]:
    """A copy of the session's tiny project (reproduced once, by `dvc repro`), and what that first run ran."""
    p = copy_of(tiny_git_repo, tmp_path_factory.mktemp("dvc") / "proj")
    return p, (tiny_git_repo.parent / "first-repro.log").read_text()


def test_onnx_matches_safetensors_loaded_through_model_json(built):
    """The exported ONNX and the contract-loaded safetensors model agree on real images."""
    p, _ = built
    import torch

    from graftline.data.images import load_image, normalize
    from graftline.export.onnx import session
    from graftline.models import weights

    model, card = weights.load(p / "models/finetuned/seed-0/model")
    paths = [str(x.relative_to(p / "data/demo/digits")) for x in sorted((p / "data/demo/digits").rglob("*.png"))[:64]]
    size = card.preprocess.size
    x = normalize(torch.stack([torch.from_numpy(load_image(p / "data/demo/digits" / q, card.in_chans, size))
                               for q in paths]), card.preprocess.mean, card.preprocess.std)
    with torch.inference_mode():
        ref = model(x).numpy()
    got = session(p / "models/export/model.onnx").run(["logits"], {"input": x.numpy()})[0]
    assert np.abs(ref - got).max() <= 1e-4 and (ref.argmax(1) == got.argmax(1)).all()
    assert json.loads((p / "models/export/model.json").read_text())["label_names"] == card.label_names


SERVE = """
import json, sys
import numpy as np, onnxruntime as ort
from PIL import Image
sys.modules["torch"] = None
sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
meta = {k[len("graftline."):]: json.loads(v) for k, v in sess.get_modelmeta().custom_metadata_map.items()
        if k.startswith("graftline.")}
pre = meta["preprocess"]
c, h, w = pre["input_size"]

def resize(a, size):  # bilinear, half-pixel centres, edge clamp, no antialias: what the metadata says
    for axis, out in ((0, size[0]), (1, size[1])):
        n = a.shape[axis]
        if n == out:
            continue
        src = np.maximum((np.arange(out) + 0.5) * (n / out) - 0.5, 0)
        i0 = np.minimum(np.floor(src).astype(int), n - 1)
        i1 = np.minimum(i0 + 1, n - 1)
        wt = (src - i0).astype(np.float32).reshape([-1 if d == axis else 1 for d in range(a.ndim)])
        a = np.take(a, i0, axis=axis) * (1 - wt) + np.take(a, i1, axis=axis) * wt
    return a

top1 = []
for path in sys.argv[2:]:
    im = Image.open(path).convert("L" if c == 1 else "RGB")
    a = np.asarray(im, dtype=np.float32) / 255.0
    a = resize(a[:, :, None] if a.ndim == 2 else a, (h, w)).transpose(2, 0, 1)
    x = (a - np.float32(pre["mean"]).reshape(-1, 1, 1)) / np.float32(pre["std"]).reshape(-1, 1, 1)
    top1.append(meta["label_names"][int(sess.run(["logits"], {"input": x[None].astype(np.float32)})[0].argmax())])
print(json.dumps(top1))
"""


def test_serving_from_the_onnx_metadata_alone_gives_the_pipeline_top1(built):
    """A serving team's own numpy/PIL code, reading only the ONNX file's metadata, classifies the whole test split
    exactly as the pipeline's model does (torch, through the streaming dataset)."""
    import subprocess
    import sys

    from graftline.data.dataset import load_split
    from graftline.eval.logits import predict_logits
    from graftline.models import weights

    p, _ = built
    model, card = weights.load(p / "models/finetuned/seed-0/model")
    test = load_split(p / "data/prepared", p, "test", card.in_chans, card.preprocess.size, card.preprocess)
    pipeline = [test.classes[i] for i in predict_logits(model, test.data, card.preprocess.mean,
                                                         card.preprocess.std).argmax(1)]
    files = [str(test.data.root / q) for q in test.data.paths]
    r = subprocess.run([sys.executable, "-c", SERVE, str(p / "models/export/model.onnx"), *files],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout) == pipeline and len(pipeline) == len(test) > 0


def _predict_test_split(p: Path, model_dir: str):
    """(true labels, predicted) of one saved model on the project's test split, loaded here (not by check)."""
    from graftline.data.dataset import load_split
    from graftline.eval.logits import predict_logits
    from graftline.models import weights

    model, card = weights.load(p / model_dir / "model")
    pre = card.preprocess
    test = load_split(p / "data/prepared", p, "test", card.in_chans, pre.size, pre)
    return test.y.numpy(), predict_logits(model, test.data, pre.mean, pre.std).argmax(1).numpy()


def test_repro_lineage_and_staleness(built):
    p, first_output = built
    assert ran(first_output) == set(STAGES)

    # Outputs and their contracts.
    sel = json.loads((p / "reports/selection.json").read_text())
    assert {e["candidate"] for e in sel["ranking"]} == {f"zoo:{c['id']}" for c in TINY["zoo"]["candidates"]}
    assert sel["selected"] == sel["ranking"][0]["candidate"] and "logme" in sel["ranking"][0]
    meta = json.loads((p / "models/finetuned/seed-0/model.json").read_text())
    for key in ("card_version", "architecture", "model_kwargs", "num_classes", "in_chans", "label_names", "preprocess",
                "lineage"):
        assert key in meta
    prepared = json.loads((p / "data/prepared/meta.json").read_text())
    assert meta["lineage"]["data_hash"] == prepared["data_hash"] and meta["lineage"]["source"] == sel["selected"]
    assert meta["preprocess"]["max_pixels"] == prepared["max_pixels"]
    chk = json.loads((p / "metrics/check.json").read_text())
    # The seed-0 row, recomputed from the two seed-0 models loaded here and run on the test split.
    (y, transfer), (_, scratch) = (_predict_test_split(p, f"models/{arm}/seed-0") for arm in ("finetuned", "baseline"))
    row = chk["per_seed"][0]
    assert row["seed"] == 0 and row["transfer_acc"] == pytest.approx(np.mean(transfer == y))
    assert row["scratch_acc"] == pytest.approx(np.mean(scratch == y))
    assert row["ntg"] == pytest.approx(np.mean(transfer != y) - np.mean(scratch != y))
    from scipy.stats import binomtest

    b, c = int(np.sum((transfer == y) & (scratch != y))), int(np.sum((transfer != y) & (scratch == y)))
    assert (row["transfer_only_right"], row["scratch_only_right"]) == (b, c)
    assert row["mcnemar_p"] == pytest.approx(1.0 if b + c == 0 else binomtest(min(b, c), b + c, 0.5).pvalue)
    saved = json.loads((p / "reports/test_predictions.json").read_text())  # what the report shows, not re-run
    assert saved["labels"] == y.tolist() and saved["seeds"][0]["transfer"] == transfer.tolist()
    exp = json.loads((p / "metrics/export.json").read_text())
    assert exp["parity_max_abs_diff"] <= 1e-4 and exp["top1_agreement"] == 1.0
    assert chk["seeds"] == SEEDS and len(chk["per_seed"]) == len(SEEDS) and chk["exported_seed"] == SEEDS[0]
    assert chk["ntg_low"] <= chk["ntg"] <= chk["ntg_high"]
    assert (p / "metrics/finetune/seed-0/plots/metrics/val_acc.tsv").is_file()
    assert (p / "metrics/finetune/seed-0/curves.png").stat().st_size > 1000
    lock = yaml.safe_load((p / "dvc.lock").read_text())
    assert set(lock["stages"]) == set(STAGES)

    # dvc metrics show: the numbers that judge the run, key ones first; no timings, no hashes.
    m = dvc("metrics", "show", "--json", cwd=p)
    assert m.returncode == 0, m.stderr
    (shown,) = [f["data"] for f in json.loads(m.stdout).values()]
    assert set(shown) == {"metrics/run.json", "metrics/compare.json"}  # the run's numbers; champion vs challenger
    run = shown["metrics/run.json"]
    assert list(run["data"])[:3] == ["transfer_acc", "scratch_acc", "ntg"]
    assert all(isinstance(v, (int, float)) for v in run["data"].values())
    assert not [k for k in run["data"] if "second" in k or "sha" in k or k.endswith("_s")]

    # Nothing changed: nothing runs.
    r = dvc("repro", cwd=p)
    assert r.returncode == 0 and ran(r.stdout) == set(), r.stdout

    # A key only fine-tuning reads: finetune, check and export re-run; baseline and upstream do not.
    write_params(p, deep_update(TINY, {"finetune": {"lr": 0.002}}))
    r = dvc("repro", cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ran(r.stdout) == {"params-check", *(f"finetune@{s}" for s in SEEDS), *LOOKS[1:], "check", "export",
                             "compare", "report"}, r.stdout  # the looks after the first score the re-trained arms

    # One more seed: only its pair trains (every other seed's arms are cached by DVC), then the verdict is redone.
    # (min_seeds 3: all three pairs, so no look can settle early; the looks are re-taken, cheap, and their gates are
    # byte-identical, so no other pair re-trains.)
    more = SEEDS + [7]
    write_params(p, deep_update(TINY, {"finetune": {"lr": 0.002}, "check": {"seeds": more, "min_seeds": 3}}))
    r = dvc("repro", cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    # (compare re-runs only when export wrote another file: the same seed's model, but INT8 is kept or not by timing)
    assert ran(r.stdout) - {"compare"} == {"params-check", "look-first", *(f"look@{s}" for s in more[1:]),
                                           "finetune@7", "baseline@7", "check", "export", "report"}, r.stdout
    assert json.loads((p / "metrics/check.json").read_text())["seeds"] == more

    # The exported model predicts through the CLI.
    img = next((p / "data/demo/digits/7").glob("*.png"))
    out = graftline("predict", str(img), "--top-k", "2", cwd=p, check=True)
    assert str(img) in out.stdout and out.stdout.count("(") == 2

    # The gate: an impossible max_ntg makes check exit 1 after writing its metrics.
    write_params(p, deep_update(TINY, {"finetune": {"lr": 0.002}, "check": {"max_ntg": -1.0, "seeds": more}}))
    r = graftline("check", cwd=p)
    assert r.returncode == 1 and "negative transfer" in r.stderr and "NTG" in r.stderr
    assert json.loads((p / "metrics/check.json").read_text())["passed"] is False

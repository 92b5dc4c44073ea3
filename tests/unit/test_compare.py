"""The champion-vs-challenger comparison: the paired interval, the four outcomes, and the self-comparison error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from graftline.compare.drift import drift
from graftline.compare.stats import decide, paired_delta


def _pair(n: int, acc_new: float, acc_old: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random(n) < acc_new, rng.random(n) < acc_old


def test_delta_is_the_paired_difference_and_the_interval_holds_it():
    new = np.array([1, 1, 1, 0, 0, 1, 1, 0], bool)
    old = np.array([1, 0, 0, 0, 1, 1, 1, 0], bool)
    s = paired_delta(new, old, confidence=0.95, bootstrap=4000)
    assert (s["b"], s["c"]) == (2, 1)  # only-new-right, only-old-right
    assert s["delta"] == pytest.approx(1 / 8) == pytest.approx(s["challenger_acc"] - s["champion_acc"])
    assert s["low"] <= s["delta"] <= s["high"]
    assert s["p"] == pytest.approx(1.0)  # McNemar exact on 2 vs 1 discordant images


def test_images_where_both_agree_do_not_widen_the_interval():
    """Pairing: the images both get right (or wrong) carry no variance; an unpaired interval would count them."""
    new, old = _pair(2000, 0.8, 0.8, seed=1)
    old = new.copy()
    old[:40] = ~old[:40]  # 40 discordant images only
    s = paired_delta(new, old, bootstrap=2000)
    assert s["high"] - s["low"] < 0.02  # unpaired, two 80 % accuracies on 2000 images: about 0.05 wide


def test_coverage_of_the_interval_on_simulated_draws():
    """A 95 % interval holds the true difference in about 95 % of draws (paired, correlated models)."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        u = rng.random(400)
        new, old = u < 0.75, (u + rng.normal(0, 0.15, 400)) < 0.70  # true delta: about 0.05
        s = paired_delta(new, old, bootstrap=1000, seed=int(rng.integers(1 << 30)))
        truth = 0.75 - float(np.mean(rng.random(200_000) + rng.normal(0, 0.15, 200_000) < 0.70))
        hits += s["low"] <= truth <= s["high"]
    assert hits >= 180, hits


@pytest.mark.parametrize("low,high,mode,margin,want", [
    (0.01, 0.05, "superiority", 0.0, "promote"),
    (-0.01, 0.05, "superiority", 0.0, "inconclusive"),
    (-0.08, -0.01, "superiority", 0.0, "keep"),
    (-0.015, 0.01, "non_inferiority", 0.02, "promote"),  # at most 2 points worse: ships
    (-0.03, 0.01, "non_inferiority", 0.02, "inconclusive"),
    (-0.09, -0.03, "non_inferiority", 0.02, "keep"),
    (0.01, 0.03, "superiority", 0.02, "inconclusive"),  # better, but not by the margin for sure
])
def test_decision_from_the_interval(low, high, mode, margin, want):
    decision, why = decide(low, high, mode, margin)
    assert decision == want
    assert f"[{low:+.4f}, {high:+.4f}]" in why and mode in why


def test_no_champion_is_first_and_no_image_left_is_inconclusive():
    assert decide(None, None, "superiority", 0.0, has_champion=False)[0] == "first"
    decision, why = decide(None, None, "non_inferiority", 0.02)
    assert decision == "inconclusive" and "every" in why
    assert paired_delta(np.zeros(0, bool), np.zeros(0, bool))["delta"] is None


def test_drift_is_zero_on_the_same_data_and_large_on_a_new_class():
    labels = ["0", "1", "2"] * 30
    profile = {"features": {"class": {"kind": "categorical", "bins": ["0", "1", "2"], "shares": [1 / 3] * 3},
                            "width": {"kind": "numeric", "edges": [8.0], "shares": [1.0, 0.0]}}}
    same = {f.feature: f.psi for f in drift(profile, labels, [8] * 90, [8] * 90)}
    assert same == {"class": pytest.approx(0, abs=1e-6), "width": pytest.approx(0, abs=1e-6)}
    shifted = {f.feature: f.psi for f in drift(profile, labels + ["3"] * 60, [16] * 150, [8] * 150)}
    assert shifted["class"] > 0.25 and shifted["width"] > 0.25


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """A prepared 3-class folder and two real exported ONNX models of it: strong (60 steps) and weak (1 step)."""
    import shutil

    import torch
    from PIL import Image

    from graftline.config import DataParams, ExportParams
    from graftline.data.dataset import ArrayData, load_split
    from graftline.data.prepare import run_prepare
    from graftline.export.onnx import run_export
    from graftline.models import weights
    from graftline.models.card import Lineage, ModelCard, Preprocess
    from graftline.project import Project
    from graftline.train.loop import FitData, fit
    from graftline.train.recipe import Recipe
    from tests.unit.test_export import write_check

    root = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / "images" / f"c{c}").mkdir(parents=True)
        for i in range(60):
            a = (rng.random((24, 24)) * 90).astype(np.uint8)
            a[:, c * 8: c * 8 + 8] += 60 + int(rng.integers(0, 60))
            Image.fromarray(a, "L").save(root / "images" / f"c{c}" / f"{i}.png")
    meta = run_prepare(DataParams(source="folder", root="images", train_per_class=None, val_per_class=None,
                                  val_fraction=0.2, test_fraction=0.5), root, root / "data/prepared", progress=False)
    train = load_split(root / "data/prepared", root, "train", 1, (24, 24))
    out = {}
    for name, steps in (("strong", 60), ("weak", 1)):
        torch.manual_seed(0)
        model = weights.create("test_resnet", 3, 1)
        fit(model, FitData(ArrayData(train.tensors(), train.y), None, [0.3], [0.3]),
            Recipe(steps=steps, batch_size=16, lr=3e-3, eval_every=steps, augment=False, device="cpu"))
        weights.save(root / "models/finetuned/seed-0/model", model, ModelCard(
            architecture="test_resnet", num_classes=3, in_chans=1, label_names=train.classes,
            preprocess=Preprocess(input_size=[1, 24, 24], mean=[0.3], std=[0.3], color_mode="grayscale",
                                  max_pixels=meta.max_pixels),
            lineage=Lineage(source="zoo:test", data_hash=meta.data_hash, params_hash="p0")))
        write_check(root, passed=True)
        run_export(ExportParams(int8="off"), Project(root), 0)
        out[name] = root / f"{name}.onnx"
        shutil.copy(root / "models/export/model.onnx", out[name])
    return root, out


def _champion(root, onnx, manifest_rows=None, version="v1.0.0"):
    import shutil

    d = root / ".graftline" / "champion"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    (d / "champion.json").write_text(json.dumps({"version": version, "commit": "c0ffee" * 6, "message": "first",
                                                 "tag": f"graftline-classifier#prod#1"}))
    shutil.copy(onnx, d / "model.onnx")
    lines = (root / "data/prepared/manifest.csv").read_text().splitlines()
    (d / "manifest.csv").write_text("\n".join(lines if manifest_rows is None else [lines[0], *manifest_rows]) + "\n")
    return d


def _as_exported(onnx_file: Path, proj) -> None:
    """Put ``onnx_file`` at models/export as the export stage would: with its SHA256SUMS."""
    import shutil

    from graftline.models.runtime import write_sums

    shutil.copy(onnx_file, proj.onnx_model)
    write_sums(proj.onnx_model.parent)


@pytest.mark.slow  # two real trainings and ONNX exports (about a minute here): not in `make test-fast`
def test_the_stage_on_real_models(two_models):
    """run_compare on real ONNX models: first with no champion; a weak challenger is kept out, a strong one
    promoted; the images the champion trained or validated on are left out; a self-comparison is an error."""
    import shutil

    from graftline.compare import run_compare
    from graftline.config import CompareParams
    from graftline.errors import ModelError
    from graftline.project import Project
    from graftline.results import CompareResult

    root, onnx = two_models
    proj, p = Project(root), CompareParams()
    d = proj.champion
    d.mkdir(parents=True, exist_ok=True)
    (d / "champion.json").write_text(json.dumps({"version": None}))
    _as_exported(onnx["strong"], proj)
    r = run_compare(p, proj)
    assert r.decision == "first" and r.champion is None
    assert CompareResult.read(proj.compare_json).decision == "first"  # metrics/compare.json, read back

    _champion(root, onnx["strong"])  # strong in prod, weak challenger
    _as_exported(onnx["weak"], proj)
    r = run_compare(p, proj)
    assert r.decision == "keep", r.why
    assert r.delta < 0 and r.delta_high < -p.margin and r.champion.version == "v1.0.0"
    assert r.compared_images == r.test_images > 60 and r.excluded_images == 0  # the champion saw no test image
    assert {c.label for c in r.per_class} == {"c0", "c1", "c2"} and sum(c.images for c in r.per_class) == r.test_images

    _champion(root, onnx["weak"])  # the other way round
    _as_exported(onnx["strong"], proj)
    r = run_compare(p, proj)
    assert r.decision == "promote" and r.delta > 0, r.why

    # A champion trained on some of today's test images: those are left out, by content.
    test_rows = [ln for ln in (root / "data/prepared/manifest.csv").read_text().splitlines()[1:] if ",test," in ln]
    _champion(root, onnx["weak"], [ln.replace(",test,", ",train,") for ln in test_rows[:30]])
    r = run_compare(p, proj)
    assert (r.excluded_images, r.compared_images) == (30, r.test_images - 30)

    _champion(root, onnx["strong"])  # the model in prod is the challenger itself
    with pytest.raises(ModelError, match="same weights"):
        run_compare(p, proj)

    # A challenger changed after export (copied over, its SHA256SUMS not rewritten) is refused, not scored.
    shutil.copy(onnx["weak"], proj.onnx_model)
    with pytest.raises(ModelError, match="changed after export"):
        run_compare(p, proj)

"""The README's own-images tutorial, step by step, as a user runs it: `graftline init` on a folder of photos ->
`dvc repro` -> `graftline predict`, with a `hub:` candidate loaded from a Hugging Face cache (offline)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw

from tests.conftest import BIN, env

CLASSES = ("circles", "squares", "stripes")


def make_photos(root: Path, per_class: int = 14, seed: int = 0) -> Path:
    """RGB JPEG 'photos' of mixed sizes, one sub-folder per class, each class a different shape."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            w, h = (int(v) for v in rng.integers(40, 97, 2))
            base = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
            im = Image.fromarray(base, "RGB").resize((w, h), Image.BILINEAR)
            d = ImageDraw.Draw(im)
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            x, y, s = int(rng.integers(0, w // 3)), int(rng.integers(0, h // 3)), int(min(w, h) // 2)
            if name == "circles":
                d.ellipse((x, y, x + s, y + s), fill=fill)
            elif name == "squares":
                d.rectangle((x, y, x + s, y + s), fill=fill)
            else:
                for k in range(0, w, 8):
                    d.rectangle((k, 0, k + 3, h), fill=fill)
            im.save(root / name / f"IMG_{i:04d}.jpg", quality=90)
    return root


def hf_cache(home: Path, name: str = "test_resnet.r160_in1k") -> None:
    """Lay out a Hugging Face hub cache holding timm weights for ``name`` (made here: no network), the way
    `hf download` leaves it, so the real timm -> huggingface_hub loading path runs offline."""
    import timm
    from safetensors.torch import save_file

    model = timm.create_model(name.split(".")[0], pretrained=False)
    repo = home / "hub" / f"models--timm--{name}"
    commit = "0" * 40
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(snap / "model.safetensors"))
    (snap / "config.json").write_text(json.dumps({"architecture": name.split(".")[0], "num_classes": 1000}))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def run(*cmd: str, cwd: Path, e: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=e)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.mark.slow
def test_own_images_tutorial(tmp_path: Path):
    photos = make_photos(tmp_path / "photos")
    e = {**env(), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    e.pop("HF_HUB_CACHE", None)
    graftline = str(BIN / "graftline")
    # Nothing cached yet: init says exactly what to put in the cache, and where.
    r = run(graftline, "init", str(tmp_path / "first"), "--images", str(photos), "--in-place",
            "--candidate", "hub:test_resnet.r160_in1k", cwd=tmp_path, e=e)
    assert "timm/test_resnet.r160_in1k/model.safetensors" in r.stderr and str(tmp_path / "hf" / "hub") in r.stderr
    hf_cache(tmp_path / "hf")

    # Step 1: init (the images copied into data/raw and tracked by DVC).
    r = run(graftline, "init", "my-project", "--images", str(photos), "--candidate", "hub:test_resnet.r160_in1k",
            "--steps", "6", "--batch-size", "8", "--seeds", "2", cwd=tmp_path, e=e)
    assert "not in the Hugging Face cache" not in r.stderr
    proj = tmp_path / "my-project"
    params = yaml.safe_load((proj / "params.yaml").read_text())
    assert params["data"]["train_per_class"] is None and params["data"]["near_duplicate_distance"] == 4
    assert "zoo" not in params and "demo" not in params
    stages = yaml.safe_load((proj / "dvc.yaml").read_text())["stages"]
    assert "zoo" not in stages and "demo" not in stages
    assert (proj / "data/raw.dvc").is_file() and (proj / ".git").is_dir() and (proj / ".dvc").is_dir()
    # The "pretrained" weights in this cache are randomly initialised, so the two arms tie in expectation: the
    # gate is left as init writes it (max_ntg 0, on_inconclusive warn) and must call the tie inconclusive, not block.
    assert params["check"]["max_ntg"] == 0 and params["check"]["on_inconclusive"] == "warn"
    params["finetune"]["eval_every"] = 3
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    # Step 2: dvc repro (every stage, from the installed package).
    r = run("dvc", "repro", cwd=proj, e=e)
    check = json.loads((proj / "metrics/check.json").read_text())
    assert check["verdict"] == "inconclusive" and check["passed"] and check["seeds"] == [0, 1]
    assert check["ntg_low"] <= 0 <= check["ntg_high"]
    assert "inconclusive" in r.stdout + r.stderr  # the warning, with its advice, reaches the user
    s = run(graftline, "summary", cwd=proj, e=e).stdout
    assert "inconclusive" in s and f"{check['ntg_low']:+.3f}" in s
    report = json.loads((proj / "reports/validation.json").read_text())
    assert report["passed"] and report["scanned"] == 42 == report["images"]
    sel = json.loads((proj / "reports/selection.json").read_text())
    assert sel["selected"] == "hub:test_resnet.r160_in1k"
    assert (proj / "models/export/model.onnx").is_file()

    # Step 3: classify a new photo.
    new = make_photos(tmp_path / "new", per_class=1, seed=9)
    r = run(graftline, "predict", str(new / "circles/IMG_0000.jpg"), cwd=proj, e=e)
    assert any(c in r.stdout for c in CLASSES)

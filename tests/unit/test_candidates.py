"""Candidates beyond the zoo: timm hub names through a real (offline) Hugging Face cache, local weight files, and
loading that never runs code from a pickle."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graftline.errors import ModelError
from graftline.models import candidates, weights
from graftline.models.candidates import Candidate
from graftline.models.card import Lineage, ModelCard, Preprocess


class Payload:
    """Unpickling this runs a shell command: what a malicious checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_with_a_payload_is_refused_and_the_payload_never_runs(tmp_path: Path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    state = weights.create("test_resnet", 4, 1).state_dict()
    with evil.open("wb") as f:  # the format torch.save writes, with a payload next to the weights
        torch.save({"state_dict": state, "extra": Payload(marker)}, f)
    c = Candidate("file:evil.pth", "file", str(evil), "test_resnet")
    with pytest.raises(ModelError) as err:
        candidates.load(c, tmp_path)
    msg = str(err.value)
    assert "file:evil.pth" in msg and "refused" in msg and "safetensors" in msg
    assert not marker.exists()
    # Sanity: the payload is real — an unsafe load would have run it.
    subprocess.run([sys.executable, "-c", f"import torch; torch.load({str(evil)!r}, weights_only=False)"], check=False,
                   capture_output=True)
    assert marker.exists()


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_plain_weight_files_load_with_source_head_and_channels_read_from_the_tensors(tmp_path: Path, suffix):
    torch.manual_seed(0)
    src = weights.create("test_resnet", 7, 1).eval()
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(src.state_dict(), str(path))
    else:
        torch.save({"model": {f"module.{k}": v for k, v in src.state_dict().items()}}, path)  # a DDP checkpoint
    model, card = candidates.load(Candidate(f"file:{path.name}", "file", path.name, "test_resnet"), tmp_path)
    assert card.num_classes == 7 and card.in_chans == 1 and card.architecture == "test_resnet"
    assert card.lineage.source == f"file:{path.name}" and card.preprocess.input_size[0] == 1
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(model(x), src(x))
    with pytest.raises(ModelError, match="do not fit timm's 'resnet10t'"):
        candidates.load(Candidate("file:w", "file", str(path), "resnet10t"), tmp_path)


def test_checkpoint_wrappers_are_read_with_timms_semantics(tmp_path: Path):
    """timm's load_state_dict: the EMA weights win over the raw ones, torch.compile + DDP prefixes are stripped, and
    a wrapper timm does not know is refused with the keys it holds (never guessed at)."""
    torch.manual_seed(0)
    ema, raw = weights.create("test_resnet", 3, 1).eval(), weights.create("test_resnet", 3, 1)
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": raw.state_dict(),
                "state_dict_ema": {f"_orig_mod.module.{k}": v for k, v in ema.state_dict().items()}}, path)
    model, _ = candidates.load(Candidate("file:ckpt.pth", "file", "ckpt.pth", "test_resnet"), tmp_path)
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(model(x), ema(x))
    torch.save({"model_state_dict": raw.state_dict(), "optimizer": {}}, tmp_path / "other.pth")
    with pytest.raises(ModelError, match="holds no state dict of tensors .*keys model_state_dict, optimizer"):
        candidates.load(Candidate("file:other.pth", "file", "other.pth", "test_resnet"), tmp_path)


def test_resolve_names_and_errors(tmp_path: Path):
    zoo = tmp_path / "models" / "zoo"
    zoo.mkdir(parents=True)
    for i in ("a.digits", "b.digits"):
        weights.save(zoo / i, weights.create("test_resnet", 3, 1), ModelCard(
            architecture="test_resnet", num_classes=3, in_chans=1, label_names=list("abc"),
            preprocess=Preprocess(input_size=[1, 32, 32], mean=[0.5], std=[0.25]),
            lineage=Lineage(source=f"zoo:{i}", data_hash="d", params_hash="p")))
    got = candidates.resolve(["zoo:*", "zoo:a.digits", "hub:resnet50.a1_in1k", "file:w/x.pth"], zoo, tmp_path)
    assert [c.name for c in got] == ["zoo:a.digits", "zoo:b.digits", "hub:resnet50.a1_in1k", "file:w/x.pth"]
    assert got[0].ref == "models/zoo/a.digits"  # relative: reports read the same in every checkout
    with pytest.raises(ModelError, match="not in .*present: a.digits, b.digits"):
        candidates.resolve(["zoo:c.digits"], zoo, tmp_path)
    with pytest.raises(ModelError, match="no architecture given"):
        candidates.load(Candidate("file:w/x.pth", "file", "w/x.pth"), tmp_path)


HUB_SCRIPT = r"""
import json, sys
from pathlib import Path
from graftline.models.candidates import Candidate, load
from graftline.errors import ModelError
for name in sys.argv[1:]:  # several in one interpreter: torch and timm are imported once
    try:
        model, card = load(Candidate("hub:" + name, "hub", name), Path("."))
        print(json.dumps(card.model_dump(mode="json")))
    except ModelError as exc:
        print("ModelError:", exc)
"""


def test_hub_candidate_loads_offline_from_a_hugging_face_cache(tmp_path: Path):
    """A real HF cache layout (refs/main -> snapshots/<commit>/model.safetensors), HF_HUB_OFFLINE=1: timm's own
    pretrained path finds the weights, with the weights the project made standing in for the hub's."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src = weights.create("test_resnet", 1000, 3)
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--timm--test_resnet.r160_in1k"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    save_file(src.state_dict(), str(repo / "snapshots" / commit / "model.safetensors"), metadata={"format": "pt"})
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HOME": str(tmp_path / "hf")}
    # the cached model, then one that is not in the cache (and offline), in one process
    out = subprocess.run([sys.executable, "-c", HUB_SCRIPT, "test_resnet.r160_in1k", "test_convnext.r160_in1k"],
                         env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    found, missing = [ln for ln in out.stdout.splitlines() if ln.startswith(("{", "ModelError:"))]
    card = json.loads(found)
    assert {k: card[k] for k in ("architecture", "num_classes", "in_chans")} == {
        "architecture": "test_resnet.r160_in1k", "num_classes": 1000, "in_chans": 3}
    pre = card["preprocess"]  # timm's data config for that tag, interpolation and crop_pct included
    assert (pre["input_size"], pre["mean"], pre["interpolation"], pre["crop_pct"]) == (
        [3, 160, 160], [0.5, 0.5, 0.5], "bilinear", 0.95)
    assert card["lineage"] == {**card["lineage"], "source": "hub:test_resnet.r160_in1k", "data_hash": None}
    assert "ModelError: candidate hub:test_convnext.r160_in1k" in missing
    assert "not in the Hugging Face cache" in missing and "HF_HOME" in missing

"""params.yaml is validated up front: a typo or a bad value exits 2 with a message naming the key."""

from pathlib import Path

import pytest
import yaml

from graftline.config import load_params
from graftline.errors import ConfigError
from tests.conftest import REPO, cli, graftline, write_params


def test_shipped_params_load():
    p = load_params(REPO / "params.yaml")
    assert p.data.source == "demo"
    assert 3 <= p.data.train_per_class <= 5  # the few-label regime transfer learning is for
    assert len(p.zoo.candidates) >= 3


@pytest.mark.parametrize("override, key, fragment", [
    ({"finetune": {"lrr": 0.1}}, "finetune.lrr", "did you mean 'lr'"),
    ({"finetune": {"lr": -1}}, "finetune.lr", "greater than 0"),
    ({"finetune": {"steps": "many"}}, "finetune.steps", "valid integer"),
    ({"data": {"source": "s3"}}, "data.source", "'demo', 'folder' or 'csv'"),
    ({"validate": {"min_width": 0}}, "validate.min_width", "greater than or equal to 1"),
    ({"data": {"val_fraction": 0.6, "test_fraction": 0.5}}, "data", "val_fraction + test_fraction"),
    ({"finetune": {"steps": 20, "warmup_steps": 20}}, "finetune", "warmup_steps (20) must be below steps (20)"),
    ({"bogus": {}}, "bogus", "unknown key"),
    ({"finetune": {"lr": float("nan")}}, "finetune.lr", "give a finite value"),  # YAML .nan
    ({"check": {"confidence": float("inf")}}, "check.confidence", "give a finite value"),  # YAML .inf
    ({"finetune": {"steps": 10**20}}, "finetune.steps", "beyond any count, size or seed"),
    ({"data": {"seed": -(2**40)}}, "data.seed", "beyond any count, size or seed"),
    ({"check": {"seeds": [0, 2**33]}}, "check.seeds", "beyond any count, size or seed"),
])
def test_bad_params_name_the_key(tmp_path: Path, override, key, fragment):
    write_params(tmp_path, override)
    with pytest.raises(ConfigError) as err:
        load_params(tmp_path / "params.yaml")
    msg = str(err.value)
    assert f"{key}:" in msg and fragment in msg, msg


def test_yaml_anchors_and_aliases_are_read_as_yaml_means_them(tmp_path: Path):
    """An alias repeats the anchored value (YAML's own semantics, DVC reads the same file the same way)."""
    text = (REPO / "params.yaml").read_text().replace("  steps: 300", "  steps: &budget 120", 1)
    assert "&budget" in text
    text = text.replace("  probe_steps: 200", "  probe_steps: *budget", 1)
    (tmp_path / "params.yaml").write_text(text)
    p = load_params(tmp_path / "params.yaml")
    assert p.finetune.steps == p.finetune.probe_steps == 120


def test_cli_exits_2_without_traceback(tmp_path: Path):
    """The installed console script itself (the subprocess is the point: its exit status and stderr)."""
    write_params(tmp_path, {"finetune": {"lr": "fast"}})
    # one real process for the exit status a shell sees; the other command in-process (the same main(), no second
    # interpreter importing torch)
    for cmd, run in (("prepare", graftline), ("export", cli)):
        r = run(cmd, cwd=tmp_path)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert "finetune.lr" in r.stderr and "Traceback" not in r.stderr


def test_params_option_and_missing_file(tmp_path: Path):
    r = cli("--params", "nope.yaml", "prepare", cwd=tmp_path)
    assert r.returncode == 2 and "nope.yaml" in r.stderr and "not found" in r.stderr


def test_not_yaml(tmp_path: Path):
    (tmp_path / "params.yaml").write_text("data: [unclosed\n")
    r = cli("prepare", cwd=tmp_path)
    assert r.returncode == 2 and "not valid YAML" in r.stderr


def test_duplicate_zoo_ids_rejected(tmp_path: Path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    c = params["zoo"]["candidates"][0]
    write_params(tmp_path, {"zoo": {"candidates": [c, c]}})
    with pytest.raises(ConfigError, match="repeated: resnet10t.digits"):
        load_params(tmp_path / "params.yaml")

"""One error contract for the command line: every usage error is one paragraph on stderr and exit 2 (1 means a gate
failed), never a traceback, whichever click typer raises (typer >= 0.29 vendors it as ``typer._click``)."""

import subprocess
import sys

import pytest

from graftline.cli import main

USAGE_ERRORS = {
    "unknown command": ["nosuchcmd"],
    "missing argument": ["init"],
    "unknown option": ["init", "p", "--bogus"],
    "value out of range": ["init", "p", "--images", "shapes", "--steps", "-3"],
    "value of the wrong type": ["init", "p", "--images", "shapes", "--seeds", "three"],
    "value not in the choices": ["predict", "x.png", "--format", "xml"],
    "option without its value": ["predict", "x.png", "--top-k"],
}


def _run_main(monkeypatch, capsys, argv):
    monkeypatch.setattr(sys, "argv", ["graftline", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_usage_error_is_one_paragraph_and_exit_2(case, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)  # nothing may be created by a refused command
    code, out, err = _run_main(monkeypatch, capsys, USAGE_ERRORS[case])
    assert code == 2, (case, out, err)
    assert "Traceback" not in out + err
    assert err.startswith("graftline") and ": error: " in err and err.count("\n") == 1, err  # one paragraph
    assert "--help" in err  # where to read more
    assert not any(tmp_path.iterdir())


def test_the_installed_entry_point_prints_no_traceback(tmp_path):
    """The same through a real process: what a user's shell sees (stderr and exit status)."""
    proc = subprocess.run([sys.executable, "-c", "from graftline.cli import main; main()",
                           "init", "p", "--images", "shapes", "--steps", "-3"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Invalid value for '--steps'" in proc.stderr


def test_a_graftline_error_keeps_its_own_exit_code(monkeypatch, capsys, tmp_path):
    """Bad input found by graftline itself (not by the parser) is exit 2 too, with the fix in its message."""
    monkeypatch.chdir(tmp_path)
    code, _, err = _run_main(monkeypatch, capsys, ["init", "p", "--images", str(tmp_path / "missing")])
    assert code == 2 and "Traceback" not in err and "graftline init: error:" in err


def test_a_diverging_fit_is_a_model_error_naming_the_steps_and_the_fix():
    """A NaN loss stops training with the steps and the fix (not a NaN model saved as if it had trained)."""
    import torch

    from graftline.data.dataset import ArrayData
    from graftline.errors import ModelError
    from graftline.models import weights
    from graftline.train.loop import FitData, fit
    from graftline.train.recipe import Recipe
    from tests.conftest import toy_bars

    x, y = toy_bars(32, 0)
    x = x.clone()
    x[0] = float("nan")  # one poisoned image: every batch that holds it has a NaN loss
    recipe = Recipe(steps=6, batch_size=32, lr=0.01, eval_every=3, augment=False, device="cpu")
    with pytest.raises(ModelError, match=r"not finite\) in steps 1-3 of 6 .*Fix: lower the learning rate"):
        fit(weights.create("test_resnet", 3, 1), FitData(ArrayData(x, y), None, [0.5], [0.25]), recipe)


def test_validate_prints_no_gx_noise(tmp_path):
    """validate.data_docs is false: GX makes no temporary docs site and says nothing about one."""
    from tests.conftest import cli, write_params
    from tests.unit.test_manifest import make_folder

    make_folder(tmp_path / "images", per_class=4)
    write_params(tmp_path, {"data": {"source": "folder", "root": "images", "train_per_class": None,
                                     "val_per_class": None, "val_fraction": 0.25, "test_fraction": 0.25}})
    cli("prepare", cwd=tmp_path, check=True)
    r = cli("validate", cwd=tmp_path, check=True)
    assert "rules passed" in r.stdout
    assert "ephemeral docs site" not in r.stdout + r.stderr and "Created temporary directory" not in r.stderr

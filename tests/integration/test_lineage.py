"""Lineage probes measured with DVC itself on the tiny project: what `dvc status` calls stale after an edit of a
module, a params key or a file a stage reads; and a params typo, with every output present, deletes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.conftest import BIN
from tests.integration.conftest import copy_of

ARMS = {"finetune@0", "finetune@1", "baseline@0", "baseline@1"}


def _env(p: Path) -> dict:
    # The project's own src/graftline is the installed graftline here, as the repository's is in a checkout;
    # no .pyc written into it (DVC would see the folder params-check depends on change).
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(p / "src"),
            "PYTHONDONTWRITEBYTECODE": "1", "DVC_NO_ANALYTICS": "1"}


def _dvc(p: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "dvc"), *args], cwd=p, capture_output=True, text=True, env=_env(p))


def stale(p: Path) -> set[str]:
    r = _dvc(p, "status", "--json")
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stdout or "{}"))


def restamp(p: Path) -> set[str]:
    """Run params-check alone (a second), then what is stale: the stages whose code stamp changed."""
    r = _dvc(p, "repro", "--single-item", "params-check")
    assert r.returncode == 0, r.stdout + r.stderr
    return stale(p)


def _edit(path: Path, old: str, new: str) -> str:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))
    return text


def test_edits_stale_exactly_the_stages_that_read_them(tiny_git_repo: Path, tmp_path: Path):
    p = copy_of(tiny_git_repo, tmp_path / "proj")
    assert stale(p) == set()
    pkg = p / "src" / "graftline"

    # a message in the CLI: only params-check (which rewrites identical stamps), then nothing
    cli = _edit(pkg / "cli.py", "select: {report.selected}", "select: picked {report.selected}")
    assert stale(p) == {"params-check"}
    assert restamp(p) == set()
    (pkg / "cli.py").write_text(cli)

    # an adaptation method, with adapt.method none: no supervised arm runs it
    dann = _edit(pkg / "adapt" / "dann.py", "import", "import  ")
    assert restamp(p) == set()
    (pkg / "adapt" / "dann.py").write_text(dann)

    # the training loop: the zoo and both arms of every seed, nothing else (check follows once they re-run)
    loop = _edit(pkg / "train" / "loop.py", "import", "import  ")
    assert restamp(p) == {"zoo"} | ARMS
    (pkg / "train" / "loop.py").write_text(loop)
    assert restamp(p) == set()

    # adapt.candidate: the adapt section is declared by both arms (the source-only arm reads it too)
    params = _edit(p / "params.yaml", "  candidate: null", "  candidate: zoo:test_resnet.digits")
    assert stale(p) == {"params-check"} | ARMS
    (p / "params.yaml").write_text(params)
    assert restamp(p) == set()


def test_the_drift_reference_is_a_dep_of_validate_only(tiny_git_repo: Path, tmp_path: Path):
    p = copy_of(tiny_git_repo, tmp_path / "proj")
    shutil.copy(p / "reports/data_profile.json", p / "reference.json")
    _edit(p / "params.yaml", "  reference_profile: null", "  reference_profile: reference.json")
    r = _dvc(p, "repro")  # not declared yet: params-check refuses, before any output is touched
    assert r.returncode != 0 and "does not list it in deps" in r.stdout + r.stderr
    assert (p / "data/prepared").is_dir() and (p / "reports/validation.json").is_file()
    doc = yaml.safe_load((p / "dvc.yaml").read_text())
    doc["stages"]["validate"]["deps"].append("reference.json")
    (p / "dvc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    r = _dvc(p, "repro")
    assert r.returncode == 0, r.stdout + r.stderr
    assert stale(p) == set()
    ref = json.loads((p / "reference.json").read_text())
    ref["edited"] = True
    (p / "reference.json").write_text(json.dumps(ref))
    assert stale(p) == {"validate"}


def test_a_params_typo_deletes_nothing(tiny_git_repo: Path, tmp_path: Path):
    p = copy_of(tiny_git_repo, tmp_path / "proj")
    outputs = ["models/finetuned/seed-0/model.json", "metrics/finetune/seed-0.json", "metrics/check.json",
               "models/export/model.onnx", "reports/run.html"]
    good = (p / "params.yaml").read_text()
    for old, new, said in [("  strategy: ", "  stratgy: ", "stratgy"), ("  steps: 6", "  steps: -5", "steps"),
                           ("finetune:", "finetun:", "finetun")]:
        _edit(p / "params.yaml", old, new)
        r = _dvc(p, "repro")
        out = r.stdout + r.stderr
        assert r.returncode != 0 and "graftline params-check: error:" in out and said in out, out
        assert "failed to reproduce 'params-check'" in out and "Running stage 'finetune" not in out, out
        assert all((p / f).exists() for f in outputs), out
        (p / "params.yaml").write_text(good)
    assert restamp(p) == set()  # the stamps survived (persist): nothing downstream is stale

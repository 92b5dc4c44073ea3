"""DVC as a team uses it, on a tiny git project: a queued sweep compared with `dvc exp show` (numbers in every metric
cell, key metrics first), a local remote (push, fresh clone, pull, `dvc repro` is a no-op), and promotion of the
exported model only when its gates passed."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, TINY, deep_update, dvc, env, write_params
from tests.integration.conftest import git, ok

pytestmark = pytest.mark.slow


def promote(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.promote", "--project", str(project)], cwd=REPO,
                          capture_output=True, text=True, env=env())


def test_queued_sweep_compares_in_exp_show(tiny_git_repo: Path):
    repo = tiny_git_repo
    for lr in ("0.001", "0.003"):
        ok(dvc("exp", "run", "--queue", "-S", f"finetune.lr={lr}", cwd=repo))
    ok(dvc("queue", "start", "-j", "1", cwd=repo))
    deadline = time.monotonic() + 420
    while True:
        status = ok(dvc("queue", "status", cwd=repo))
        if not re.search(r"\b(Queued|Running)\b", status):
            break
        assert time.monotonic() < deadline, status
        time.sleep(3)
    assert status.count("Success") == 2, status
    table = list(csv.DictReader(io.StringIO(ok(dvc("exp", "show", "--csv", cwd=repo)))))
    header = list(table[0])
    metric_cols = [c for c in header if c not in ("Experiment", "rev", "typ", "Created", "parent", "State",
                                                  "Executor") and not c.startswith(("finetune.", "data.", "demo.",
                                                  "zoo.", "select.", "check.", "export.", "validate."))]
    assert metric_cols[:3] == ["transfer_acc", "scratch_acc", "ntg"], header  # key metrics first
    rows = [r for r in table if r["typ"] in ("baseline", "branch_commit", "branch_base") or r["Experiment"]]
    assert len(rows) >= 3, table  # main and the two experiments
    for r in rows:
        assert all(r[c] not in ("", "!") for c in metric_cols if c in ("transfer_acc", "ntg", "top1_agreement")), r
    lrs = {r["finetune.lr"] for r in rows}
    assert {"0.001", "0.003"} <= lrs, lrs


def test_remote_push_fresh_clone_pull_then_repro_is_a_no_op(tiny_git_repo: Path, tmp_path: Path):
    repo = tiny_git_repo
    ok(dvc("remote", "add", "-d", "local", str(tmp_path / "remote"), cwd=repo))
    git("add", ".dvc/config", cwd=repo)
    git("commit", "-qm", "local remote", cwd=repo)
    ok(dvc("push", cwd=repo))
    clone = tmp_path / "clone"
    git("clone", "-q", str(repo), str(clone), cwd=tmp_path)
    assert not (clone / "models").exists()
    ok(dvc("pull", cwd=clone))
    out = ok(dvc("repro", cwd=clone))
    assert "Running stage" not in out, out
    assert "Data and pipelines are up to date." in ok(dvc("status", cwd=clone))
    assert (clone / "models/export/model.onnx").read_bytes() == (repo / "models/export/model.onnx").read_bytes()


def test_promotion_only_when_every_gate_passed(tiny_git_repo: Path):
    repo = tiny_git_repo
    r = promote(repo)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "graftline-classifier#prod#1"
    assert {"graftline-classifier@v1.0.0", "graftline-classifier#prod#1"} <= set(git("tag", "--list", cwd=repo).split())
    # The registry view: DVC resolves the stage to the commit and fetches the model from the remote.
    got = repo.parent / "got.onnx"
    ok(dvc("artifacts", "get", str(repo), "graftline-classifier", "--stage", "prod", "-o", str(got), cwd=repo.parent))
    assert got.read_bytes() == (repo / "models/export/model.onnx").read_bytes()

    # A gate stops the next run: its stage stays stale, and the old model is not promoted in its place.
    write_params(repo, deep_update(TINY, {"check": {"max_ntg": -1.0}}))
    assert dvc("repro", cwd=repo).returncode != 0
    r = promote(repo)
    assert r.returncode != 0 and "refused" in r.stderr and "check" in r.stderr, r.stdout + r.stderr
    # A hand-edited metrics file that claims a failed gate is refused too, even with the pipeline clean.
    git("checkout", "--", "params.yaml", cwd=repo)
    ok(dvc("repro", cwd=repo))
    original = (repo / "metrics/run.json").read_text()
    m = json.loads(original)
    (repo / "metrics/run.json").write_text(json.dumps({**m, "export_passed": 0}))
    r = promote(repo)
    assert r.returncode != 0 and "refused" in r.stderr, r.stdout + r.stderr
    (repo / "metrics/run.json").write_text(original)  # the shared project back as the pipeline left it


def test_dvc_plots_with_templates(tiny_git_repo: Path):
    repo = tiny_git_repo
    plots = json.loads(ok(dvc("plots", "show", "--json", cwd=repo)))["data"]
    assert set(plots) >= {"training curves, both arms", "test confusion matrix", "selection score vs kNN accuracy"}
    curves = plots["training curves, both arms"][0]["content"]["data"]["values"]
    assert {Path(v["filename"]).parts[0] for v in curves} == {"finetune", "baseline"}  # both arms, one plot
    cells = plots["test confusion matrix"][0]["content"]["data"]["values"]
    n_test = json.loads((repo / "metrics/check.json").read_text())["test_images"]
    assert len(cells) == n_test and {"actual", "predicted"} <= set(cells[0])
    for png in ("curves", "confusion", "selection"):  # the offline copies beside them
        assert (repo / "reports/figures" / f"{png}.png").stat().st_size > 1000

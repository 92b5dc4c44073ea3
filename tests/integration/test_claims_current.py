"""The README's claims are current: the committed metrics/run.json is what the committed dvc.lock recorded for the
code and params in this tree, and those numbers make the claims. Seconds; the full default pipeline that produced
them runs in `make test-claims` (tests/integration/test_default_pipeline.py: nightly and before a release).

When this fails after a change to src/ or params.yaml: `make run` (about 6 minutes), then commit dvc.lock and
metrics/run.json with the change (and the README's headline if it moved)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml

from tests.conftest import REPO, dvc

TRACKED = ("metrics/run.json", "metrics/adapt.json")  # the pipeline outputs git tracks (cache: false in dvc.yaml)


def _outs(lock: dict) -> set[str]:
    return {o["path"] for st in lock["stages"].values() for o in st.get("outs", [])}


def stale_against_lock(root: Path, tmp: Path) -> list[str]:
    """What `dvc status` finds changed in ``root``'s committed files against its dvc.lock: code, params, commands
    and the git-tracked metrics. Run on a copy of those files alone, so pipeline outputs that are not there (a
    fresh clone has none; they are DVC's, `dvc pull` brings them) only read as "deleted" and are not judged."""
    proj = tmp / "claims"
    for name in ("dvc.yaml", "dvc.lock", "params.yaml", ".dvcignore", ".dvc/config", *TRACKED):
        if (root / name).is_file():
            (proj / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / name, proj / name)
    shutil.copytree(root / "src", proj / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (proj / ".dvc/config.local").write_text("[core]\n    no_scm = true\n")  # the copy is no git repository
    r = dvc("status", "--json", cwd=proj)
    assert r.returncode == 0, r.stdout + r.stderr
    outs = _outs(yaml.safe_load((proj / "dvc.lock").read_text()))
    stale = []
    for stage, changes in json.loads(r.stdout or "{}").items():
        for change in changes:
            if isinstance(change, str):  # "changed command", "always changed"
                stale.append(f"{stage}: {change}")
                continue
            for kind, paths in change.items():
                for path, how in paths.items():
                    not_pulled = how in ("deleted", "not in cache") and path not in TRACKED and (
                        path in outs or any(path.startswith(o + "/") for o in outs))
                    if not not_pulled:
                        stale.append(f"{stage}: {kind} {path}: {how}")
    return stale


def test_committed_metrics_are_those_of_the_committed_code_and_params(tmp_path: Path):
    stale = stale_against_lock(REPO, tmp_path)
    assert not stale, ("dvc.lock / metrics/run.json are not the run of this code: `make run`, then commit dvc.lock "
                       "and metrics/run.json.\n" + "\n".join(stale))


def test_committed_metrics_make_the_readme_claims():
    run = json.loads((REPO / "metrics/run.json").read_text())
    # The thresholds of tests/integration/test_default_pipeline.py, on the numbers the committed run recorded:
    # transfer beats scratch by >= 7 points, the whole 95 % interval of NTG is below -0.04, and the export matches.
    assert run["check_passed"] == 1 and run["ntg_high"] < -0.04, run
    assert run["transfer_acc"] - run["scratch_acc"] >= 0.07, run
    assert run["export_passed"] == 1 and run["parity_max_abs_diff"] <= 1e-4 and run["top1_agreement"] == 1.0, run
    # The README's headline is these numbers.
    m = re.search(r"(\d\.\d{3}) vs (\d\.\d{3}) \(\+(\d+\.\d) points\)", (REPO / "README.md").read_text())
    assert m, "README.md has no headline 'A vs B (+C points)' (transfer vs scratch) to check against run.json"
    headline = (f"{run['transfer_acc']:.3f}", f"{run['scratch_acc']:.3f}",
                f"{100 * (run['transfer_acc'] - run['scratch_acc']):.1f}")
    assert m.groups() == headline, f"README says {m.group(0)}; metrics/run.json says {headline}"

"""Promote the exported model (dvc.yaml ``artifacts: graftline-classifier``) only when every gate passed.

A promotion is two GTO-format annotated git tags on the current commit: a version, ``graftline-classifier@v<n>.0.0``
(unless the commit has one), and the stage assignment ``graftline-classifier#<stage>#<n>``: what DVC Studio's model
registry, ``gto`` and ``dvc artifacts get <repo> graftline-classifier --stage prod`` read. Made only when:

* the workspace is what dvc.lock says (``dvc status`` clean: no stage stale, no output edited by hand) — a run a
  gate stopped leaves its stage stale, so a model from an older run cannot be promoted by accident;
* ``metrics/run.json`` (git-tracked) says the check gate and the export parity gate passed;
* dvc.yaml, dvc.lock and metrics/run.json are committed (the tag must point at what was measured).

    python -m tools.promote [--stage prod] [--project DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ARTIFACT = "graftline-classifier"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def refusal(root: Path) -> str | None:
    """Why this commit's model must not be promoted; None when it may."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        stale = repo.status()
    if stale:
        return f"dvc status is not clean ({', '.join(sorted(stale))}): run `dvc repro` and commit dvc.lock first"
    metrics = root / "metrics" / "run.json"
    if not metrics.is_file():
        return f"{metrics} not found: the report stage writes it (`dvc repro`)"
    m = json.loads(metrics.read_text())
    failed = [g for g in ("check_passed", "export_passed") if m.get(g) != 1]
    if failed:
        return f"gate(s) not passed in {metrics}: {', '.join(failed)}"
    dirty = _git(root, "status", "--porcelain", "--", "dvc.yaml", "dvc.lock", "metrics/run.json").strip()
    if dirty:
        return f"commit dvc.yaml, dvc.lock and metrics/run.json first (uncommitted: {dirty.splitlines()})"
    return None


def promote(root: Path, stage: str) -> str:
    why = refusal(root)
    if why:
        raise SystemExit(f"promote: refused: {why}")
    if not _git(root, "tag", "--points-at", "HEAD", "--list", f"{ARTIFACT}@v*").split():
        v = 1 + len(_git(root, "tag", "--list", f"{ARTIFACT}@v*").split())
        _git(root, "tag", "-a", f"{ARTIFACT}@v{v}.0.0", "-m", f"register {ARTIFACT} v{v}.0.0")
    n = 1 + len(_git(root, "tag", "--list", f"{ARTIFACT}#{stage}#*").split())
    tag = f"{ARTIFACT}#{stage}#{n}"
    _git(root, "tag", "-a", tag, "-m", f"promote {ARTIFACT} to {stage}: gates passed (metrics/run.json)")
    return tag


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Promote the exported model when every gate passed.")
    ap.add_argument("--stage", default="prod")
    ap.add_argument("--project", type=Path, default=Path("."))
    args = ap.parse_args(argv)
    print(promote(args.project.resolve(), args.stage))
    return 0


if __name__ == "__main__":
    sys.exit(main())

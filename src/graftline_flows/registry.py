"""The model registry: the ``artifacts:`` model of dvc.yaml, its versions and stages as GTO git tags (``gto``).

What the production loop needs from it, with no Prefect (``make promote``/``make rollback`` and the flow call it):

- ``champion``: the model at a stage (GTO's latest assignment tag, what ``gto show name#prod`` and ``dvc artifacts
  get --stage prod`` resolve) and its files at that commit, fetched through DVC (``dvc.api``, from the local cache
  or the remote): model.onnx, the data/prepared manifest it was trained on, its data profile. The compare stage
  (``graftline compare``, which runs this in its own process: the library imports no DVC) reads them;
- ``promote``: register the commit's model as a version (``name@vN.0.0``) and assign it to the stage
  (``name#prod#M``) only when DVC says the workspace is what dvc.lock says, the run's gates passed
  (metrics/run.json), the comparison with the champion (metrics/compare.json) decided ``promote`` or ``first`` for
  this very model, and those files are committed; the tag's message is the comparison (``gto show``, ``git tag -n``);
- ``rollback``: assign the stage back to the version it held before the current one (a new assignment tag, so the
  history keeps both moves and why).

    python -m graftline_flows.registry [--project DIR] champion [--stage prod] --out DIR
    python -m graftline_flows.registry [--project DIR] promote|rollback [--stage prod]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from graftline.project import Project
from graftline.results import CompareResult

ARTIFACT = "graftline-classifier"
FILES = {"model.onnx": "models/export/model.onnx", "manifest.csv": "data/prepared/manifest.csv",
         "data_profile.json": "reports/data_profile.json"}
TRACKED = ("dvc.yaml", "dvc.lock", "metrics/run.json", "metrics/compare.json")


class Refused(RuntimeError):
    """The registry was not changed, and why."""


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def current(root: Path, stage: str = "prod", name: str = ARTIFACT) -> dict | None:
    """The version at ``stage`` now: {version, commit, tag, message, created_at}; None when nothing is there (or
    the project is no git repository: a registry needs one)."""
    import gto.api
    from gto.exceptions import ArtifactNotFound

    if subprocess.run(["git", "rev-parse", "--git-dir"], cwd=root, capture_output=True).returncode != 0:
        return None

    try:
        found = gto.api.show(str(root), f"{name}#{stage}")
    except ArtifactNotFound:  # nothing registered yet
        return None
    if not found:
        return None
    v = found[0]
    last = max((a for s in v["stages"] if s["stage"] == stage for a in s["assignments"]), key=lambda a: a["created_at"])
    return {"version": v["version"], "commit": v["commit_hexsha"], "tag": last["tag"], "message": last["message"],
            "created_at": last["created_at"].isoformat()}


def history(root: Path, stage: str = "prod", name: str = ARTIFACT) -> list[dict]:
    """Every assignment to ``stage``, oldest first: {version, commit, ref, message, timestamp}."""
    import gto.api
    from gto.exceptions import ArtifactNotFound

    try:
        events = gto.api.history(str(root), name, ascending=True)
    except ArtifactNotFound:
        return []
    return [dict(e) for e in events if e.get("event") == "assignment" and e.get("stage") == stage]


def fetch_champion(root: Path, out: Path, stage: str = "prod") -> dict | None:
    """Put the champion's files into ``out`` (replaced whole); champion.json says which it is ({"version": null}:
    nothing at the stage yet)."""
    import dvc.api

    champ = current(root, stage)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if champ is not None:
        for dest, path in FILES.items():
            try:
                with dvc.api.open(path, repo=str(root), rev=champ["commit"], mode="rb") as f:
                    (tmp / dest).write_bytes(f.read())
            except Exception as exc:  # noqa: BLE001 - the profile is optional; the model and manifest are not
                if dest == "data_profile.json":
                    continue
                raise RuntimeError(f"{path} at {champ['tag']} (commit {champ['commit'][:10]}): {exc}") from exc
    (tmp / "champion.json").write_text(json.dumps(champ or {"version": None}, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return champ


def refusal(root: Path) -> str | None:
    """Why this commit's model must not be promoted; None when it may."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        stale = repo.status()
    if stale:
        return f"dvc status is not clean ({', '.join(sorted(stale))}): run `dvc repro` and commit dvc.lock first"
    proj = Project(root)
    if not proj.run_metrics.is_file():
        return f"{proj.run_metrics} not found: the report stage writes it (`dvc repro`)"
    m = json.loads(proj.run_metrics.read_text())
    failed = [g for g in ("check_passed", "export_passed") if m.get(g) != 1]
    if failed:
        return f"gate(s) not passed in {proj.run_metrics}: {', '.join(failed)}"
    if not proj.compare_json.is_file():
        return f"{proj.compare_json} not found: the compare stage writes it (`dvc repro compare`)"
    cmp = CompareResult.read(proj.compare_json)
    if cmp.decision not in ("promote", "first"):
        return f"the comparison with the champion decided {cmp.decision} ({proj.compare_json}): {cmp.why}"
    if cmp.challenger_onnx_sha256 != hashlib.sha256(proj.onnx_model.read_bytes()).hexdigest():
        return f"{proj.compare_json} compared another model than {proj.onnx_model}: run `dvc repro compare` first"
    dirty = _git(root, "status", "--porcelain", "--", *TRACKED).strip()
    if dirty:
        return f"commit {', '.join(TRACKED)} first (uncommitted: {dirty.splitlines()})"
    return None


def why(root: Path) -> str:
    """The comparison in one paragraph: what the tag message records."""
    c = CompareResult.read(Project(root).compare_json)
    if c.champion is None:
        return f"{c.decision}: {c.why}; gates passed (metrics/run.json)"
    return (f"{c.decision}: challenger acc {c.challenger_acc:.4f} vs champion {c.champion.version} "
            f"{c.champion_acc:.4f} on {c.compared_images} test images it never saw, delta {c.delta:+.4f} "
            f"[{c.delta_low:+.4f}, {c.delta_high:+.4f}] ({100 * c.confidence:.0f}%), McNemar p "
            f"{c.mcnemar_p:.3g}, max drift PSI {c.max_psi if c.max_psi is not None else 'n/a'}; "
            f"{c.why}; gates passed (metrics/run.json)")


def _after_last_tag(root: Path, stage: str) -> None:
    """GTO orders a stage's assignments by their tags' time (whole seconds): never make two in the same second."""
    past = history(root, stage)
    if past:
        last = past[-1]["timestamp"]
        while datetime.now(timezone.utc).replace(microsecond=0) <= last:
            time.sleep(0.2)


def promote(root: Path, stage: str = "prod") -> str:
    """Register HEAD's model (unless it has a version) and assign it to ``stage``; the assignment tag's name."""
    import gto.api

    reason = refusal(root)
    if reason:
        raise Refused(reason)
    head = _git(root, "rev-parse", "HEAD").strip()
    versions = _git(root, "tag", "--list", f"{ARTIFACT}@v*").split()
    mine = _git(root, "tag", "--points-at", head, "--list", f"{ARTIFACT}@v*").split()
    version = mine[0].split("@", 1)[1] if mine else f"v{1 + len(versions)}.0.0"
    now = current(root, stage)
    if now is not None and now["version"] == version:
        raise Refused(f"{version} (commit {head[:10]}) is already at {stage} ({now['tag']})")
    if not mine:
        gto.api.register(str(root), ARTIFACT, head, version=version, message=f"register {ARTIFACT} {version}")
    _after_last_tag(root, stage)
    gto.api.assign(str(root), ARTIFACT, stage, version=version, message=why(root))
    return current(root, stage)["tag"]


def rollback(root: Path, stage: str = "prod") -> str:
    """Put ``stage`` back on the version it held before the current one; the new assignment tag's name."""
    import gto.api

    past = history(root, stage)
    if not past:
        raise Refused(f"nothing was ever assigned to {stage}: there is nothing to roll back")
    now = past[-1]["version"]
    before = [e for e in past if e["version"] != now]
    if not before:
        raise Refused(f"{now} is the only version {stage} ever held: there is nothing to roll back to")
    prev = before[-1]["version"]
    _after_last_tag(root, stage)
    gto.api.assign(str(root), ARTIFACT, stage, version=prev, force=True,
                   message=f"rollback: {stage} back from {now} to {prev} (the version it held before)")
    return current(root, stage)["tag"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="The model registry (GTO tags, DVC files) of a graftline project.")
    ap.add_argument("--project", type=Path, default=Path("."))
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("champion", "promote", "rollback", "show"):
        p = sub.add_parser(name)
        p.add_argument("--stage", default="prod")
        if name == "champion":
            p.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    root = args.project.resolve()
    try:
        if args.command == "champion":
            champ = fetch_champion(root, args.out if args.out.is_absolute() else root / args.out, args.stage)
            print(json.dumps(champ))
        elif args.command == "show":
            print(json.dumps(current(root, args.stage)))
        else:
            print({"promote": promote, "rollback": rollback}[args.command](root, args.stage))
    except Refused as exc:
        print(f"{args.command}: refused: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Data arrival: a small flow that notices when the project's data source changed and says so with a Prefect event.

Prefect has no file-arrival sensor (PrefectHQ/prefect#9330) and webhooks are Cloud-only, so this deployment polls
(prefect.yaml: every 5 minutes) and emits ``graftline.data.changed`` (resource ``graftline.project.<name>``, with the
project directory and the new content hash in its payload); the pipeline deployment's ``triggers:`` start a run of
that project on it. Overlapping
runs of one project queue on the project's concurrency limit (graftline_flows.pipeline).

Cheap when nothing changed: the source (``data.root`` of params.yaml: a folder, or a CSV file) is listed with sizes and
mtimes first; only files whose size or mtime differ from the last look are hashed (sha256), and the event fires only
when the content hash changed (a touched file with the same bytes is no change). State: ``.graftline/sensor.json``.
The first look records the state and emits nothing (the data the pipeline already knows).

    python -m graftline_flows.sensor [--project DIR]      # one look, now (ephemeral Prefect or PREFECT_API_URL)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import yaml
from prefect import flow, get_run_logger
from prefect.events import emit_event

EVENT = "graftline.data.changed"
STATE = Path(".graftline") / "sensor.json"


def data_source(root: Path) -> Path:
    """The folder or CSV that params.yaml's ``data.root`` names (the demo's digits folder by default)."""
    params = yaml.safe_load((root / "params.yaml").read_text()) or {}
    return (root / (params.get("data") or {}).get("root", "data/demo/digits")).resolve()


def listing(source: Path) -> dict[str, list[int]]:
    """{relative path: [size, mtime_ns]} of every file under a folder (or of the one CSV file)."""
    if source.is_file():
        st = source.stat()
        return {source.name: [st.st_size, st.st_mtime_ns]}
    out = {}
    for dirpath, dirnames, files in os.walk(source):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            st = p.stat()
            out[p.relative_to(source).as_posix()] = [st.st_size, st.st_mtime_ns]
    return out


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def look(root: Path) -> dict:
    """One look at the source: {changed, hash, added, removed, modified, hashed, source}; updates the state file."""
    source = data_source(root)
    state_path = root / STATE
    old = json.loads(state_path.read_text()) if state_path.is_file() else None
    files = listing(source)
    if old is not None and old.get("source") == str(source) and old["files"] == files:
        return {"changed": False, "hash": old["hash"], "added": 0, "removed": 0, "modified": 0, "hashed": 0,
                "source": str(source)}
    known = old["files"] if old and old.get("source") == str(source) else {}
    shas = old.get("sha256", {}) if known else {}
    base = source.parent if source.is_file() else source
    sha, hashed = {}, 0
    for rel, stat in files.items():  # hash only what is new or whose size/mtime moved
        if known.get(rel) == stat and rel in shas:
            sha[rel] = shas[rel]
        else:
            sha[rel], hashed = _sha(base / rel), hashed + 1
    digest = hashlib.sha256("".join(f"{r}\t{sha[r]}\n" for r in sorted(sha)).encode()).hexdigest()
    state_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"source": str(source), "hash": digest, "files": files, "sha256": sha}))
    tmp.replace(state_path)
    return {"changed": old is not None and digest != old.get("hash"), "hash": digest,
            "added": len(set(files) - set(known)), "removed": len(set(known) - set(files)),
            "modified": sum(1 for r in files if r in known and shas.get(r) != sha[r]), "hashed": hashed,
            "source": str(source), "first_look": old is None}


def resource(root: Path) -> dict:
    from graftline_flows.pipeline import project_lock_name

    return {"prefect.resource.id": f"graftline.project.{project_lock_name(root)}",
            "prefect.resource.name": root.name, "graftline.project.dir": str(root)}


@flow(name="graftline-data-sensor")
def data_sensor(project_dir: str = ".") -> dict:
    """Look at the project's data source; emit graftline.data.changed when its content hash changed."""
    logger = get_run_logger()
    root = Path(project_dir).resolve()
    seen = look(root)
    if seen["changed"]:
        emit_event(event=EVENT, resource=resource(root),
                   payload={"project_dir": str(root),
                            **{k: seen[k] for k in ("hash", "added", "removed", "modified", "source")}})
        logger.info("%s: %s (+%d -%d ~%d files, %d hashed): emitted %s", seen["source"], seen["hash"][:12],
                    seen["added"], seen["removed"], seen["modified"], seen["hashed"], EVENT)
    else:
        logger.info("%s: unchanged (%d files hashed)", seen["source"], seen["hashed"])
    return seen


def main() -> None:
    ap = argparse.ArgumentParser(description="Look at the project's data source once; emit an event on a change.")
    ap.add_argument("--project", default=".")
    print(json.dumps(data_sensor(project_dir=ap.parse_args().project)))


if __name__ == "__main__":
    main()

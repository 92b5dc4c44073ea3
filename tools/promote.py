"""Promote the exported model (dvc.yaml ``artifacts: graftline-classifier``) only when every gate passed and the
comparison with the champion says so; or roll the stage back. The registry is GTO's git tags, made with ``gto``:
a version, ``graftline-classifier@v<n>.0.0`` (unless the commit has one), and the stage assignment
``graftline-classifier#<stage>#<m>``, whose message records why (the comparison): what ``gto show``, DVC Studio's
model registry and ``dvc artifacts get <repo> graftline-classifier --stage prod`` read. A promotion is made only when:

* the workspace is what dvc.lock says (``dvc status`` clean: no stage stale, no output edited by hand) — a run a
  gate stopped leaves its stage stale, so a model from an older run cannot be promoted by accident;
* ``metrics/run.json`` (git-tracked) says the check gate and the export parity gate passed;
* ``metrics/compare.json`` decided ``promote`` (better than / not worse than the champion, on its interval) or
  ``first`` (no champion yet), for the model in models/export;
* dvc.yaml, dvc.lock, metrics/run.json and metrics/compare.json are committed (the tag points at what was measured).

A rollback assigns the stage back to the version it held before the current one (a new tag: both moves stay in
``gto history``). The logic is graftline_flows.registry, which the Prefect flow calls after a run.

    python -m tools.promote [--stage prod] [--project DIR] [--rollback]      # make promote / make rollback
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this tree's graftline_flows

from graftline_flows.registry import ARTIFACT, Refused, promote, refusal, rollback  # noqa: E402,F401


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Promote the exported model when every gate passed, or roll back.")
    ap.add_argument("--stage", default="prod")
    ap.add_argument("--project", type=Path, default=Path("."))
    ap.add_argument("--rollback", action="store_true", help="put the stage back on the version it held before")
    args = ap.parse_args(argv)
    try:
        print((rollback if args.rollback else promote)(args.project.resolve(), args.stage))
    except Refused as exc:
        raise SystemExit(f"{'rollback' if args.rollback else 'promote'}: refused: {exc}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())

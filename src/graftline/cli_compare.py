"""``graftline compare``: the compare stage's command (registered on the app in ``cli.py``).

The library imports no DVC and reads no git, so the command first runs the registry helper in its own process
(``python -m graftline_flows.registry champion``: GTO finds the model at the stage, DVC fetches its files from that
commit) into ``.graftline/champion/``, then calls ``run_compare``. ``--no-fetch`` compares with what is there.
"""

from __future__ import annotations

import subprocess
import sys

import typer

from graftline.errors import ConfigError


def fetch_champion(root, stage: str, out) -> None:
    cmd = [sys.executable, "-m", "graftline_flows.registry", "--project", str(root), "champion", "--stage", stage,
           "--out", str(out)]
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ConfigError(f"{root}: the champion at registry stage {stage!r} could not be fetched ({why}). The "
                          "project must be a git repository with the model's DVC cache (run `dvc pull` when it "
                          "lives on a remote); `python -m graftline_flows.registry champion` shows the whole error.")


def compare(ctx: typer.Context,
            fetch: bool = typer.Option(True, "--fetch/--no-fetch", help="Fetch the champion first (GTO + DVC).")
            ) -> None:
    """This run's model vs the registry's champion on today's test split -> metrics/compare.json: promote, keep,
    inconclusive or first."""
    from graftline.compare import run_compare
    from graftline.config import load_params
    from graftline.project import Project

    params, proj = load_params(ctx.obj["params_file"]), Project(ctx.obj["root"])
    if fetch:
        fetch_champion(proj.root, params.compare.stage, proj.champion)
    r = run_compare(params.compare, proj)
    if r.champion is None or r.challenger_acc is None:
        typer.echo(f"compare: {r.decision}: {r.why}")
        return
    typer.echo(f"compare: {r.decision}: challenger {r.challenger_acc:.3f} vs champion {r.champion_acc:.3f} "
               f"({r.champion.version}) on {r.compared_images} test images ({r.excluded_images} left out: the "
               f"champion saw them); {r.why}")

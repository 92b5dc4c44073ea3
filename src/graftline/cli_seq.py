"""The sequential design's commands (check/sequential.py): ``graftline look``, and the finetune/baseline skip."""

from __future__ import annotations

import typer


def not_needed(arm: str, seed: int | None, params, proj) -> bool:
    """An earlier look settled the verdict: this pair writes a skip record in seconds instead of training."""
    from graftline.results.looks import skip_if_settled

    rec = skip_if_settled(proj, arm, params.check.seeds[0] if seed is None else seed)
    if rec is not None:
        typer.echo(f"{arm} [seed {rec.seed}]: not needed: {rec.not_needed}")
    return rec is not None


def look(ctx: typer.Context,
         seed: int = typer.Option(..., "--seed", help="The pair this look gates (a seed of check.seeds).")) -> None:
    """The interim look before pair --seed (sequential seeds) -> metrics/looks/look-<seed>.json, gate-<seed>.json"""
    from graftline.check.look import run_look
    from graftline.config import load_params
    from graftline.project import Project

    params = load_params(ctx.obj["params_file"])
    r = run_look(params.check, Project(ctx.obj["root"]), seed)
    typer.echo(f"look before pair {seed}: {'needed' if r.needed else 'not needed'} ({r.reason})")


def look_first(ctx: typer.Context) -> None:
    """The look before the first pair of check.seeds (always needed) -> metrics/looks/{look,gate}-<first seed>.json."""
    from graftline.config import load_params

    look(ctx, load_params(ctx.obj["params_file"]).check.seeds[0])


def register(app: typer.Typer) -> None:
    app.command()(look)
    app.command("look-first")(look_first)

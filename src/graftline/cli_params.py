"""``graftline params-check``: the pipeline's first DVC stage (see graftline.lineage).

It validates the WHOLE params file (unknown sections and keys, bad values: config's one ConfigError paragraph, exit
2) before DVC removes any other stage's outputs, and writes each stage's code stamp. It imports no torch, so it costs
about a second."""

from __future__ import annotations

import typer


def params_check(ctx: typer.Context) -> None:
    """Validate the whole params file and write each stage's code stamp (.graftline/code/<stage>.json): the DAG's
    first stage, so a typo fails before DVC removes any output."""
    from graftline.config import load_params
    from graftline.lineage import STAMP_DIR, check_declared_files, write_stamps

    root, params_file = ctx.obj["root"], ctx.obj["params_file"]
    params = load_params(params_file)
    check_declared_files(root, params.validate_.reference_profile)
    changed = write_stamps(root, params.adapt.method)
    typer.echo(f"params-check: {params_file} is valid; code stamps in {STAMP_DIR.as_posix()}: "
               f"{', '.join(s for s, c in changed.items() if c) or 'none'} changed")

"""The ``graftline`` command: one sub-command per pipeline stage, plus ``predict``. Each stage command reads
params.yaml (``--params``), calls the stage's ``run_*`` function and prints a short summary; cli_run.py runs it (lock,
signals, disk errors). Exit codes: 0 ok, 1 a gate failed (its report written first), 2 bad input, configuration or
disk, 75 the project busy, 130/143 interrupted. Errors are one paragraph naming the file, the rule and the fix.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from graftline import cli_run
from graftline.errors import ConfigError, GraftlineError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Pick a pretrained source, fine-tune it, prove it helped, ship ONNX. "
                       "Stages run in order: demo, prepare, validate, zoo, select, finetune, baseline, check, export, "
                       "report (`dvc repro` runs them all).")

_state: dict = {}


@app.callback()
def _options(
    ctx: typer.Context,
    project: Path = typer.Option(Path("."), "--project", "-C", help="Project directory (holds params.yaml)."),
    params: Optional[Path] = typer.Option(None, "--params", help="Params file (default: <project>/params.yaml)."),
) -> None:
    _state.update(root=project.resolve(), params_file=params if params is not None else project / "params.yaml")
    ctx.obj = _state  # for the commands in cli_tools


def _ctx():
    from graftline.config import load_params
    from graftline.project import Project

    return load_params(_state["params_file"]), Project(_state["root"])


def _rel(path: Path) -> str:
    p = path.resolve()
    return p.relative_to(_state["root"]).as_posix() if p.is_relative_to(_state["root"]) else str(path)


def _arm_line(s) -> str:
    val, best = (f"{v:.3f}" if v is not None else "n/a" for v in (s.val_acc, s.best_val_acc))
    return f"val acc {val} at step {s.kept_step}/{s.steps} (best {best} at {s.best_step})"


@app.command()
def demo() -> None:
    """Generate the embedded default: real digits as an image folder + rendered source domains (data/demo)."""
    from graftline.data.demo import generate

    params, proj = _ctx()
    d = params.demo
    s = generate(proj.demo, d.source_per_class, d.source_eval_fraction, d.seed, d.letters_per_class)
    typer.echo(f"demo: {s['target_images']} target images in {_rel(proj.demo / 'digits')}, "
               f"sources {s['source_images']} in {_rel(proj.demo / 'sources')}")


@app.command()
def prepare() -> None:
    """Image folder or CSV -> data/staged (manifest, classes, meta, per-image facts) with stratified splits."""
    from graftline.data.prepare import run_prepare

    params, proj = _ctx()
    m = run_prepare(params.data, proj.root, proj.staged, params.demo)
    facts = m.facts or {"decoded": 0, "cached": 0}
    typer.echo(f"prepare: {m.images} images kept of {m.scanned} scanned "
               f"(train {m.splits['train']}, val {m.splits['val']}, test {m.splits['test']}); "
               f"facts: {facts['decoded']} decoded, {facts['cached']} cached; "
               f"data hash {m.data_hash[:12]} -> data/staged (validate publishes it)")


@app.command()
def validate() -> None:
    """GX suite over the staged facts -> reports/validation.{json,html}; publish data/prepared (exit 1 on failure)."""
    from graftline.validate.suite import run_validate

    params, proj = _ctx()
    report = run_validate(params.validate_, proj.staged, proj.root, proj.validation,
                          publish_to=proj.prepared)
    for r in report.rules:
        if not r.passed:
            typer.echo(f"validate: warning: rule {r.rule}: {r.offending_count} offending "
                       f"({', '.join(r.offending[:3])}); {r.explain}")
    typer.echo(f"validate: {sum(r.passed for r in report.rules)}/{len(report.rules)} rules passed on "
               f"{report.scanned or report.images} scanned files; {report.images} kept "
               f"({len(report.warnings)} warning(s)) -> data/prepared")


@app.command()
def zoo() -> None:
    """Pretrain the source candidates on the synthetic source domains -> models/zoo."""
    from graftline.train.pretrain import run_zoo

    params, proj = _ctx()
    if params.zoo is None:
        raise ConfigError(f"{_state['params_file']}: no `zoo:` section. The zoo stage pretrains the demo's source "
                          "models; a project made by `graftline init` lists hub: or file: candidates instead (add "
                          "the zoo section, or re-run `graftline init --with-demo-zoo`).")
    run_zoo(params.zoo, proj.sources, proj.zoo, proj.root, proj.timings("zoo"), proj.path(".cache", "zoo"))


@app.command()
def select() -> None:
    """Score every candidate on the target data (LogME, LEEP, NCE, H-score, kNN), rank -> reports/selection.json."""
    from graftline.select.rank import run_select

    params, proj = _ctx()
    report = run_select(params.select, proj)
    typer.echo(f"select: {report.selected} ({report.why})")


SEED = typer.Option(None, "--seed", help="Training seed (default: the first of check.seeds, the exported one).")


@app.command()
def finetune(seed: Optional[int] = SEED) -> None:
    """Fine-tune the selected candidate with a new head -> models/finetuned/seed-<s>, metrics/finetune/seed-<s>."""
    from graftline.cli_adapt import adapt_arm
    from graftline.train.finetune import run_finetune

    params, proj = _ctx()
    if cli_seq.not_needed("finetune", seed, params, proj) or adapt_arm("finetune", seed, params, proj):
        return
    from graftline.train.distributed import is_main  # noqa: E402

    s = run_finetune(params.finetune, params.check.seeds[0] if seed is None else seed, proj)
    if not is_main():  # under torchrun, rank 0 reports
        return
    forgot = (f"; source task {f.source_acc_before:.3f} -> {f.source_acc_after:.3f} "
              f"(forgetting {f.forgetting:+.3f})") if (f := s.forgetting) else ""
    typer.echo(f"finetune [{s.strategy}, regularizer {s.regularizer}, seed {s.seed}]: {_arm_line(s)}{forgot}")


@app.command()
def baseline(seed: Optional[int] = SEED) -> None:
    """The same architecture from scratch, same budget and seed -> models/baseline/seed-<s>, metrics/baseline/."""
    from graftline.cli_adapt import adapt_arm
    from graftline.train.finetune import run_baseline

    params, proj = _ctx()
    if cli_seq.not_needed("baseline", seed, params, proj) or adapt_arm("baseline", seed, params, proj):
        return
    from graftline.train.distributed import is_main

    s = run_baseline(params.finetune, params.check.scratch_lr, params.check.seeds[0] if seed is None else seed, proj)
    if is_main():
        typer.echo(f"baseline [seed {s.seed}]: {_arm_line(s)}")


@app.command()
def check() -> None:
    """Transfer vs scratch over paired seeds on the test split: the NTG verdict with its interval ->
    metrics/check.json (exit 1 on negative transfer)."""
    from graftline.check.stage import run_check_stage

    params, proj = _ctx()
    r = run_check_stage(params.check, params.adapt, proj)
    typer.echo(f"check: {r.verdict}: transfer {r.transfer_acc:.3f} vs scratch {r.scratch_acc:.3f} over "
               f"{len(r.seeds)} seeds ({r.stop_reason}) -> NTG {r.ntg:+.3f}, {100 * r.confidence:.4g}% interval "
               f"[{r.ntg_low:+.3f}, {r.ntg_high:+.3f}] (negative above {r.max_ntg:+.3f})")


@app.command()
def export() -> None:
    """ONNX export with onnxruntime parity on the test split -> models/export, metrics/export.json."""
    from graftline.export.onnx import run_export

    params, proj = _ctx()
    r = run_export(params.export, proj, params.check.seeds[0])
    typer.echo(f"export: {_rel(proj.exported / 'model.onnx')}  parity max|diff| {r.parity_max_abs_diff:.2e}, "
               f"top-1 agreement {r.top1_agreement:.4f}")


@app.command()
def report() -> None:
    """One page for the run -> reports/run.html (charts: reports/figures), its judged numbers -> metrics/run.json."""
    from graftline.report import run_report

    _, proj = _ctx()
    r = run_report(proj)
    typer.echo(f"report: {_rel(Path(r['html']))} ({len(r['figures'])} charts, {r['seconds']:.1f} s)")
    typer.echo(cli_run.timings_line(proj))  # timings are shown here, not in run.html (which must hash the same)


@app.command()
def summary() -> None:
    """Print the run's headline: ranking, transfer vs scratch, NTG, parity (what has been run so far)."""
    from graftline.summary import headline

    _, proj = _ctx()
    typer.echo(headline(proj))

from graftline import cli_compare, cli_params, cli_seq, cli_tools, cli_weights  # noqa: E402 - registered after the app

app.command("params-check")(cli_params.params_check)
cli_seq.register(app)  # look-first, look
for _command in (cli_compare.compare, cli_tools.init, cli_tools.predict, cli_params.params):
    app.command()(_command)
app.add_typer(cli_weights.app, name="weights")


def main() -> None:
    import contextlib

    from graftline import analytics_off, log

    analytics_off()  # here, not on import: the stages DVC runs are this entry point, and so are their GX and hub
    log.setup_logging()
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    cmd = next((a for a in sys.argv[1:] if a in names), "")
    (usage_errors, aborts), code, outcome = cli_tools.cli_exception_types(), 0, "ok"
    root = cli_run.root_of(sys.argv[1:])
    try:
        with cli_run.stage_run(cmd, sys.argv[1:], root) if cmd in cli_run.STAGES else contextlib.nullcontext():
            rv = app(standalone_mode=False, prog_name="graftline")
        code = cli_run.unless_interrupted(rv if isinstance(rv, int) else 0)
    except GraftlineError as exc:
        typer.echo(f"{' '.join(filter(None, ['graftline', cmd]))}: error: {exc}", err=True)
        code, outcome = exc.exit_code, ("gate" if exc.exit_code == 1 else "error")
    except usage_errors as exc:
        bare = type(exc).__name__ == "NoArgsIsHelpError"  # bare `graftline`: the help is the answer
        exc.show() if bare else typer.echo(cli_tools.usage_paragraph(exc, cmd), err=True)
        code, outcome = 2, "error"  # usage errors are 2 (README): 1 means a gate failed
    except (*aborts, KeyboardInterrupt):  # Ctrl-C or SIGTERM (cli_run): where it stopped, how to resume
        typer.echo(cli_run.interrupted_line(cmd, log.last_message()) if cmd in cli_run.STAGES else "aborted",
                   err=True)
        code, outcome = cli_run.signal_code(), "aborted"
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        outcome = "ok" if code == 0 else "error"
    except BaseException as exc:  # a full disk, a read-only project (an OSError, or one a library wrapped): a paragraph
        if (err := cli_run.describe(exc, root)) is None:
            log.write_status(cmd, 1, "crash")  # an unexpected traceback: Python exits 1, but it is not a gate
            raise
        typer.echo(f"{' '.join(filter(None, ['graftline', cmd]))}: error: {err}", err=True)
        code, outcome = err.exit_code, "error"
    log.write_status(cmd, code, outcome)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()

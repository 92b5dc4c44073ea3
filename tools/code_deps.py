"""The DAG and each stage's code, from one source.

dvc.yaml is scaffold/templates/dvc.yaml.tmpl rendered for the demo (graftline.scaffold.dag.render_dag); a stage's
code is not listed in it but stamped at run time by its first stage, ``graftline params-check``: the import closure
of the stage's library entry modules (graftline.lineage.ENTRY; the CLI only loads params, calls ``run_<stage>`` and
prints, so it is no stage's code), hashed per module into .graftline/code/<stage>.json, which the stage depends on.

    python -m tools.code_deps            # print each stage's closure (both modes for finetune/baseline)
    python -m tools.code_deps --check    # exit 1 if dvc.yaml is not the rendering of the template
    python -m tools.code_deps --write    # write dvc.yaml from the template (`make deps`)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # this tree's graftline, whichever one is installed

from graftline.lineage import ADAPT_STAGES, ENTRY, closure, entry_modules  # noqa: E402
from graftline.scaffold.dag import render_dag  # noqa: E402


def stage_closure(stage: str, adapt_method: str = "none") -> list[str]:
    pkg = REPO / "src" / "graftline"
    return sorted(f.relative_to(REPO).as_posix() for f in closure(entry_modules(stage, adapt_method), pkg))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--dvc-yaml", type=Path, default=REPO / "dvc.yaml")
    args = ap.parse_args(argv)
    text = render_dag(demo=True)
    if args.write:
        args.dvc_yaml.write_text(text)
        return 0
    if args.check:
        if args.dvc_yaml.read_text() != text:
            print(f"{args.dvc_yaml} is not src/graftline/scaffold/templates/dvc.yaml.tmpl rendered for the demo: "
                  "edit the template, then `make deps` (python -m tools.code_deps --write)", file=sys.stderr)
            return 1
        return 0
    for stage in ENTRY:
        modes = ("none", "dann") if stage in ADAPT_STAGES else ("none",)
        for m in modes:
            label = f"{stage} (adapt mode)" if m != "none" else stage
            print(f"{label}: {' '.join(stage_closure(stage, m))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The docs cannot go stale unnoticed: the generated reference pages match the config models and the typer app
(tools/reference.py), and every source path, `graftline <command>` and params key the README and docs/ name exists."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tools import reference

DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
SECTIONS = "demo|data|validate|zoo|select|finetune|check|export|adapt"
# A params key: `<section>.<key>[.<key>...]`, not part of a longer dotted name (graftline.data.images) or a path
# (metrics/check.json), and not a file name (select.json).
PARAM = re.compile(rf"(?<![\w./-])(?:{SECTIONS})(?:\.[a-z_][a-z0-9_]*)+(?![\w(/-])")
FILE_SUFFIXES = {"json", "yaml", "yml", "py", "csv", "html", "png", "onnx", "md", "lock", "npz", "pt", "tmpl",
                 "safetensors", "sqlite", "txt", "parquet", "toml", "dvc"}
PATH = re.compile(r"(?<![\w./-])((?:src|tests|tools|benchmarks|flows)/[\w./<>*{},-]*[\w>*}])")
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
# `graftline <command>` where a command line starts (a code line, an inline span, after && ; | $ or torchrun's
# --no-python), not "a graftline saved model" in a comment.
COMMAND = re.compile(r"(?:^|&&|;|\||\$|--no-python|cmd:|`)[ \t]*graftline[ \t]+(?:\[[^\]]*\][ \t]+)*([a-z][a-z_-]*)",
                     re.M)


OUTPUT = re.compile(r"(?<![\w./-])((?:metrics|models|reports)/[\w./<>*{},@-]*)")
# Written only with `validate.data_docs: true`, and not a DVC output (GX's own site, regenerated each time).
UNDECLARED_OUTPUTS = {"reports/gx_data_docs"}


def code_spans(text: str) -> list[str]:
    return CODE.findall(text)


def params_mentions(text: str) -> set[str]:
    found = set()
    for span in code_spans(text):
        for m in PARAM.finditer(span):
            key = m.group(0)
            if key.rsplit(".", 1)[-1] not in FILE_SUFFIXES:
                found.add(key)
    return found


def path_mentions(text: str) -> set[str]:
    return {m.group(1) for m in PATH.finditer(text) if not set("<*{") & set(m.group(1))}


def command_mentions(text: str) -> set[str]:
    return {m.group(1) for span in code_spans(text) for m in COMMAND.finditer(span)}


def output_mentions(text: str) -> set[str]:
    """Output paths (metrics/, models/, reports/) in code; module names (`models/candidates.py`) are not outputs."""
    return {m.rstrip("/.,") for span in code_spans(text) for m in OUTPUT.findall(span) if not m.endswith(".py")}


def dvc_outputs() -> set[str]:
    """Every out, metrics and plots path of dvc.yaml, with `${item}` as a wildcard."""
    found = set()
    for stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].values():
        body = stage.get("do", stage)
        for key in ("outs", "metrics", "plots"):
            found |= {next(iter(o)) if isinstance(o, dict) else o for o in body.get(key) or []}
    return {re.sub(r"\$\{[^}]*\}", "*", o) for o in found | UNDECLARED_OUTPUTS}


def _expand(mention: str) -> list[str]:
    """`metrics/{zoo,check}.json` -> each path; `<S>` and `*` become wildcards."""
    brace = re.search(r"\{([^{}]*)\}", mention)
    if brace is None:
        return [re.sub(r"<[^>]*>", "*", mention)]
    return [x for alt in brace.group(1).split(",") for x in _expand(mention[:brace.start()] + alt + mention[brace.end():])]


def _within(mention: str, out: str) -> bool:
    """The mention is the output, a file inside it, or a folder above it (segment by segment, wildcards both ways)."""
    return all(fnmatch.fnmatch(a, b) or fnmatch.fnmatch(b, a) for a, b in zip(mention.split("/"), out.split("/")))


def is_output(mention: str, outs: set[str]) -> bool:
    return all(any(_within(m, o) for o in outs) for m in _expand(mention))


def _stale(kind: str, check) -> list[str]:
    return [f"{doc.relative_to(REPO)}: {name}" for doc in DOCS for name in sorted(kind_of(doc, kind)) if not check(name)]


def kind_of(doc: Path, kind: str) -> set[str]:
    text = doc.read_text(encoding="utf-8")
    return {"params": params_mentions, "paths": path_mentions, "commands": command_mentions,
            "outputs": output_mentions}[kind](text)


def test_reference_pages_are_regenerated():
    stale = reference.stale_pages()
    assert not stale, (f"{', '.join(str(p.relative_to(REPO)) for p in stale)} differ from the config models / the "
                       "typer app: run `make docs` (python -m tools.reference --write) and commit the pages")


def test_reference_covers_every_key_and_command():
    params_page = reference.params_page()
    missing = [k for k in reference.params_keys() if f"`{k}`" not in params_page]
    assert not missing, missing
    cli_page = reference.cli_page()
    assert all(f"## `graftline {c}`" in cli_page for c in reference.cli_commands())
    assert "`--top-k`" in cli_page and "`--candidate`" in cli_page  # options of the commands, not only their names


def _module(name: str) -> bool:
    """`data.images.load_image` names graftline.data.images, not a params key."""
    base = REPO / "src" / "graftline" / Path(*name.split(".")[:2])
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def test_every_params_key_named_in_the_docs_exists():
    keys = reference.params_keys()
    stale = _stale("params", lambda k: k in keys or _module(k))
    assert not stale, "params keys the config models do not accept (src/graftline/config):\n" + "\n".join(stale)


def test_every_source_path_named_in_the_docs_exists():
    stale = _stale("paths", lambda p: (REPO / p.rstrip("/.")).exists())
    assert not stale, "paths that are not in the tree:\n" + "\n".join(stale)


def test_every_graftline_command_named_in_the_docs_exists():
    commands = reference.cli_commands()
    stale = _stale("commands", lambda c: c in commands)
    assert not stale, "graftline commands the typer app does not have (src/graftline/cli.py):\n" + "\n".join(stale)


def test_every_output_path_named_in_the_docs_is_a_dvc_output():
    outs = dvc_outputs()
    stale = _stale("outputs", lambda m: is_output(m, outs))
    assert not stale, "output paths that no stage of dvc.yaml writes:\n" + "\n".join(stale)


def test_the_output_check_catches_old_paths():
    outs = dvc_outputs()
    assert is_output("metrics/finetune/seed-<S>.json", outs) and is_output("reports/figures/*.png", outs)
    assert is_output("metrics/{export,check}.json", outs) and is_output("models/finetuned/seed-0/model.json", outs)
    assert not is_output("metrics/{zoo,check}.json", outs)  # the zoo's timings left DVC's outputs (docs/faults.md)
    # the README once named these; the files are per seed
    assert not is_output("metrics/finetune.json", outs) and not is_output("metrics/finetune/curves.png", outs)
    assert not is_output("metrics/{zoo,finetune}.json", outs)


LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for doc in DOCS:
        for target, anchor in LINK.findall(doc.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path = (doc.parent / target).resolve() if target else doc
            if not path.exists():
                broken.append(f"{doc.relative_to(REPO)}: {target}")
            elif anchor and path.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{doc.relative_to(REPO)}: {target}#{anchor}")
    assert not broken, "links to missing files or headings:\n" + "\n".join(broken)


@pytest.mark.parametrize("text, kind, expected", [
    ("set `finetune.lrr: 1` and `-S check.seeds=[0,1,2]`", "params", {"finetune.lrr", "check.seeds"}),
    ("`metrics/check.json`, `graftline.data.images`, `select.json`, prose finetune.lr", "params", set()),
    ("see src/graftline/train/gone.py and `src/graftline/adapt/<method>.py`", "paths", {"src/graftline/train/gone.py"}),
    ("```\ngraftline [--project DIR] nosuchcmd\ngraftline --help  # a graftline saved model\n```", "commands",
     {"nosuchcmd"}),
    ("`cd p && graftline gone`, torchrun --no-python graftline x", "commands", {"gone"}),
])
def test_the_checks_catch_stale_mentions(text, kind, expected):
    found = {"params": params_mentions, "paths": path_mentions, "commands": command_mentions}[kind](text)
    assert found == expected

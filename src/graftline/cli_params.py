"""``graftline params``: every key of params.yaml with its default, what it accepts and what it means, read from the
pydantic models that validate the file (``graftline.config``), so the list cannot drift from what is accepted.

Also ``graftline params-check``: the pipeline's first DVC stage (see graftline.lineage). It validates the WHOLE params
file (unknown sections and keys, bad values: exit 2) before DVC removes any other stage's outputs, and writes each
stage's code stamp. It imports no torch, so it costs about a second."""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal, Optional, Union

import typer

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "min_length": "min length", "max_length": "max length"}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The section models inside an annotation (``X``, ``Optional[X]``, ``list[X | str]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models_in(a)]


def _accepts(annotation: Any) -> str:
    """A type the way params.yaml spells it: ``full | lp_ft``, ``int``, ``float or null``, ``list of str``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return " | ".join(str(a) for a in args)
    if origin in (Union, types.UnionType):
        kinds = [_accepts(a) for a in args if a is not type(None)]
        return " or ".join(kinds) + (" or null" if type(None) in args else "")
    if origin in (list, tuple):
        return f"list of {_accepts(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _rules(field) -> str:
    rules = []
    for m in field.metadata:
        for attr, word in BOUNDS.items():
            if getattr(m, attr, None) is not None:
                rules.append(f"{word} {getattr(m, attr)}")
        if getattr(m, "pattern", None):
            rules.append(f"matching {m.pattern}")
    return ", ".join(rules)


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "(required)"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(a mapping, below)"
    value = json.loads(json.dumps(value, default=str))
    text = json.dumps(value) if isinstance(value, (list, dict)) else ("null" if value is None else
                                                                    str(value).lower() if isinstance(value, bool)
                                                                    else str(value))
    return text if len(text) <= 60 else text[:57] + "..."


def rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    """(key, default, accepts, meaning) for every key of ``model``, nested sections and list items included."""
    out = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        accepts = _accepts(field.annotation) + (f" ({r})" if (r := _rules(field)) else "")
        inner = _models_in(field.annotation)
        is_list = typing.get_origin(field.annotation) is list
        out.append((key, _default(field), accepts, field.description or (inner[0].__doc__ or "").split("\n")[0]
                    if inner else field.description or ""))
        for m in inner:
            out += rows(m, f"{key}[]." if is_list else f"{key}.")
    return out


def render(section: str | None = None) -> str:
    """The reference as text: one line a key (``key = default  accepts  meaning``), sections in pipeline order."""
    from graftline.config import Params
    from graftline.errors import ConfigError

    table = rows(Params, "")
    sections = list(dict.fromkeys(k.split(".")[0] for k, *_ in table))
    if section is not None and section not in sections:
        raise ConfigError(f"no section {section!r}; the sections are {', '.join(sections)}.")
    table = [r for r in table if section is None or r[0] == section or r[0].startswith(section + ".")]
    lines = ["Every key of params.yaml: key = default  [what it accepts]  meaning. The default is what a key left out "
             "of params.yaml takes; unknown keys are rejected. docs/reference/params.md has the same list."]
    for key, default, accepts, meaning in table:
        if default == "(a mapping, below)" or (key == "zoo" and default == "null"):
            lines += [""] * ("." not in key) + [f"{key}:" + (f"  {meaning}" if meaning else "")
                                                + ("  (only in projects with the demo's zoo stage)" if key == "zoo"
                                                   else "")]
            continue
        lines.append(f"{f'{key} = {default}':<44}  [{accepts}]" + (f"  {meaning}" if meaning else ""))
    return "\n".join(lines)


def params(section: Optional[str] = typer.Argument(None, help="Only this section (data, finetune, check, ...).")) -> None:
    """Every params.yaml key: its default, what it accepts and what it means (from the validating models)."""
    typer.echo(render(section))


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

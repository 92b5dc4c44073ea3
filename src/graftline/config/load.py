"""Reading params.yaml: one ``ConfigError`` paragraph for every problem, naming the key and the fix."""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from graftline.config.sections import Params
from graftline.errors import ConfigError


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names allowed at ``loc``'s parent, for 'did you mean' hints."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        field = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        current = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if current is None:
            return []
    return sorted(f.alias or n for n, f in getattr(current, "model_fields", {}).items())


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source} is not valid:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(Params, e["loc"])
            hint = difflib.get_close_matches(str(e["loc"][-1]), allowed, n=1)
            msg = f"unknown key; allowed here: {', '.join(allowed)}"
            if hint:
                msg += f" (did you mean '{hint[0]}'?)"
        else:
            msg = e["msg"]
            if "input" in e and e["type"] != "missing" and not isinstance(e["input"], dict):
                msg += f" (got {e['input']!r})"
        lines.append(f"  - {key}: {msg}")
    lines.append(f"Fix these keys in {source} and run again (every key, its default and bounds: `graftline params`, "
                 "or docs/reference/params.md).")
    return "\n".join(lines)


def load_params(path: str | Path) -> Params:
    """Read and validate params.yaml; raise ConfigError with one clear paragraph on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found. Run from the project directory or pass --params FILE.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data, validate, zoo, ...), got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None


def section_hash(*sections: BaseModel) -> str:
    """A short, stable hash of the params a result depends on (recorded in model.json as params_hash)."""
    blob = json.dumps([s.model_dump(mode="json") for s in sections], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]

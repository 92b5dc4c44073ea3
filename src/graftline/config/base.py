"""The base of every params.yaml section model: unknown keys rejected, values frozen once loaded, and no number
that cannot mean anything: NaN or infinite floats, integers beyond 32 bits (a count, a size or a seed that large
overflows numpy's and torch's seeding and would never finish)."""

import math
from typing import Any, Iterator

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

INT_LIMIT = 2**31 - 1


def _numbers(v: Any) -> Iterator[Any]:
    """The numbers of one field's value: itself, or its items (a mapping inside is a nested model's: it checks its
    own fields)."""
    if isinstance(v, (list, tuple)):
        for x in v:
            yield from _numbers(x)
    elif isinstance(v, dict):
        for x in v.values():
            if not isinstance(x, dict):
                yield from _numbers(x)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        yield v


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _finite_and_bounded(cls, v: Any, info: ValidationInfo) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return v  # a nested section checks its own fields (and so names the key)
        for x in _numbers(v):
            if isinstance(x, float) and not math.isfinite(x):
                raise ValueError(f"{x} is not a number graftline can use: give a finite value")
            if isinstance(x, int) and abs(x) > INT_LIMIT:
                raise ValueError(f"{x} is beyond any count, size or seed graftline accepts (at most {INT_LIMIT:,})")
        return v

"""The base of every params.yaml section model: unknown keys rejected, values frozen once loaded."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

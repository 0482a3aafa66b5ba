"""The base of the inventory's sections, so each refuses unknown keys the same way."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # coerce_numbers_to_str: a name or password written 1234 is the string "1234"; the
    # loader only types numbers whose str() is exactly what was written.
    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, coerce_numbers_to_str=True
    )

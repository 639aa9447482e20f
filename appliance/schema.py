"""StrictModel: the base of every configuration section (pydantic v2, unknown keys rejected)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """Unknown keys are refused, types are not coerced ("7" and true are not integers), assignments
    are validated; every field has a default and a description."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)

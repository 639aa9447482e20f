"""StrictModel: the base of every configuration section (pydantic v2, unknown keys rejected)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel", "subscribe_key_rule"]


class StrictModel(BaseModel):
    """Unknown keys are refused, types are not coerced ("7" and true are not integers), assignments
    are validated; every field has a default and a description."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)


def subscribe_key_rule(v: str) -> str:
    """A subscribe key (the box's ``osc_control.subscribe_key``, the hub's ``hub.subscribe_key``):
    printable, no spaces (it travels as one OSC string argument); ValueError otherwise."""
    if (v and not v.isprintable()) or v != v.strip() or " " in v:
        raise ValueError("printable characters only, without spaces")
    return v

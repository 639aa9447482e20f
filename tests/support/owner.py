"""Who sends a request in the web tests (the box's owner on the box itself, or a visitor), and a
change as the owner makes it."""

from __future__ import annotations

from typing import Any

from appliance.core.facade import Commanding

__all__ = ["OWNER", "TOKEN", "VISITOR", "change"]

#: A token as the owner sets it (at least 12 characters).
TOKEN = "owner-token-0123"
OWNER = ("127.0.0.1", 50000)  # on the box itself
VISITOR = ("10.9.8.7", 50000)  # another computer on the venue network


def change(app: Commanding, **sections: dict[str, Any]) -> None:
    """Merge ``sections`` into the configuration, as the owner would (through ``Commanding.update``)."""
    app.update(lambda current: {**current, **{k: {**current[k], **v} for k, v in sections.items()}})

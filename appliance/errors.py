"""One exception base for the appliance and its few subclasses."""

from __future__ import annotations

__all__ = ["ApplianceError", "ConfigError", "HardwareUnavailable", "ModelError", "RefusedChange", "SourceError"]


class ApplianceError(Exception):
    """Base of every error the appliance raises on purpose; its message is for people."""


class ConfigError(ApplianceError):
    """A configuration value, command-line argument or file is invalid."""


class RefusedChange(ConfigError):
    """A valid-looking change that cannot be made here (a port that cannot be bound, a model that is
    not in the models folder); ``loc`` names the field, as in a validation error."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(f"{'.'.join(map(str, loc))}: {message}")
        self.loc = loc
        self.msg = message


class HardwareUnavailable(ApplianceError):
    """A camera, Edge TPU or runtime library is missing or not working."""


class ModelError(ApplianceError):
    """A model file is missing, unreadable, or not a pose model of a family we run (PoseNet, MoveNet)."""


class SourceError(ApplianceError):
    """A frame source cannot be opened or an image cannot be read."""

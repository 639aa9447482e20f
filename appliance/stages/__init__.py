"""Stages with settings and messages of their own: ``StageKind``, and ``STAGES`` (name -> kind).

A stage kind is one module in this package declaring ``STAGE = StageKind(...)`` (or one
``register(kind)`` call, before the service starts): its name (the configuration section, the
control port's ``/posenet/<name>/<setting>`` and the name a target's ``extras`` lists), its settings
(a pydantic section of the configuration: the API, the page, the control port and OSCQuery show
them like the others), how a stage is made from them, and its OSC messages (``OscExtra``: sent to the
targets that ask for them, by default those of formats with ``extras``, i.e. ``bundle``; published by
OSCQuery). The application runs the stages after tracking and smoothing, in ``order``, on the "send"
thread, and puts a changed section in force live (``stage.config = section``).

Registration hooks (``on_register``) let the higher layers follow: the configuration adds the section
(``appliance.config.models``). Tracking and smoothing are the built-in stages of ``appliance.pose``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.output.osc.base import OscExtra
from appliance.output.osc.formats import FORMATS
from appliance.schema import StrictModel
from appliance.types import Poses

__all__ = ["STAGES", "SettingsStage", "StageKind", "extras_for", "on_register", "register", "unregister"]


class SettingsStage(Protocol):
    """A ``PoseStage`` (``appliance.pose.stages``) whose settings section is swapped live: ``config``
    is read once per frame, on the "send" thread."""

    name: str
    config: Any

    def __call__(self, poses: Poses) -> Poses:
        """The next frame's poses (source pixels (x, y)), with the stage's results in ``extras[name]``."""
        ...

    def reset(self) -> None:
        """Start over (a new source or model)."""
        ...


@dataclass(frozen=True, slots=True)
class StageKind:
    """One stage with its settings section (``settings``: a StrictModel whose every field has a
    default and a description), ``make(section)`` -> the stage, and its OSC messages (``extra``,
    None for a stage that only changes the poses); ``order`` places it among the stages.

    A section that is not one object (the list of ``zones``) gives its type as ``settings`` (e.g.
    ``Annotated[list[Zone], Field(max_length=32)]``) and ``default``, what it is when left out; only
    a StrictModel section's numbers and switches become control-port settings. ``names(section)``
    fills the placeholders of the stage's addresses (``{zone}`` -> every zone's name) for OSCQuery.
    """

    name: str
    description: str
    settings: Any
    make: Callable[[Any], SettingsStage]
    extra: OscExtra | None = None
    order: int = 100
    default: Callable[[], Any] | None = None
    names: Callable[[Any], Mapping[str, Sequence[str]]] | None = None

    def fields(self) -> Mapping[str, Any]:
        """The section's fields (name -> pydantic FieldInfo) when it is a StrictModel, else none."""
        if isinstance(self.settings, type) and issubclass(self.settings, StrictModel):
            return self.settings.model_fields
        return {}


#: name -> kind, in ``order``.
STAGES: dict[str, StageKind] = {}
_hooks: list[Callable[[str, StageKind | None], None]] = []


def extras_for(fmt: str, names: Sequence[str] | None = None) -> tuple[OscExtra, ...]:
    """The stages' messages a target of format ``fmt`` gets: those of ``names`` (unknown names are
    left out), or when None the format's default (every stage's for a format with ``extras``)."""
    if names is None:
        names = list(STAGES) if FORMATS[fmt].extras else []
    return tuple(kind.extra for name in names if (kind := STAGES.get(name)) is not None and kind.extra is not None)


def on_register(fn: Callable[[str, StageKind | None], None]) -> None:
    """Call ``fn(name, kind)`` after every ``register`` (and ``fn(name, None)`` after ``unregister``);
    ``fn`` is called at once for the kinds already registered."""
    _hooks.append(fn)
    for name, kind in STAGES.items():
        fn(name, kind)


def register(kind: StageKind) -> None:
    """Add a stage kind (ValueError for a name already taken or not a lowercase identifier)."""
    if kind.name in STAGES or not kind.name.isidentifier() or kind.name != kind.name.lower():
        raise ValueError(f"stage name {kind.name!r} is taken or not a lowercase identifier")
    STAGES[kind.name] = kind
    ordered = sorted(STAGES.values(), key=lambda k: (k.order, k.name))
    STAGES.clear()
    STAGES.update((k.name, k) for k in ordered)
    done: list[Callable[[str, StageKind | None], None]] = []
    try:
        for fn in list(_hooks):
            fn(kind.name, kind)
            done.append(fn)
    except Exception:  # a hook refused it (a section of that name exists): as if never registered
        del STAGES[kind.name]
        for fn in done:
            fn(kind.name, None)
        raise


def unregister(name: str) -> None:
    """Remove a stage kind (tests); nothing if there is none of that name."""
    if STAGES.pop(name, None) is not None:
        for fn in list(_hooks):
            fn(name, None)


def _discover() -> None:
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "STAGE", None)
        if not isinstance(kind, StageKind):
            raise ImportError(f"{module.__name__} declares no STAGE = StageKind(...)")
        register(kind)


_discover()

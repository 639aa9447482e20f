"""The registry of OSC output formats: every module in this package that declares ``FORMAT``.

Adding a format is one new module here (its ``FORMAT = OscFormat(...)``: name, one-line
description, encoder, the addresses it emits) plus its golden bytes in ``tests/data/osc/``. The
configuration's allowed values, the CLI choices, the control port, the OSCQuery namespace and the
web page (through the configuration schema) all read ``FORMATS``.

Unlike a reflective registry (``__subclasses__``), a module that fails to import is not hidden:
the error propagates at import time.
"""

from __future__ import annotations

import importlib
import pkgutil

from appliance.output.osc.base import OscFormat

__all__ = ["DEFAULT_FORMAT", "FORMATS", "FORMAT_NAMES"]


def _discover() -> dict[str, OscFormat]:
    found: dict[str, OscFormat] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        fmt = getattr(module, "FORMAT", None)
        if not isinstance(fmt, OscFormat):
            raise ImportError(f"{module.__name__} declares no FORMAT = OscFormat(...)")
        if fmt.name in found:
            raise ImportError(f"two modules declare the OSC format {fmt.name!r}")
        found[fmt.name] = fmt
    return {f.name: f for f in sorted(found.values(), key=lambda f: (f.order, f.name))}


#: name -> format, in display order.
FORMATS: dict[str, OscFormat] = _discover()
#: The format names, in display order.
FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS)
#: The format of a target that names none (the configuration, the CLI, the control port).
DEFAULT_FORMAT = "individual"
if DEFAULT_FORMAT not in FORMATS:
    raise ImportError(f"the default OSC format {DEFAULT_FORMAT!r} is not declared")

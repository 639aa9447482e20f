"""What the page offers to choose from: the sources this box can use (cameras found, media files)
and the models installed (with their family and size). Read from the box's folders and devices,
never from a list kept in the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.capture import SOURCES, Host
from appliance.errors import ModelError
from appliance.inference.io import read_model_file
from appliance.models import identify
from appliance.models.catalog import PINNED

__all__ = ["list_models", "list_sources"]
_FAMILY_CACHE: dict[tuple[str, int, int], str] = {}


def list_sources(media: Path, root: Path = Path("/")) -> list[dict[str, str]]:
    """Every source this box can use now: ``{"source": ..., "label": ...}``, what each source kind
    offers (``SourceKind.offer``), cameras first."""
    host = Host(media=media, root=root)
    return [choice for kind in SOURCES.values() for choice in kind.offer(host)]


def list_models(models: Path) -> list[dict[str, Any]]:
    """The .tflite files in the models folder: name, size, family ("posenet", "movenet", or why not
    a pose model), whether it runs on the Edge TPU, whether it is a pinned file."""
    pinned = {m.name for m in PINNED}
    out = []
    for p in sorted(models.glob("*.tflite")) if models.is_dir() else []:
        st = p.stat()
        out.append(
            {
                "name": p.name,
                "size": st.st_size,
                "family": _family(p, st.st_size, st.st_mtime_ns),
                "edgetpu": p.name.endswith("_edgetpu.tflite"),
                "pinned": p.name in pinned,
            }
        )
    return out


def _family(path: Path, size: int, mtime: int) -> str:
    key = (str(path), size, mtime)
    if key not in _FAMILY_CACHE:
        try:
            _FAMILY_CACHE[key] = identify(read_model_file(path)).name
        except ModelError as exc:
            _FAMILY_CACHE[key] = f"not usable: {exc}"
    return _FAMILY_CACHE[key]

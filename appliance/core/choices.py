"""What the page offers to choose from: the sources this box can use (cameras found, media files)
and the models installed (with their family and size). Read from the box's folders and devices,
never from a list kept in the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance import sysinfo
from appliance.errors import ModelError
from appliance.inference.io import read_model_file
from appliance.models import identify
from appliance.models.catalog import PINNED

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "list_models", "list_sources"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm")
_FAMILY_CACHE: dict[tuple[str, int, int], str] = {}


def list_sources(media: Path, root: Path = Path("/")) -> list[dict[str, str]]:
    """Every source this box can use now: ``{"source": ..., "label": ...}``, cameras first."""
    from appliance.capture.picamera2_source import list_cameras

    out = []
    for i, name in enumerate(list_cameras() or []):
        out.append({"source": "picamera2" if i == 0 else f"picamera2:{i}", "label": f"Pi camera: {name}"})
    for dev, name in sysinfo.v4l2_devices(root):
        out.append({"source": f"v4l2:{dev}", "label": f"USB camera {dev}: {name}"})
    files = sorted(p for p in media.glob("*") if p.is_file()) if media.is_dir() else []
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if len(images) > 1:
        out.append({"source": "images:*@15", "label": f"all {len(images)} images in the media folder"})
    out += [{"source": f"images:{p.name}@15", "label": f"image {p.name}"} for p in images]
    out += [
        {"source": f"video:{p.name}", "label": f"video {p.name}"} for p in files if p.suffix.lower() in VIDEO_SUFFIXES
    ]
    out.append({"source": "synthetic", "label": "synthetic moving figure (no camera)"})
    return out


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

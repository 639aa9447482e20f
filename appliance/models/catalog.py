"""Where models live, which ones we pin, and downloading them (sha256-checked) on a device."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ModelError

__all__ = [
    "DEFAULT_MODEL",
    "PINNED",
    "PinnedModel",
    "fetch_models",
    "models_dir",
    "resolve_model",
    "sha256_file",
]

#: Default: the 481x641 Edge TPU model (newer conversion), with automatic fallback to its CPU twin.
DEFAULT_MODEL = "posenet_mobilenet_v1_075_481_641_16_quant_decoder_edgetpu.tflite"

_TEST_DATA_ROOT = "https://github.com/google-coral/test_data/raw/104342d2d3480b3e66203073dac24f4e2dbb4c41/"
_TEST_DATA = _TEST_DATA_ROOT + "posenet/"
_PROJECT = (
    "https://github.com/google-coral/project-posenet/raw/37cfb84eaff9fa7a02bbc8b60a36d6d422859c5f/models/mobilenet/"
)


@dataclass(frozen=True, slots=True)
class PinnedModel:
    """A model file we know: its download URL, size in bytes and sha256."""

    name: str
    url: str
    size: int
    sha256: str


PINNED: tuple[PinnedModel, ...] = tuple(
    PinnedModel(name, base + name, size, digest)
    for base, name, size, digest in (
        (
            _TEST_DATA,
            "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite",
            1475200,
            "db1b5e8d7d6a5030bf1880346b81a52ac3a95682db8bff5d5d7b2f97712c93e2",
        ),
        (
            _TEST_DATA,
            "posenet_mobilenet_v1_075_353_481_16_quant_decoder_edgetpu.tflite",
            1598832,
            "a0f588a04965da43f45702658b890a54bbb968fd53d8e891fceacb9d38ae8dd8",
        ),
        (
            _TEST_DATA,
            "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite",
            1475200,
            "904b7ebe503c3df88ba5324e62fb4d33c23ee38bff5f2cabe89da27e3fc8296a",
        ),
        (
            _TEST_DATA,
            "posenet_mobilenet_v1_075_481_641_16_quant_decoder_edgetpu.tflite",
            1717616,
            "7df42a2e3cb0e931128d609c02b5b092b25ec90efc213214c349f7f8b3701a9f",
        ),
        (
            _TEST_DATA,
            "posenet_mobilenet_v1_075_721_1281_16_quant_decoder.tflite",
            1475200,
            "5736564bf36c0ef8d51e20074280a7d68ba5d53cd8fbdff13024a2aeaba17dc6",
        ),
        (
            _TEST_DATA,
            "posenet_mobilenet_v1_075_721_1281_16_quant_decoder_edgetpu.tflite",
            2270576,
            "a37fda9b75bfc7e5a2f696702c656aeca6f6b50eb1a2054f67ba48456800c331",
        ),
        (
            _PROJECT,
            "posenet_mobilenet_v1_075_481_641_quant_decoder.tflite",
            1299352,
            "29c142d62cd1f4f562bcb423a88b85c67db26aa2c057c4a3ce519bc397a6f7d4",
        ),
        (
            _PROJECT,
            "posenet_mobilenet_v1_075_481_641_quant_decoder_edgetpu.tflite",
            1680872,
            "73837902b843122386133a517a732b5c3887cfdd21fa6ae4ac1db4b61da28318",
        ),
        (
            _TEST_DATA_ROOT,
            "movenet_single_pose_lightning_ptq.tflite",
            2894840,
            "cd7cc22fa946e5d146a7b98d496853e1923e22828d3972d579973f27f91bb105",
        ),
        (
            _TEST_DATA_ROOT,
            "movenet_single_pose_lightning_ptq_edgetpu.tflite",
            3087168,
            "25c88b77586f65c5c80d868c0555fb194f2b38c0b55aa491f4a93b7d7da58e78",
        ),
    )
)


def models_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The models folder: ``explicit``, else $POSENET_MODELS_DIR, else the user's data directory."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("POSENET_MODELS_DIR")
    if env:
        return Path(env)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "posenet-appliance" / "models"


def resolve_model(model: str | None, folder: Path | None = None) -> Path:
    """A bare file name in ``folder`` (default ``models_dir()``); a name with a folder part (the
    command line's paths) as given."""
    name = model or DEFAULT_MODEL
    p = Path(name)
    if p.parent != Path():
        return p
    return (folder if folder is not None else models_dir()) / name


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_models(
    dest: Path, names: list[str] | None = None, timeout: float = 30.0, source: Path | None = None
) -> list[str]:
    """Download pinned models into ``dest`` (skipping good copies); returns one line per file.

    Each file is written to a temporary name in ``dest``, checked against its sha256, fsynced and
    renamed, so an interrupted download never leaves a half file under the real name. ``source``:
    copy from that folder instead of downloading (offline installs, image builds), same checks.

    Raises:
        ModelError: unknown name, network failure (with what to do offline), or checksum mismatch.
    """
    wanted = [m for m in PINNED if not names or m.name in names]
    unknown = set(names or []) - {m.name for m in PINNED}
    if unknown:
        raise ModelError(f"unknown model(s): {', '.join(sorted(unknown))}; see 'posenet-appliance models list'")
    dest.mkdir(parents=True, exist_ok=True)
    report = []
    for m in wanted:
        target = dest / m.name
        if target.exists() and sha256_file(target) == m.sha256:
            report.append(f"ok       {m.name}")
            continue
        fd, tmp_name = tempfile.mkstemp(prefix=".download-", dir=dest)
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            url = (source / m.name).resolve().as_uri() if source is not None else m.url
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            # mkstemp makes 0600 files; models are read by the service's own user.
            tmp.chmod(0o644)
            if h.hexdigest() != m.sha256:
                raise ModelError(f"{m.name}: checksum mismatch (got {h.hexdigest()[:12]}…, want {m.sha256[:12]}…)")
            tmp.replace(target)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if source is not None:
                raise ModelError(f"cannot copy {m.name} from {source}: {reason}") from exc
            raise ModelError(
                f"cannot download {m.name} ({reason}); this machine looks offline: copy the .tflite files "
                f"listed by 'posenet-appliance models list' into {dest} (or set POSENET_MODELS_DIR) and retry"
            ) from exc
        finally:
            tmp.unlink(missing_ok=True)
        report.append(f"fetched  {m.name}")
    return report

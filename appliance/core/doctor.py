"""The doctor: is the camera, the Coral, its runtime, the models, the power, the clock, the network
and the disk in order? For ``posenet-appliance doctor`` and the page's Health panel.

Each check says ``ok``, ``warn`` or ``fail``, one line of what it found and, when not ok, one line
of what to do: the questions that fill Coral's and frigate's issue trackers ("Coral not detected",
wrong libedgetpu, undervoltage, a USB 2 port). What is absent is said plainly: on a laptop without
a camera or a Coral the doctor runs and says so. Hardware facts come from ``appliance.sysinfo``
(read under ``root``, so tests give a fake sysfs); what the running service knows (frames arriving,
which backend runs and why) comes from its ``Status`` when there is one.
"""

from __future__ import annotations

import importlib.metadata
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance import sysinfo, timesync
from appliance.capture import SOURCES, Host, parse_source
from appliance.config.models import AppConfig
from appliance.core.status import Check, CheckStatus, Status, report
from appliance.errors import ConfigError
from appliance.models.catalog import PINNED, resolve_model, sha256_file

__all__ = ["Check", "Facts", "report", "run_checks"]

#: Disk space left for the state directory below which the doctor warns / fails (bytes).
DISK_WARN, DISK_FAIL = 200 * 2**20, 20 * 2**20
#: SoC temperature (°C) at which it warns (the Pi starts throttling at 80-85).
TEMP_WARN, TEMP_FAIL = 70.0, 80.0
_THROTTLE_NOW = {
    0: "under-voltage now",
    1: "ARM frequency capped now",
    2: "throttled now",
    3: "soft temperature limit now",
}
_THROTTLE_PAST = {16: "under-voltage", 17: "frequency capping", 18: "throttling", 19: "soft temperature limit"}


@dataclass(slots=True)
class Facts:
    """Where the doctor looks; every reader can be replaced (tests, and the service's cached ones)."""

    root: Path = Path("/")
    throttled: Callable[[], int | None] = sysinfo.throttled
    clock: Callable[[], bool | None] = sysinfo.clock_synchronised
    chrony: Callable[[], timesync.Tracking | None] = timesync.tracking  # chrony's estimate (None: no chronyd)
    package: Callable[[str], str | None] = sysinfo.package_version
    cameras: Callable[[], list[str] | None] | None = None  # libcamera's cameras (None: picamera2 absent)
    probe: Callable[[], tuple[bool, str, str]] | None = None  # (ok, reason, stage) of an Edge TPU probe


def run_checks(
    config: AppConfig,
    models: Path,
    state_dir: Path,
    live: Status | None = None,
    facts: Facts | None = None,
) -> list[Check]:
    """Every check, in a fixed order. ``live``: the running service's status, if any."""
    f = facts if facts is not None else Facts()
    checks = [
        _camera(config, live, f),
        _edgetpu(config, models, live, f),
        _runtime(),
        _models(config, models),
        _temperature(f),
        _power(f),
        _clock(config, f),
        _network(config, live),
        _access(config),
        _disk(state_dir),
    ]
    return checks


# -- the checks -------------------------------------------------------------------------------------
def _camera(config: AppConfig, live: Status | None, f: Facts) -> Check:
    """The source kind's own check (``SourceKind.check``), then whether frames arrive."""
    try:
        spec = parse_source(config.source)
    except ConfigError as exc:
        return Check("camera", "fail", f"the source setting is not valid: {exc}", "set a source on the page")
    found = SOURCES[spec.type].check(spec, Host(root=f.root, cameras=f.cameras))
    if not found.ok:
        return Check("camera", "fail", found.detail, found.fix)
    return _found(found.detail, live)


def _frames(live: Status | None) -> tuple[CheckStatus, str] | None:
    if live is None or live.pipeline is None:
        if live is not None and live.degraded:
            return "fail", f"no pipeline: {live.degraded}"
        return None
    p = live.pipeline
    if p.source_state != "ok":
        return "fail", f"frames are not arriving (source {p.source_state})"
    return "ok", f"frames arriving at {p.fps:.1f} fps"


def _found(detail: str, live: Status | None) -> Check:
    """A camera (or a file source) that is there: ok, unless the running service says its frames
    are not arriving."""
    frames = _frames(live)
    if frames is None:
        return Check("camera", "ok", detail)
    status, said = frames
    fix = "" if status == "ok" else "see the status for the source's error; the service retries by itself"
    return Check("camera", status, f"{detail}; {said}", fix)


def _edgetpu(config: AppConfig, models: Path, live: Status | None, f: Facts) -> Check:
    usb = sysinfo.coral_usb_devices(f.root)
    pcie = sysinfo.apex_devices(f.root)
    lib = next((f"{p} {v}" for p in ("libedgetpu1-std", "libedgetpu1-max") if (v := f.package(p))), "")
    wants_tpu = config.inference.accelerator != "cpu" and config.inference.model.endswith("_edgetpu.tflite")
    parts = [f"{what} ({ids}) at {speed} Mbit/s" for what, ids, speed in usb] + [f"PCIe {d}" for d in pcie]
    found = "; ".join(parts) if parts else "no Coral found (USB 1a6e:089a / 18d1:9302 absent, no /dev/apex_*)"
    runtime = f"runtime {lib}" if lib else "libedgetpu not installed"
    detail = f"{found}; {runtime}"
    if live is not None and live.backend and live.backend != "none":
        detail += f"; running on: {live.backend}"
    if not parts:
        if not wants_tpu:
            return Check("edgetpu", "ok", f"{detail} (the model runs on the CPU by choice)")
        return Check(
            "edgetpu",
            "warn",
            f"{detail}: running on the CPU",
            "plug the Coral USB Accelerator into a USB 3 port (blue), or use a CPU model",
        )
    if not lib:
        return Check(
            "edgetpu",
            "fail",
            detail,
            "install the Edge TPU runtime: apt install libedgetpu1-std (from Coral's apt repository)",
        )
    slow = [speed for _, _, speed in usb if 0 < speed < 5000]
    if live is not None and live.backend.startswith("cpu fallback"):
        return Check("edgetpu", "fail", detail, "see the service log for the probe's stage; replug the Coral")
    if f.probe is not None and wants_tpu:
        ok, reason, stage = f.probe()
        if not ok:
            return Check(
                "edgetpu",
                "fail",
                f"{detail}; probe failed at {stage}: {reason}",
                "replug the Coral; check that libedgetpu matches the LiteRT runtime",
            )
        detail += "; probe: the model ran on the Edge TPU"
    if slow:
        return Check(
            "edgetpu",
            "warn",
            f"{detail}: on a USB 2 port ({slow[0]} Mbit/s), inference is several times slower",
            "plug the Coral into a USB 3 port (blue)",
        )
    return Check("edgetpu", "ok", detail)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _runtime() -> Check:
    from appliance.pose.decode import DEFAULT_IMPLEMENTATION

    litert, tflite = _version("ai-edge-litert"), _version("tflite-runtime")
    numpy = _version("numpy") or "?"
    runtimes = ", ".join(f"{n} {v}" for n, v in (("ai-edge-litert", litert), ("tflite-runtime", tflite)) if v)
    detail = f"{runtimes or 'no TF Lite runtime'}; numpy {numpy}; pose decoder: {DEFAULT_IMPLEMENTATION}"
    if not runtimes:
        return Check("runtime", "fail", detail, "reinstall: image-build/install-on-pi.sh (it installs ai-edge-litert)")
    if tflite and not litert and numpy.split(".")[0].isdigit() and int(numpy.split(".")[0]) >= 2:
        return Check("runtime", "fail", detail, "tflite-runtime needs numpy < 2: install ai-edge-litert instead")
    if DEFAULT_IMPLEMENTATION != "c":
        return Check(
            "runtime",
            "warn",
            detail + " (the C decoder was not built: decoding is ~20x slower)",
            "reinstall with gcc present (apt install gcc)",
        )
    return Check("runtime", "ok", detail)


def _models(config: AppConfig, models: Path) -> Check:
    wanted = resolve_model(config.inference.model, models)
    twin = wanted.with_name(wanted.name.replace("_edgetpu.tflite", ".tflite"))
    present = {m.name: models / m.name for m in PINNED if (models / m.name).exists()}
    bad = [name for name, path in present.items() if _sha256(path) != _pinned(name)]
    detail = f"{models}: {len(present)} of {len(PINNED)} pinned files present"
    if bad:
        return Check(
            "models",
            "fail",
            f"{detail}; wrong checksum: {', '.join(bad)}",
            "posenet-appliance models fetch (replaces them with verified copies)",
        )
    if not wanted.exists() and not twin.exists():
        if _gives_poses(config):
            return Check("models", "ok", f"{detail}; no model needed: the source ({config.source}) gives poses")
        return Check(
            "models",
            "fail",
            f"{detail}; the configured model {wanted.name} is missing",
            "posenet-appliance models fetch, or choose an installed model",
        )
    which = wanted.name if wanted.exists() else f"{twin.name} (the CPU twin of {wanted.name})"
    return Check("models", "ok", f"{detail}, checksums as pinned; using {which}")


def _gives_poses(config: AppConfig) -> bool:
    """The configured source is a source of poses (``SourceKind.poses``): no model is loaded."""
    try:
        return SOURCES[parse_source(config.source).type].poses
    except ConfigError:
        return False


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    """sha256 of a file, remembered while its size and mtime stay the same (the Health panel asks often)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def _pinned(name: str) -> str:
    return next(m.sha256 for m in PINNED if m.name == name)


def _temperature(f: Facts) -> Check:
    temp = sysinfo.temperature_c(f.root)
    if temp is None:
        return Check("temperature", "warn", "no temperature sensor readable here (not a Raspberry Pi?)")
    detail = f"SoC {temp:.1f} °C"
    if temp >= TEMP_FAIL:
        return Check("temperature", "fail", detail + ": the Pi throttles", "add a heatsink or fan; give the case air")
    if temp >= TEMP_WARN:
        return Check("temperature", "warn", detail + ": close to throttling", "add a heatsink or fan")
    return Check("temperature", "ok", detail)


def _power(f: Facts) -> Check:
    value = f.throttled()
    if value is None:
        return Check(
            "power",
            "warn",
            "vcgencmd not found: under-voltage and throttling not checked (not a Raspberry Pi?)",
            "on Raspberry Pi OS: sudo apt install libraspberrypi-bin (raspi-utils on Trixie)",
        )
    now = [text for bit, text in _THROTTLE_NOW.items() if value >> bit & 1]
    past = [text for bit, text in _THROTTLE_PAST.items() if value >> bit & 1]
    if now:
        return Check(
            "power",
            "fail",
            f"throttled=0x{value:x}: {', '.join(now)}",
            "use the official power supply (5 V 3 A for a Pi 4, 5 A for a Pi 5); a Coral draws up to 900 mA",
        )
    if past:
        return Check(
            "power",
            "warn",
            f"throttled=0x{value:x}: {', '.join(past)} happened since boot",
            "use the official power supply; a powered USB hub for the Coral helps",
        )
    return Check("power", "ok", "throttled=0x0: no under-voltage or throttling since boot")


def _clock(config: AppConfig, f: Facts) -> Check:
    """chrony's estimate when chronyd runs (offset against ``clock.warn_ms``), else the kernel's word."""
    tracked = f.chrony()
    if tracked is not None:
        return _chrony(config, tracked)
    synced = f.clock()
    if synced is None:
        return Check("clock", "warn", "could not ask the kernel whether the clock is synchronised")
    if not synced:
        return Check(
            "clock",
            "warn",
            "the system clock is not synchronised (a Pi has no real-time clock: capture times may be off)",
            "give the box network time: chrony with a reachable server (clock.server), or let one box serve "
            "(clock.serve; README 'Several boxes, one room')",
        )
    return Check("clock", "ok", "the system clock is synchronised (chrony does not answer: no offset estimate)")


def _chrony(config: AppConfig, t: timesync.Tracking) -> Check:
    serving = ", serving the LAN" if config.clock.serve else ""
    ms = t.offset_s * 1000.0
    if not t.synchronised:
        if config.clock.serve:
            return Check("clock", "ok", f"chrony serves its own clock to the LAN (no better source){serving}")
        return Check(
            "clock",
            "warn",
            "chrony follows no time source yet: capture times may be off",
            "check clock.server (or that the box serving time is on); chronyc sources -v shows why",
        )
    line = f"chrony follows {t.reference} (stratum {t.stratum}), offset {ms:+.2f} ms{serving}"
    if abs(ms) > config.clock.warn_ms:
        return Check(
            "clock",
            "warn",
            f"{line}: more than {config.clock.warn_ms:g} ms",
            "wait a minute after start (chrony converges), or use a closer server: capture times from "
            "several boxes disagree by this much",
        )
    return Check("clock", "ok", line)


def _network(config: AppConfig, live: Status | None) -> Check:
    import ipaddress

    import ifaddr

    addresses = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback:
                addresses.append(f"{adapter.nice_name} {ip.ip}")
    name = ""
    if live is not None and "discovery" in live.servers:
        d = live.servers["discovery"]
        name = f"; mDNS: {d.name or d.error or d.detail}"
    elif not config.network.discovery:
        name = "; mDNS off (network.discovery)"
    if not addresses:
        return Check("network", "fail", "no IPv4 address" + name, "connect Ethernet, or set up Wi-Fi (raspi-config)")
    return Check("network", "ok", ", ".join(addresses) + name)


def _access(config: AppConfig) -> Check:
    """Whether the box has an owner (an access token) and the token is long enough."""
    from appliance.guards import MIN_TOKEN

    token = config.http.token
    if not token:
        return Check(
            "access",
            "warn",
            "no access token: the box accepts changes only from itself (nobody else can claim it either)",
            "claim it: 'sudo posenet-appliance claim' on the box, or a token in posenet.json on the boot partition",
        )
    if len(token) < MIN_TOKEN:
        return Check(
            "access",
            "warn",
            f"the access token is shorter than {MIN_TOKEN} characters: easy to guess",
            "set a longer one on the page (Settings > Access: Generate) or with 'posenet-appliance claim'",
        )
    extra = "; camera picture on (owner only)" if config.http.camera_view else ""
    return Check("access", "ok", f"claimed: changes from other computers need the access token{extra}")


def _disk(state_dir: Path) -> Check:
    path = state_dir if state_dir.exists() else next((p for p in state_dir.parents if p.exists()), Path("/"))
    free = shutil.disk_usage(path).free
    detail = f"{free / 2**20:.0f} MB free for {state_dir}"
    if free < DISK_FAIL:
        return Check("disk", "fail", detail + ": settings may not be saved", "free space on the SD card")
    if free < DISK_WARN:
        return Check("disk", "warn", detail, "free space on the SD card")
    return Check("disk", "ok", detail)

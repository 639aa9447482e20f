"""Command line: ``posenet-appliance detect | models | run | doctor | claim | validate-config | firstboot |
bench``.

Exit codes: 0 success, 1 runtime failure, 2 bad input (arguments, files, models).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance import __version__
from appliance.errors import ApplianceError, ConfigError, ModelError, SourceError

if TYPE_CHECKING:
    from appliance.config.models import TargetConfig

__all__ = ["main"]

logger = logging.getLogger("appliance")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit status 2."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def _field_default(model: type[Any], name: str) -> Any:
    return model.model_fields[name].default


def _field_choices(model: type[Any], name: str) -> list[str]:
    return list(typing.get_args(model.model_fields[name].annotation))


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    from appliance.config.models import InferenceConfig
    from appliance.pose.params import DecoderConfig, PoseNetDecoding

    inf, dec = InferenceConfig, DecoderConfig
    p.add_argument(
        "--model",
        help="model file, or a file name in the models folder "
        "($POSENET_MODELS_DIR, else ~/.local/share/posenet-appliance/models)",
    )
    p.add_argument(
        "--accelerator",
        "--backend",
        dest="accelerator",
        choices=_field_choices(inf, "accelerator"),
        help="what runs the model: auto (default): Edge TPU for _edgetpu models, else CPU (--backend: its old name)",
    )
    p.add_argument(
        "--device", help=f"Edge TPU device: usb, usb:N, pci, pci:N, any (default {_field_default(inf, 'device')})"
    )
    p.add_argument("--threads", type=int, help=f"CPU interpreter threads (default {_field_default(inf, 'threads')})")
    p.add_argument("--min-pose-score", type=float, help=f"0..1 (default {_field_default(dec, 'min_pose_score')})")
    p.add_argument("--max-poses", type=int, help=f"most people per frame (default {_field_default(dec, 'max_poses')})")
    radius = _field_default(PoseNetDecoding, "nms_radius")
    p.add_argument("--nms-radius", type=float, help=f"PoseNet: model-input pixels (default {radius:g})")
    p.add_argument("--single", action="store_true", help="single-pose decoding (one person)")


def option_error(exc: Any, model: type[Any]) -> ConfigError:
    """A pydantic ValidationError on ``model`` as one line naming the command-line option."""
    err = exc.errors()[0]
    name = str(err["loc"][-1]) if err["loc"] else ""
    option = "--" + name.replace("_", "-")
    for part in err["loc"][:-1]:  # a family's own option: decoder.posenet.nms_radius
        inner = model.model_fields.get(str(part))
        model = inner.annotation if inner is not None and isinstance(inner.annotation, type) else model
    field = model.model_fields.get(name)
    lo = hi = None
    for rule in field.metadata if field is not None else ():
        lo = getattr(rule, "ge", getattr(rule, "gt", lo))
        hi = getattr(rule, "le", getattr(rule, "lt", hi))
    if lo is not None and hi is not None and "input" in err:
        return ConfigError(f"{option} must be within {lo:g}..{hi:g}, got {err['input']}")
    return ConfigError(f"{option}: {err['msg']}")


def model_location(model: str | None) -> tuple[str | None, Path | None]:
    """``--model``: a file name in the models folder, or (the owner's command line may) a path, which
    becomes the models folder of this run: (file name, folder or None)."""
    if model is None:
        return None, None
    p = Path(model)
    if p.parent != Path() or p.is_file():
        return p.name, p.parent.resolve()
    return model, None


def media_location(source: str | None) -> tuple[str | None, Path | None]:
    """``--source images:DIR/PATTERN``, ``video:DIR/FILE`` or ``replay:DIR/FILE``: the folder becomes
    this run's media (or recordings) folder and the source names the file inside it (what a saved
    configuration may hold)."""
    if source is None:
        return None, None
    from appliance.capture import SOURCES, parse_source

    spec = parse_source(source)  # one clear line for a bad spec
    if not SOURCES[spec.type].files:
        return source, None
    folder, name = Path(spec.arg).parent, Path(spec.arg).name
    opts = spec.text[len(spec.type) + 1 + len(spec.arg) :]
    return f"{spec.type}:{name}{opts}", folder.expanduser().resolve()


def engine_options(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The engine options given on the command line, as patches (JSON data) of the ``inference`` and
    ``decoder`` sections: the one place options become settings (``detect`` and ``run``). A
    ``--model`` path gives its file name here (``model_location``)."""
    inference = {
        key: value
        for key, value in (
            ("model", model_location(args.model)[0]),
            ("accelerator", args.accelerator),
            ("device", args.device),
            ("threads", args.threads),
        )
        if value is not None
    }
    decoder: dict[str, Any] = {
        key: value
        for key, value in (("min_pose_score", args.min_pose_score), ("max_poses", args.max_poses))
        if value is not None
    }
    if args.nms_radius is not None:
        decoder["posenet"] = {"nms_radius": args.nms_radius}
    if args.single:
        decoder["mode"] = "single"
    return inference, decoder


def engine_config(args: argparse.Namespace) -> tuple[Any, Any, Path | None]:
    """(InferenceConfig, DecoderConfig, models folder) from the engine options; defaults are the
    models' own. A ``--model`` path is the owner's choice: the file name rule is for saved settings.

    Raises:
        ConfigError: an option out of range, naming it.
    """
    from pydantic import ValidationError

    from appliance.config.models import InferenceConfig
    from appliance.pose.params import DecoderConfig

    inf, dec = engine_options(args)
    name = inf.pop("model", None)
    try:
        decoder = DecoderConfig.model_validate(dec)
    except ValidationError as exc:
        raise option_error(exc, DecoderConfig) from None
    try:
        inference = InferenceConfig.model_validate(inf)
    except ValidationError as exc:
        raise option_error(exc, InferenceConfig) from None
    if name is not None:
        inference = inference.model_copy(update={"model": name})
    return inference, decoder, model_location(args.model)[1]


def load_config(path: Path) -> Any:
    """The configuration file at ``path`` (migrated from an older schema version), for the commands
    that read one without running (``validate-config``, ``doctor``).

    Raises:
        ConfigError: no such file. ValueError: not a JSON object. ValidationError: invalid.
    """
    from appliance.config.store import load_config_file

    try:
        return load_config_file(path)
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None


def open_store(args: argparse.Namespace) -> Any:
    """The ConfigStore of ``--config``, else of ``--state-dir`` (default: the state directory); not loaded."""
    from appliance.config.store import ConfigStore, default_state_dir

    if args.config:
        return ConfigStore(Path(args.config))
    return ConfigStore.in_dir(Path(args.state_dir or default_state_dir()))


def cmd_detect(args: argparse.Namespace) -> int:
    """Detect poses in still images; JSON or a human summary on stdout."""
    from appliance.capture.images import load_image
    from appliance.core.factory import build_engine
    from appliance.output.posejson import poses_to_json

    images = [(p, load_image(p)) for p in args.images]  # fail before loading the model
    engine = build_engine(*engine_config(args))
    movenet = engine.params.movenet.model_copy(update={"crop_to_person": False})  # unrelated stills
    engine.params = engine.params.model_copy(update={"movenet": movenet})
    model_name = Path(engine.model.info.path).name
    for path, image in images:
        poses = engine.process(image)
        h, w = image.shape[:2]
        if args.json:
            frame = poses_to_json(poses, "pixels")
            doc = {
                "image": path,
                "width": w,
                "height": h,
                "model": model_name,
                "backend": engine.model.name,
                "poses": [
                    {
                        "score": pose["score"],
                        "keypoints": [
                            {"name": name, "x": x, "y": y, "score": score}
                            for name, (x, y, score) in zip(frame["names"], pose["keypoints"], strict=True)
                        ],
                    }
                    for pose in frame["poses"]
                ],
            }
            print(json.dumps(doc))
            continue
        print(
            f"{path}: {w}x{h}, {len(poses)} {'person' if len(poses) == 1 else 'people'} "
            f"[{model_name} on {engine.model.name}]"
        )
        for i in range(len(poses)):
            kp = poses.keypoints[i]
            confident = int((kp[:, 2] >= 0.5).sum())
            x0, y0 = kp[:, 0].min(), kp[:, 1].min()
            x1, y1 = kp[:, 0].max(), kp[:, 1].max()
            print(
                f"  #{i + 1} score {poses.scores[i]:.2f}: nose at ({kp[0, 0]:.0f}, {kp[0, 1]:.0f}), "
                f"box ({x0:.0f}, {y0:.0f})-({x1:.0f}, {y1:.0f}), {confident}/17 keypoints >= 0.5"
            )
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    """List or fetch the pinned models."""
    from appliance.models.catalog import PINNED, fetch_models, models_dir, sha256_file

    dest = models_dir(args.dir)
    if args.action == "fetch":
        source = Path(args.source) if args.source else None
        for line in fetch_models(dest, args.names or None, source=source):
            print(line)
        return EXIT_OK
    print(f"models folder: {dest}")
    for m in PINNED:
        f = dest / m.name
        state = "missing" if not f.exists() else ("ok" if sha256_file(f) == m.sha256 else "BAD CHECKSUM")
        print(f"  {state:12s} {m.name}  ({m.size} bytes, sha256 {m.sha256[:16]}…)")
    return EXIT_OK


def default_source() -> str:
    """The Pi camera on a Pi; elsewhere there is no sensible default."""
    from appliance.sysinfo import is_raspberry_pi

    if is_raspberry_pi():
        return "picamera2"
    raise ConfigError(
        "no --source given and this is not a Raspberry Pi: pass e.g. "
        "--source 'images:../shared/images/*.jpg@15', --source synthetic or --source v4l2:/dev/video0"
    )


def parse_target(
    text: str,
    default_format: str = "",
    coords: str | None = None,
    mirror: bool = False,
    timetag: str | None = None,
) -> TargetConfig:
    """``--target HOST:PORT[/FORMAT]`` (``[v6addr]:PORT`` for IPv6, ``broadcast:PORT``) as a
    ``TargetConfig``: FORMAT (else ``default_format``, else the default format) may be a preset, and
    with a preset that has its own port (``HOST/p5-poses-osc``) the port may be left out.
    Coordinates: ``coords`` if given, else the preset's, else the format's default.

    Raises:
        ConfigError: not host:port, port not a number or out of range, unknown format, bad host.
    """
    from pydantic import ValidationError

    from appliance.config.models import TargetConfig
    from appliance.config.store import describe_errors
    from appliance.output.osc import DEFAULT_FORMAT, FORMATS
    from appliance.output.osc.presets import PRESETS, resolve

    spec, _, name = text.strip().partition("/")
    fmt, own_coords, own_port = resolve(name or default_format or DEFAULT_FORMAT)
    if own_port is not None and spec and (spec.endswith("]") or ":" not in spec):
        host, port_s = spec.strip("[]"), str(own_port)
    elif spec.startswith("["):
        host, _, port_s = spec[1:].partition("]:")
    else:
        host, _, port_s = spec.rpartition(":")
    if not host or not port_s:
        with_port = ", ".join(name for name, p in PRESETS.items() if p.port)
        raise ConfigError(f"target {text!r} is not HOST:PORT[/FORMAT] (or HOST/PRESET for {with_port})")
    try:
        port = int(port_s)
    except ValueError:
        raise ConfigError(f"target {text!r}: port {port_s!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"target port {port} is out of range 1..65535")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown OSC format {fmt!r}; choose one of {', '.join(FORMATS)}")
    given = {"coords": coords or own_coords, "timetag": timetag}
    data = {"host": host, "port": port, "format": fmt, "mirror": mirror} | {k: v for k, v in given.items() if v}
    try:
        return TargetConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"target {text!r}: {describe_errors(exc)}") from None


def default_targets(fmt: str) -> list[str]:
    """Broadcast on port 9000 on a Pi (zero configuration), loopback elsewhere."""
    from appliance.sysinfo import is_raspberry_pi

    return [f"broadcast:9000/{fmt}" if is_raspberry_pi() else f"127.0.0.1:9000/{fmt}"]


def apply_cli(config: Any, args: argparse.Namespace, fresh: bool, folders: Any) -> tuple[Any, Any]:
    """The configuration with the command line's explicit options applied (validated), and the
    folders of this run (a ``--model`` or file ``--source`` path moves them).

    ``fresh``: no saved configuration exists yet, so the first-boot default targets apply.
    """
    import dataclasses

    from pydantic import ValidationError

    from appliance.config.merge import merge_patch
    from appliance.config.models import AppConfig
    from appliance.config.store import describe_errors
    from appliance.output.osc import DEFAULT_FORMAT

    data = config.model_dump(mode="json")
    source, media = media_location(args.source)
    models = model_location(args.model)[1]
    if media is not None:
        from appliance.capture import source_kind

        where = source_kind(source).folder if source else "media"  # replay: the recordings folder
        folders = dataclasses.replace(folders, **{where: media})
    if models is not None:
        folders = dataclasses.replace(folders, models=models)
    if source:
        data["source"] = source
    elif fresh:
        data["source"] = default_source()
    inference, decoder = engine_options(args)
    data["inference"] = merge_patch(data["inference"], inference)
    data["decoder"] = merge_patch(data["decoder"], decoder)
    if args.smoothing is not None:
        data["smoothing"]["enabled"] = args.smoothing == "on"
    fmt = args.format or DEFAULT_FORMAT  # or a preset: parse_target expands it
    texts = args.target or (default_targets(fmt) if fresh else [])
    if texts:
        targets = [parse_target(t, fmt, args.coords, args.mirror, args.timetag) for t in texts]
        data["targets"] = [t.model_dump(mode="json") for t in targets]
    if args.http_port is not None:
        data["http"]["port"] = args.http_port
    if args.http_bind is not None:
        data["http"]["bind"] = args.http_bind
    if args.control_port is not None:
        data["osc_control"]["port"] = args.control_port
    if args.no_discovery:
        data["network"]["discovery"] = False
    if args.oscquery_port is not None:
        data["network"]["oscquery_port"] = args.oscquery_port
    if args.interface:
        data["network"]["interfaces"] = args.interface
    try:
        return AppConfig.model_validate(data), folders
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None


def cmd_run(args: argparse.Namespace) -> int:
    """Stream poses as OSC until SIGINT/SIGTERM, serving the HTTP API and the OSC control port."""
    import asyncio

    from appliance.core.app import Application
    from appliance.core.factory import Folders
    from appliance.service.lastgood import recover
    from appliance.service.serve import serve

    store = open_store(args)

    fresh = not store.path.exists()
    store.load()
    recover(store)
    store.config, folders = apply_cli(store.config, args, fresh, Folders.default(store.path.parent))
    app = Application(store, folders)
    if args.record:
        app.recordings.start(path=Path(args.record).expanduser(), seconds=args.record_seconds, video=args.record_video)
    tty = sys.stderr.isatty() and not args.quiet
    try:
        asyncio.run(serve(app, duration=args.duration, status_line=tty, control=not args.no_control))
    finally:
        done = app.recordings.stop()
        if done is not None and not args.quiet:
            print(f"recorded {done.frames} frames ({done.bytes / 1e6:.1f} MB) to {done.path}", file=sys.stderr)
    return EXIT_OK


def cmd_hub(args: argparse.Namespace) -> int:
    """``run`` with the ``hub`` source: the boxes named (``--box``), else those found on mDNS."""
    args.source = "hub:" + "+".join(args.box) if args.box else "hub"
    return cmd_run(args)


def cmd_firstboot(args: argparse.Namespace) -> int:
    """Unique host name and boot-partition settings (run as root before the service)."""
    from appliance.service.firstboot import FirstBootPaths, apply_boot_settings, ensure_owner, set_unique_hostname

    paths = FirstBootPaths(Path(args.boot), Path(args.state_dir), Path(args.hostname_file), Path(args.hosts_file))
    renamed = set_unique_hostname(paths, live=not args.no_live)
    print(f"host name: {renamed}" if renamed else "host name: unchanged")
    print(apply_boot_settings(paths))
    print(ensure_owner(paths))
    return EXIT_OK


def cmd_claim(args: argparse.Namespace) -> int:
    """Set this box's access token from the box itself (the owner: loopback needs no token), through
    the running service when it answers on 127.0.0.1, else in the saved configuration; prints it."""
    import urllib.error
    import urllib.request

    from appliance.guards import new_token, secret_problems
    from appliance.service.firstboot import give_to_service_user

    store = open_store(args)
    store.load()
    if args.if_unclaimed and store.config.http.token:
        print("this box already has an access token (claim without --if-unclaimed to replace it)")
        return EXIT_OK
    token = args.token or new_token()
    for _which, why in secret_problems(token, ""):
        raise ConfigError(f"--token: {why}")
    port = args.http_port or store.config.http.port
    body = json.dumps({"http": {"token": token}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/config", body, {"Content-Type": "application/json"}, method="PATCH"
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            where = f"set in the running service (port {port})"
    except urllib.error.HTTPError as exc:
        raise ConfigError(f"the service on port {port} refused: {exc.read(300).decode(errors='replace')}") from None
    except OSError:
        store.update(lambda current: {**current, "http": {**current["http"], "token": token}})
        give_to_service_user(store)
        where = f"saved in {store.path}"
        if store.path.with_name("run.json").exists():
            where += " (the service seems to run but did not answer on 127.0.0.1: restart it to use it)"
    print(f"access token: {token}")
    print(f"{where}; every change from another computer needs it (the web page asks for it once)")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """Exit 0 if the configuration file is valid (an older schema version is migrated first), 1 (with
    the failing fields) if not."""
    from pydantic import ValidationError

    from appliance.config.store import describe_errors

    try:
        load_config(Path(args.file))
    except (ValueError, ValidationError) as exc:
        reason = describe_errors(exc) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
        print(f"invalid: {reason}", file=sys.stderr)
        return EXIT_FAILURE
    print("valid")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check camera, Edge TPU, runtime, models, temperature, power, clock, network, disk; exit 1 if any
    check fails. With the service running, its own checks (they know whether frames arrive)."""
    import json
    import urllib.request

    from pydantic import ValidationError

    from appliance.config.models import AppConfig
    from appliance.config.store import default_state_dir, describe_errors
    from appliance.core.doctor import Facts, run_checks
    from appliance.core.status import Check, report
    from appliance.inference.io import read_model_file
    from appliance.inference.probe import probe_edgetpu
    from appliance.inference.runtime import load_runtime
    from appliance.models import identify
    from appliance.models.catalog import models_dir, resolve_model
    from appliance.sysinfo import coral_usb_devices

    path = Path(args.config) if args.config else Path(args.state_dir or default_state_dir()) / "config.json"
    checks: list[Check] = []
    config = AppConfig()
    if path.exists():
        try:
            config = load_config(path)
        except (ValueError, ValidationError) as exc:
            reason = describe_errors(exc) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
            checks.append(
                Check(
                    "config",
                    "fail",
                    f"{path} is not valid: {reason}",
                    "fix it on the page; the service runs on the last good one",
                )
            )
    source = ""
    doc = None
    try:  # the running service knows more: whether frames arrive, which backend runs and why
        with urllib.request.urlopen(f"http://127.0.0.1:{config.http.port}/api/health", timeout=3) as r:
            doc = json.loads(r.read())
        source = f" (from the service running on port {config.http.port})"
    except (OSError, ValueError):
        doc = None
    if doc is None:
        folder = models_dir(args.models_dir)
        probe = None
        if args.probe and coral_usb_devices():
            model = resolve_model(config.inference.model, folder)

            def probe() -> tuple[bool, str, str]:
                try:
                    family = identify(read_model_file(model))
                    result = probe_edgetpu(
                        load_runtime().module, config.inference.device, model=model, prepare=family.prepare
                    )
                except ApplianceError as exc:
                    return False, str(exc), "loading the model"
                return result.ok, result.reason, result.failure or "ok"

        found = run_checks(config, folder, path.parent, facts=Facts(probe=probe))
        doc = report([*checks, *found])
    elif checks:
        doc = report([*checks, *(Check(**c) for c in doc["checks"])])
    if args.json:
        print(json.dumps(doc))
    else:
        print(f"posenet-appliance doctor{source}")
        for c in doc["checks"]:
            print(f"  {c['status'].upper():5s} {c['name']:12s} {c['detail']}")
            if c["fix"]:
                print(f"        {'':12s} fix: {c['fix']}")
    return EXIT_FAILURE if any(c["status"] == "fail" for c in doc["checks"]) else EXIT_OK


def _add_run(sub: Any) -> None:
    """``run``: the service, with every option a saved setting has on the command line."""
    from appliance.capture import SOURCES

    run = sub.add_parser("run", help="stream poses as OSC until stopped (SIGINT/SIGTERM)")
    run.add_argument(
        "--source",
        help="one of: " + ", ".join(kind.syntax for kind in SOURCES.values()) + " (default on a Pi: picamera2)",
    )
    _service_options(run)
    run.set_defaults(func=cmd_run)
    hub = sub.add_parser(
        "hub", help="fuse several boxes into one set of people, streamed like one box (README 'Several boxes')"
    )
    hub.add_argument(
        "--box",
        action="append",
        metavar="HOST[:CONTROL_PORT]",
        help="a box to follow (repeatable; default: the boxes found on mDNS); its OSC control port, default 9001",
    )
    _service_options(hub)
    hub.set_defaults(func=cmd_hub)


def _service_options(run: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``hub`` share: targets, ports, formats, discovery ..."""
    from appliance.output.osc import COORDS, DEFAULT_FORMAT, FORMAT_NAMES, FORMATS, TIMETAGS
    from appliance.output.osc.base import DEFAULT_TIMETAG
    from appliance.output.osc.presets import PRESETS

    in_pixels = ", ".join(name for name in FORMAT_NAMES if FORMATS[name].default_coords == "pixels")
    run.add_argument(
        "--target",
        action="append",
        metavar="HOST:PORT[/FORMAT]",
        help="OSC destination, repeatable (default: broadcast:9000 on a Pi, else 127.0.0.1:9000); "
        "FORMAT may be a preset, and HOST/p5-poses-osc or HOST/wekinator need no port",
    )
    run.add_argument("--config", help="configuration file (read, and written on changes)")
    run.add_argument(
        "--state-dir",
        help="folder of the saved configuration (default: $STATE_DIRECTORY, else ~/.local/state/posenet-appliance)",
    )
    run.add_argument("--http-port", type=int, help="HTTP port (0: any free port; default 8080)")
    run.add_argument("--http-bind", help="HTTP address (default 0.0.0.0)")
    run.add_argument("--control-port", type=int, help="OSC control UDP port (0: off; default 9001)")
    run.add_argument("--no-control", action="store_true", help="no HTTP server and no OSC control port")
    run.add_argument("--no-discovery", action="store_true", help="do not advertise over mDNS")
    run.add_argument("--oscquery-port", type=int, help="OSCQuery TCP port (0: off; default 8081)")
    run.add_argument("--interface", action="append", help="advertise on this interface or IPv4 address (repeatable)")
    run.add_argument(
        "--format",
        default=None,
        choices=list(dict.fromkeys([*FORMAT_NAMES, *PRESETS])),
        help=f"format (or preset) of targets that do not name one (default {DEFAULT_FORMAT})",
    )
    run.add_argument(
        "--coords",
        choices=list(COORDS),
        default=None,
        help=f"camera pixels or 0..1 (default: the format's own: pixels for {in_pixels}, else 0..1)",
    )
    run.add_argument(
        "--timetag",
        choices=list(TIMETAGS),
        default=None,
        help=f"bundles' time tag: {DEFAULT_TIMETAG} (default) or the capture time (receivers with synchronised clocks)",
    )
    run.add_argument("--mirror", action="store_true", help="flip x (selfie view)")
    run.add_argument(
        "--smoothing",
        choices=["on", "off"],
        default=None,
        help="One Euro smoothing of keypoints per tracked person (default on; smoothing.* in the config)",
    )
    run.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: run until stopped)")
    run.add_argument("--record", metavar="FILE", help="record the decoded poses to FILE (JSON Lines; see 'Rehearsing')")
    run.add_argument("--record-seconds", type=float, metavar="S", help="stop recording after S seconds")
    run.add_argument("--record-video", action="store_true", help="also keep the camera frames (FILE.mp4 beside it)")
    run.add_argument("-q", "--quiet", action="store_true", help="no live status line")
    _add_engine_args(run)


def _add_owner_commands(sub: Any) -> None:
    """``firstboot`` and ``claim``: the box's setup and its owner's token."""
    fb = sub.add_parser("firstboot", help="set a unique host name, apply posenet.json from the boot partition")
    fb.add_argument("--boot", default="/boot/firmware")
    fb.add_argument("--state-dir", default="/var/lib/posenet-appliance")
    fb.add_argument("--hostname-file", default="/etc/hostname")
    fb.add_argument("--hosts-file", default="/etc/hosts")
    fb.add_argument("--no-live", action="store_true", help="only write the files (image builds, tests)")
    fb.set_defaults(func=cmd_firstboot)

    claim = sub.add_parser("claim", help="set this box's access token from the box itself (prints it)")
    claim.add_argument("--token", help="the token to set (12 characters or more; default: a new random one)")
    claim.add_argument("--if-unclaimed", action="store_true", help="only if no token is set yet")
    claim.add_argument("--config", help="configuration file (default: config.json in the state directory)")
    claim.add_argument("--state-dir", help="folder of the saved configuration (default: $STATE_DIRECTORY ...)")
    claim.add_argument("--http-port", type=int, help="the running service's HTTP port (default: the saved one)")
    claim.set_defaults(func=cmd_claim)


def _add_checks(sub: Any) -> None:
    """``validate-config``, ``doctor`` and ``models``: looking before running."""
    val = sub.add_parser("validate-config", help="check a configuration file (exit 0 valid, 1 invalid)")
    val.add_argument("file")
    val.set_defaults(func=cmd_validate)

    doc = sub.add_parser("doctor", help="check camera, Edge TPU, runtime, models, power, clock, network, disk")
    doc.add_argument("--json", action="store_true", help='print {"checks": [{name, status, detail, fix}, ...]}')
    doc.add_argument("--config", help="configuration file (default: config.json in the state directory)")
    doc.add_argument("--state-dir", help="folder of the saved configuration (default: $STATE_DIRECTORY ...)")
    doc.add_argument("--models-dir", help="models folder (default: $POSENET_MODELS_DIR or the user data dir)")
    doc.add_argument(
        "--no-probe",
        dest="probe",
        action="store_false",
        help="do not try the Edge TPU (when the service is not running)",
    )
    doc.set_defaults(func=cmd_doctor)

    mod = sub.add_parser("models", help="list or download the pinned Coral models")
    mod.add_argument("action", choices=["list", "fetch"])
    mod.add_argument("names", nargs="*", help="only these files (fetch)")
    mod.add_argument("--dir", help="models folder (default: $POSENET_MODELS_DIR or the user data dir)")
    mod.add_argument("--from", dest="source", help="fetch: copy from this folder instead of downloading")
    mod.set_defaults(func=cmd_models)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = _Parser(prog="posenet-appliance", description="PoseNet on a Coral Edge TPU, poses out as OSC.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    det = sub.add_parser("detect", help="find poses in still images")
    det.add_argument("images", nargs="+", metavar="IMAGE")
    det.add_argument("--json", action="store_true", help="one JSON object per image")
    _add_engine_args(det)
    det.set_defaults(func=cmd_detect)

    _add_run(sub)
    _add_owner_commands(sub)
    _add_checks(sub)

    from appliance import bench
    from appliance.playback import commands as playback
    from appliance.update import command as update

    playback.add_parsers(sub, lambda text, fmt, coords: parse_target(text, fmt, coords).spec())
    bench.add_parser(sub)
    update.add_parser(sub)
    from appliance.service import clock

    clock.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``posenet-appliance`` console script."""
    try:
        args = build_parser().parse_args(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from appliance import failpoints

    if failpoints.CONFIG_ERROR:
        print(f"error: {failpoints.CONFIG_ERROR}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result: int = args.func(args)
    except (ConfigError, ModelError, SourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApplianceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return result

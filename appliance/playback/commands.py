"""The command line's ``replay`` and ``recording`` commands (added to the parser by ``cli``).

``replay FILE --target HOST:PORT[/FORMAT|/PRESET]...`` plays a recording to OSC targets on any
computer with the package: no camera, no model, no HTTP. ``recording export FILE --to oscdump|csv``
writes it in the formats artists' tools read.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

from appliance.errors import ConfigError
from appliance.output.osc import COORDS
from appliance.transport.udp import TargetSpec

__all__ = ["add_parsers"]


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed {text!r} is not a number") from None
    if not 0.01 <= value <= 100:
        raise argparse.ArgumentTypeError(f"speed {value:g} is out of range 0.01..100")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{value:g} seconds: must be 0 or more")
    return value


def cmd_replay(args: argparse.Namespace) -> int:
    """Play a recording to OSC targets on schedule; print how well the schedule was kept."""
    from appliance.playback.player import Player
    from appliance.recording.fileformat import open_recording
    from appliance.transport.targets import TargetSet

    recording = open_recording(args.file)
    specs = [args.parse_target(t, args.format or "bundle", args.coords) for t in args.target]
    with ExitStack() as stack:
        targets = stack.enter_context(TargetSet(specs))
        player = Player(recording, targets, speed=args.speed, loop=args.loop, start=args.start, end=args.end)

        def stop(signum: int, frame: FrameType | None) -> None:
            player.stop()

        previous = signal.signal(signal.SIGTERM, stop)
        stack.callback(signal.signal, signal.SIGTERM, previous)
        try:
            stats = player.run()
        except KeyboardInterrupt:
            player.stop()
            return 130
    if not args.quiet:
        h = recording.header
        print(
            f"replayed {stats.frames} frames of {Path(args.file).name} ({h.box or 'a box'}, {h.width}x{h.height}) "
            f"at speed {args.speed:g}, {stats.passes} pass(es): late by median {stats.late_median * 1e3:.2f} ms, "
            f"p99 {stats.late_p99 * 1e3:.2f} ms, worst {stats.late_max * 1e3:.2f} ms",
            file=sys.stderr,
        )
        if recording.truncated or recording.skipped:
            cut = "; its last line was cut (a power cut while recording)" if recording.truncated else ""
            print(f"note: {recording.skipped} damaged line(s) skipped{cut}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a recording as oscdump text or CSV, to a file or standard output."""
    from appliance.playback.export import write_csv, write_oscdump
    from appliance.recording.fileformat import open_recording

    recording = open_recording(args.file)
    with ExitStack() as stack:
        out: Any = sys.stdout
        if args.output and args.output != "-":
            try:
                out = stack.enter_context(Path(args.output).open("w", encoding="ascii", newline=""))
            except OSError as exc:
                raise ConfigError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        if args.to == "csv":
            stats = write_csv(recording, out, args.coords or "pixels", args.start, args.end)
        else:
            stats = write_oscdump(recording, out, args.format or "bundle", args.coords, args.start, args.end)
    print(f"exported {stats.frames} frames as {stats.lines} {args.to} lines", file=sys.stderr)
    if stats.skipped:
        print(
            f"note: {stats.skipped} message(s) left out: longer than oscsendfile reads (1023 characters, 63 arguments)",
            file=sys.stderr,
        )
    return 0


def _window_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=_seconds, default=0.0, help="from this many seconds into the recording")
    p.add_argument("--end", type=_seconds, default=None, help="up to this many seconds into the recording")


def add_parsers(sub: Any, parse_target: Callable[[str, str, str | None], TargetSpec]) -> None:
    """Add ``replay`` and ``recording`` to the command line's subcommands; ``parse_target(text,
    default format, coordinates or None)`` is the command line's ``--target`` syntax (``appliance.cli``)."""
    from appliance.output.osc.formats import FORMAT_NAMES
    from appliance.output.osc.presets import PRESETS

    formats = list(dict.fromkeys([*FORMAT_NAMES, *PRESETS]))
    rep = sub.add_parser("replay", help="play a recording to OSC targets (no camera, no model needed)")
    rep.add_argument("file", metavar="FILE")
    rep.add_argument(
        "--target", action="append", required=True, metavar="HOST:PORT[/FORMAT]", help="OSC destination, repeatable"
    )
    rep.add_argument("--format", choices=formats, help="format of targets that do not name one (default bundle)")
    rep.add_argument("--coords", choices=list(COORDS), help="default: the format's own")
    rep.set_defaults(parse_target=parse_target)
    rep.add_argument("--speed", type=_speed, default=1.0, help="2 plays twice as fast (0.01..100; default 1)")
    rep.add_argument("--loop", action="store_true", help="start over at the end, until stopped")
    rep.add_argument("-q", "--quiet", action="store_true", help="no summary at the end")
    _window_args(rep)
    rep.set_defaults(func=cmd_replay)

    rec = sub.add_parser("recording", help="work with recordings (export)")
    rsub = rec.add_subparsers(dest="recording_command", required=True, parser_class=type(rec))
    exp = rsub.add_parser("export", help="write a recording as liblo oscdump text or CSV")
    exp.add_argument("file", metavar="FILE")
    exp.add_argument("--to", choices=["oscdump", "csv"], required=True)
    exp.add_argument("--format", choices=list(FORMAT_NAMES), help="OSC format for oscdump (default bundle)")
    exp.add_argument("--coords", choices=list(COORDS), help="default: the format's own (csv: pixels)")
    exp.add_argument("-o", "--output", help="file to write (default: standard output)")
    _window_args(exp)
    exp.set_defaults(func=cmd_export)

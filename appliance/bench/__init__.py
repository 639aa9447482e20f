"""Benchmarks that print numbers: ``posenet-appliance bench engine | pipeline | footprint | soak |
smoothing | ids | movenet | camera | replay |
discover | update | metrics | room | hub``, one module each (``motion`` holds smoothing, ids and movenet).

Medians of repeated runs, with ratios against a baseline measured in the same process, because
these machines are shared and noisy. Not tests: nothing here asserts a time. What they share is in
``common``, which imports none of them; none of them imports this package's ``__init__``.
"""

from __future__ import annotations

from typing import Any

from appliance.bench import (
    camera,
    discover,
    engine,
    footprint,
    hub,
    metrics,
    motion,
    pipeline,
    replay,
    room,
    soak,
    update,
)

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``bench`` and its sub-benchmarks on the CLI."""
    bench = sub.add_parser("bench", help="print performance numbers (not a test)")
    bsub = bench.add_subparsers(dest="bench", required=True, parser_class=type(bench))
    engine.add_parser(bsub)
    pipeline.add_parser(bsub)
    footprint.add_parser(bsub)
    soak.add_parser(bsub)
    motion.add_parsers(bsub)
    camera.add_parser(bsub)
    replay.add_parser(bsub)
    discover.add_parser(bsub)
    metrics.add_parser(bsub)
    room.add_parser(bsub)
    hub.add_parser(bsub)
    footprint.add_child_parser(bsub)
    update.add_parser(bsub)

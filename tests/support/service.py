"""The real service as tests start it (a child process)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["appliance_run_args"]


def appliance_run_args(
    source: str,
    model: str | Path,
    state_dir: Path,
    *extra: str,
    control_port: int = 0,
    http_port: int = 0,
    target: str = "127.0.0.1:9/arr",
) -> list[str]:
    """``posenet-appliance run`` as tests start it: loopback only, no mDNS, no OSCQuery, quiet.

    ``control_port`` 0 turns the OSC control port off; ``http_port`` 0 picks a free port.
    """
    import sys

    return [
        sys.executable,
        "-m",
        "appliance",
        "run",
        "--source",
        source,
        "--model",
        str(model),
        "--state-dir",
        str(state_dir),
        "--http-bind",
        "127.0.0.1",
        "--http-port",
        str(http_port),
        "--control-port",
        str(control_port),
        "--oscquery-port",
        "0",
        "--no-discovery",
        "--target",
        target,
        "--quiet",
        *extra,
    ]

"""The appliance as the discovery tests start it inside their network namespace."""

from __future__ import annotations

import sys
from pathlib import Path

MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"


def box_command(
    models_dir: Path,
    images_dir: Path,
    state: Path,
    *,
    http: int = 18080,
    control: int = 19001,
    oscquery: int = 18081,
    fps: int = 5,
    target: str = "127.0.0.1:9/bundle",
    address: str = "127.0.0.1",
    http_bind: str = "",
) -> str:
    """A shell command running ``posenet-appliance run`` on face.jpg, advertising on ``address`` only
    (``--interface``; loopback by default), its HTTP servers on that address (or ``http_bind``) at
    these ports. Add the redirection and ``&``."""
    return (
        f"{sys.executable} -m appliance run --source 'images:{images_dir}/face.jpg@{fps}' "
        f"--model {models_dir / MODEL} --state-dir {state} --http-bind {http_bind or address} --http-port {http} "
        f"--control-port {control} --oscquery-port {oscquery} --interface {address} --target {target} --quiet"
    )

"""Run inside a private network namespace (``unshare --net``, see test_prometheus.py): a box and
Debian's Prometheus server, the box at 10.77.0.1 (a second loopback address, so Prometheus is another
computer to it, not the box itself), ``http.metrics_need_token`` on. Prints one JSON line: what
Prometheus' query API answered.

    python -m tests.integration.prometheus_case STATE_DIR MODELS_DIR IMAGES_DIR
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BOX, BOX_PORT, PROM_PORT = "10.77.0.1", 8080, 9090
TOKEN = "fleet-token-0123456789"
MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
#: Two jobs scrape the same box: one with the token (as the README says to), one without.
PROM_YML = f"""
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: box
    authorization: {{credentials: {TOKEN}}}
    static_configs: [{{targets: ["{BOX}:{BOX_PORT}"]}}]
  - job_name: without_token
    static_configs: [{{targets: ["{BOX}:{BOX_PORT}"]}}]
"""


def query(expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{PROM_PORT}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=2) as r:
        doc = json.load(r)
    assert doc["status"] == "success", doc
    result: list[dict[str, Any]] = doc["data"]["result"]
    return result


def value(expr: str) -> float | None:
    try:
        result = query(expr)
    except OSError:
        return None
    return float(result[0]["value"][1]) if result else None


def dashboard() -> dict[str, int | str]:
    """Every query of the Grafana dashboard in examples/, asked of this Prometheus (the box's
    variable: every instance; rates over 10 s): the number of series it returns, or its error."""
    doc = json.loads((ROOT / "examples/grafana/posenet-fleet.json").read_text())
    answers: dict[str, int | str] = {}
    for panel in doc["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$instance", ".*").replace("$__rate_interval", "10s")
            try:
                answers[expr] = len(query(expr))
            except (OSError, AssertionError) as exc:
                answers[expr] = f"error: {exc}"
    return answers


def main(state: Path, models: Path, images: Path) -> dict[str, Any]:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # A second address on loopback: connections to it come from it, not from 127.0.0.1, so to the box
    # Prometheus is another computer (the owner rule treats only loopback addresses as the box).
    subprocess.run(["ip", "addr", "add", f"{BOX}/32", "dev", "lo"], check=True)
    config = {"inference": {"model": MODEL}, "http": {"token": TOKEN, "metrics_need_token": True}}
    config["targets"] = [{"host": "127.0.0.1", "port": 9, "format": "bundle"}]
    (state / "config.json").write_text(json.dumps(config))
    (state / "prom.yml").write_text(PROM_YML)
    argv = [sys.executable, "-m", "appliance", "run", "--source", f"images:{images}/face.jpg@10"]
    argv += ["--model", str(models / MODEL), "--state-dir", str(state), "--http-port", str(BOX_PORT)]
    argv += ["--http-bind", "0.0.0.0", "--control-port", "9000", "--oscquery-port", "0", "--no-discovery", "--quiet"]
    box = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    prom = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={state}/prom.yml",
            f"--storage.tsdb.path={state}/tsdb",
            f"--web.listen-address=127.0.0.1:{PROM_PORT}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            out = {
                "people": value('posenet_people{job="box"}'),
                "fps": value('posenet_fps{job="box"}'),
                "up": value('up{job="box"}'),
                "up_without_token": value('up{job="without_token"}'),
                "inference_count": value('posenet_inference_seconds_count{job="box"}'),
            }
            if out["people"] == 4 and (out["fps"] or 0) > 0 and out["up_without_token"] is not None:
                break
            time.sleep(0.5)
        out["seconds"] = round(40 - (deadline - time.monotonic()), 1)
        out["series"] = len(query('{job="box", __name__=~"posenet_.*"}'))
        time.sleep(2.0)  # a few more scrapes, for the dashboard's rates
        out["dashboard"] = dashboard()
    finally:
        prom.terminate()
        box.terminate()
        prom.wait(10)
        _, err = box.communicate(timeout=20)
        out["box_stderr"] = err.decode(errors="replace")[-1500:]
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))), flush=True)

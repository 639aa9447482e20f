"""The clock settings as chrony sees them, chrony's tracking parsed, the box that serves time chosen,
and the doctor's clock line (fake tracking; the real chronyd is in test_chrony_netns.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from appliance.config.models import AppConfig
from appliance.core.doctor import Facts, run_checks
from appliance.core.status import Peer, Status, StatusDocument
from appliance.service.clock import SERVER_FILE, apply, chosen_server, write_choice
from appliance.timesync import ChronyWatch, Tracking, check_server, chrony_conf, parse_tracking, sources_text

# chronyc -c tracking on a client 0.2 s behind its server (captured from chrony 4.3)
BEHIND = (
    "0A580001,10.88.0.1,2,1796281954.443654541,0.199997902,0.000000116,0.002583394,"
    "-1.481,0.032,2.746,0.000021022,0.000017898,0.1,Normal\n"
)


def test_chrony_conf_for_each_setting() -> None:
    assert "allow" not in chrony_conf(False, "", "/s") and "server" not in chrony_conf(False, "", "/s")
    served = chrony_conf(True, "", "/s")
    assert "local stratum 8\n" in served and "allow 192.168.0.0/16" in served
    assert "server 10.0.0.5 iburst prefer" in chrony_conf(False, "10.0.0.5", "/s")
    assert "server time.local iburst prefer" in chrony_conf(False, "time.local", "/s")
    assert "sourcedir /s" in chrony_conf(False, "auto", "/s")
    assert sources_text("10.0.0.7") == "server 10.0.0.7 iburst prefer\n" and sources_text("") == ""


@pytest.mark.parametrize("bad", ["a b", "x\nallow all", "10.0.0.1 iburst", "-h", "a..b", "x" * 254])
def test_a_server_that_is_not_a_name_or_an_address_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a host name or an IP address"):
        check_server(bad)
    with pytest.raises(ValidationError):
        AppConfig.model_validate({"clock": {"server": bad}})
    assert AppConfig.model_validate({"clock": {"server": "::1"}}).clock.server == "::1"


def test_tracking_parsed_with_the_offset_signed_ahead_positive() -> None:
    t = parse_tracking(BEHIND)
    assert t.reference == "10.88.0.1" and t.stratum == 2 and t.synchronised
    assert t.offset_s == pytest.approx(-0.199997902)
    unsynced = (
        "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.0,1.0,0.0,Not synchronised"
    )
    assert not parse_tracking(unsynced).synchronised
    for junk in ("", "506 Cannot talk to daemon", "a,b,c"):
        with pytest.raises(ValueError, match="not chronyc"):
            parse_tracking(junk)


def test_every_box_chooses_the_same_server(tmp_path: Path) -> None:
    peers = [
        Peer("b box", "10.0.0.9", 8080, {"clock": "serve"}),
        Peer("a box", "10.0.0.8", 8080, {"clock": "serve"}),
        Peer("0 box", "10.0.0.7", 8080, {}),
    ]
    assert chosen_server(peers) == chosen_server(reversed(peers)) == "10.0.0.8"
    assert chosen_server(peers[2:]) == ""
    assert write_choice(tmp_path, peers) and not write_choice(tmp_path, peers)
    assert (tmp_path / SERVER_FILE).read_text() == "10.0.0.8\n"


def test_apply_writes_chrony_files_from_the_validated_settings_only(tmp_path: Path) -> None:
    conf, sources = tmp_path / "conf.d" / "posenet.conf", tmp_path / "posenet.d"
    cfg = AppConfig.model_validate({"clock": {"server": "auto"}})
    (tmp_path / SERVER_FILE).write_text("10.0.0.8\nallow all\n")  # not an address: ignored
    assert "no box serves time yet" in apply(cfg, tmp_path, conf, sources, reload=False)
    assert (sources / "hub.sources").read_text() == ""
    (tmp_path / SERVER_FILE).write_text("10.0.0.8\n")
    assert "auto (10.0.0.8)" in apply(cfg, tmp_path, conf, sources, reload=False)
    assert (sources / "hub.sources").read_text() == "server 10.0.0.8 iburst prefer\n"
    assert f"sourcedir {sources}" in conf.read_text()
    assert "unchanged" in apply(cfg, tmp_path, conf, sources, reload=False)


def _clock(config: AppConfig, tracked: Tracking | None, synced: bool | None = True) -> tuple[str, str]:
    f = Facts(throttled=lambda: 0, clock=lambda: synced, package=lambda name: None, cameras=lambda: [])
    f.chrony = lambda: tracked
    check = next(c for c in run_checks(config, Path("/nonexistent"), Path("/tmp"), facts=f) if c.name == "clock")
    return check.status, check.detail


def test_doctor_warns_above_the_threshold() -> None:
    cfg = AppConfig()
    status, detail = _clock(cfg, Tracking("10.0.0.8", 3, 0.0042, 0.001, "Normal"))
    assert status == "ok" and "+4.20 ms" in detail
    status, detail = _clock(cfg, parse_tracking(BEHIND))
    assert status == "warn" and "-200.00 ms" in detail and "more than 5 ms" in detail
    tight = AppConfig.model_validate({"clock": {"warn_ms": 1}})
    assert _clock(tight, Tracking("10.0.0.8", 3, 0.0042, 0.001, "Normal"))[0] == "warn"
    assert _clock(cfg, None, synced=False)[0] == "warn"  # no chronyd: the kernel's word
    assert _clock(cfg, None, synced=True)[0] == "ok"


def test_the_status_reports_chronys_estimate_without_waiting_for_chronyc() -> None:
    started = threading.Event()
    release = threading.Event()

    def slow() -> Tracking:
        started.set()
        release.wait(5)
        return parse_tracking(BEHIND)

    watch = ChronyWatch(slow, every=10.0)
    t0 = time.monotonic()
    assert watch.latest() is None and time.monotonic() - t0 < 0.1  # asked on a thread, never waited for
    assert started.wait(2)
    assert watch.latest() is None  # one question at a time
    release.set()
    deadline = time.monotonic() + 2
    while watch.latest() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    tracked = watch.latest()
    assert tracked is not None and tracked.reference == "10.88.0.1"
    base = {"version": "x", "device_name": "d", "state": "running", "safe_mode": "", "degraded": ""}
    status = Status(
        **base, uptime_s=1.0, model="m", backend="b", source="scene", clock=(True, 0.0, 0.1), chrony=tracked
    )
    clock = StatusDocument.of(status).model_dump()["clock"]
    assert clock["source"] == "10.88.0.1" and clock["stratum"] == 2
    assert clock["estimated_offset_s"] == pytest.approx(-0.199997902)
    bare = StatusDocument.of(
        Status(**base, uptime_s=1.0, model="m", backend="b", source="scene", clock=(True, 0.0, 0.1))
    )
    assert bare.model_dump()["clock"]["source"] is None

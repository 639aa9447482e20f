"""Backends: CPU loading, the Edge TPU request (the TPU where one works, else the CPU twin), and a
delegate that crashes, hangs or fails (faked)."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from appliance.errors import ModelError
from appliance.inference import cpu_twin, edgetpu_twin
from appliance.inference.probe import probe_edgetpu
from appliance.models import family
from appliance.models import load_model as create_backend

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def edgetpu_here() -> bool:
    """Whether an Edge TPU works on this machine (the appliance's own probe: libedgetpu installed and
    a Coral answering on usb); tests of what happens without one expect the TPU where it is."""
    from appliance.inference.probe import probe_edgetpu
    from appliance.inference.runtime import load_runtime

    return probe_edgetpu(load_runtime().module, "usb").ok


@pytest.mark.parametrize(
    ("name", "input_size", "grid"),
    [
        ("posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite", (353, 481), (23, 31)),
        ("posenet_mobilenet_v1_075_481_641_quant_decoder.tflite", (481, 641), (31, 41)),
        ("posenet_mobilenet_v1_075_721_1281_16_quant_decoder.tflite", (721, 1281), (46, 81)),
        ("posenet_mobilenet_v1_075_481_641_quant.tflite", (481, 641), (31, 41)),
    ],
)
def test_cpu_backend_reads_everything_from_the_model(models_dir: Path, name: str, input_size, grid) -> None:
    backend = create_backend(models_dir / name, "cpu", threads=1)
    info = backend.info
    assert info.input_size == input_size and info.grid == grid and info.stride == 16
    assert info.was_cut == ("decoder" in name)
    assert backend.name.startswith("cpu (1 threads")
    heads = backend.infer(np.zeros((1, *input_size, 3), np.uint8))
    assert heads.heatmaps.shape == (*grid, 17) and heads.heatmaps.dtype == np.float32
    backend.close()
    backend.close()  # idempotent


def test_edgetpu_request_falls_back_to_the_cpu_twin(models_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    backend = create_backend(models_dir / "posenet_mobilenet_v1_075_481_641_16_quant_decoder_edgetpu.tflite")
    if edgetpu_here():  # a Coral is plugged in: the request is granted
        assert backend.name.startswith("edgetpu") and backend.info.path.endswith("_edgetpu.tflite")
        assert not any("falling back" in r.getMessage() for r in caplog.records)
        return
    assert backend.name.startswith("cpu fallback")
    assert backend.info.path.endswith("481_641_16_quant_decoder.tflite")
    assert any("falling back to the CPU model" in r.getMessage() for r in caplog.records)


def test_edgetpu_only_model_without_twin_says_what_to_do(models_dir: Path) -> None:
    path = models_dir / "posenet_mobilenet_v1_075_324_324_16_quant_decoder_edgetpu.tflite"
    if edgetpu_here():  # a Coral is plugged in: the model runs on it, no twin needed
        assert create_backend(path).name.startswith("edgetpu")
        return
    with pytest.raises(ModelError, match=r"no Edge TPU .* and no CPU twin"):
        create_backend(path)


def test_twin_names() -> None:
    assert cpu_twin(Path("m/a_edgetpu.tflite")) == Path("m/a.tflite")
    assert edgetpu_twin(Path("m/a.tflite")) == Path("m/a_edgetpu.tflite")
    assert edgetpu_twin(Path("m/a_edgetpu.tflite")) == Path("m/a_edgetpu.tflite")


@pytest.fixture
def fake_runtime_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


@pytest.mark.usefixtures("fake_runtime_env")
def test_a_segfaulting_delegate_cannot_kill_us(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DELEGATE", "segv")
    result = probe_edgetpu("tests.fakes.crashing_runtime", "usb", require_library=False)
    assert not result.ok and result.failure == "crash"
    assert result.reason == "Edge TPU delegate crashed (signal 11, SIGSEGV) while opening the device"


@pytest.mark.usefixtures("fake_runtime_env")
def test_a_hanging_delegate_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DELEGATE", "hang")
    result = probe_edgetpu("tests.fakes.crashing_runtime", "pci", timeout=2.0, require_library=False)
    assert not result.ok and "hung" in result.reason


@pytest.mark.usefixtures("fake_runtime_env")
def test_a_failing_delegate_reports_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DELEGATE", "fail")
    result = probe_edgetpu("tests.fakes.crashing_runtime", "usb:1", require_library=False)
    assert not result.ok and result.reason == "ValueError: Failed to load delegate from libedgetpu.so.1"
    monkeypatch.setenv("FAKE_DELEGATE", "ok")
    assert probe_edgetpu("tests.fakes.crashing_runtime", "usb:1", require_library=False).ok


def test_real_runtime_without_libedgetpu_is_a_clean_failure() -> None:
    if edgetpu_here():
        pytest.skip("an Edge TPU works here: the probe succeeds (tests/hardware checks it)")
    result = probe_edgetpu("ai_edge_litert.interpreter", "usb", require_library=False)
    assert not result.ok and "libedgetpu" in result.reason


CPU_MODEL = "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"
CUT = family("posenet").prepare  # the service probes the bytes it will load: the decoder op cut off


@pytest.mark.usefixtures("fake_runtime_env")
def test_a_delegate_that_crashes_preparing_the_model_is_caught(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path
) -> None:
    # What Coral's libedgetpu 16.0 (built for TF 2.5) is reported to do in newer runtimes: the
    # delegate loads, then the process dies in allocate_tensors. A probe of load_delegate alone
    # would pass, and the service would crash on every start.
    monkeypatch.setenv("FAKE_DELEGATE", "segv-prepare")
    assert probe_edgetpu("tests.fakes.crashing_runtime", "usb", require_library=False).ok  # the old, shallow probe
    result = probe_edgetpu(
        "tests.fakes.crashing_runtime", "usb", model=models_dir / CPU_MODEL, prepare=CUT, require_library=False
    )
    assert not result.ok and result.failure == "crash"
    assert f"crashed (signal 11, SIGSEGV) while preparing {CPU_MODEL}" in result.reason
    assert "does not match" in result.reason


@pytest.mark.usefixtures("fake_runtime_env")
def test_a_delegate_that_hangs_running_the_model_times_out(monkeypatch: pytest.MonkeyPatch, models_dir: Path) -> None:
    monkeypatch.setenv("FAKE_DELEGATE", "hang-invoke")
    result = probe_edgetpu(
        "tests.fakes.crashing_runtime",
        "usb",
        timeout=8.0,
        model=models_dir / CPU_MODEL,
        prepare=CUT,
        require_library=False,
    )
    assert not result.ok and result.failure == "hang"
    assert f"hung for 8 s while running {CPU_MODEL}" in result.reason


@pytest.mark.usefixtures("fake_runtime_env")
def test_the_probe_runs_the_model_once(monkeypatch: pytest.MonkeyPatch, models_dir: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("FAKE_DELEGATE", "ok")
    assert probe_edgetpu(
        "tests.fakes.crashing_runtime", "usb", model=models_dir / CPU_MODEL, prepare=CUT, require_library=False
    ).ok
    missing = probe_edgetpu("tests.fakes.crashing_runtime", "usb", model=tmp_path / "x.tflite", require_library=False)
    assert not missing.ok and missing.failure == "error" and "model file not found" in missing.reason
    monkeypatch.setenv("FAKE_DELEGATE", "fail")
    absent = probe_edgetpu(
        "tests.fakes.crashing_runtime", "usb", model=models_dir / CPU_MODEL, prepare=CUT, require_library=False
    )
    assert not absent.ok and absent.failure == "absent"


def test_backend_probes_the_model_it_will_run_and_names_the_failure(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path
) -> None:
    import appliance.inference as inference
    from appliance.inference.probe import ProbeResult

    seen: list[object] = []

    def crashed(module: str, device: str, timeout: float = 0, *, model: object = None, **_: object) -> ProbeResult:
        seen.append(model)
        return ProbeResult(False, "Edge TPU delegate crashed (signal 11, SIGSEGV) while preparing it", "crash")

    monkeypatch.setattr(inference, "probe_edgetpu", crashed)
    tpu = models_dir / "posenet_mobilenet_v1_075_481_641_16_quant_decoder_edgetpu.tflite"
    backend = create_backend(tpu, threads=1)
    assert seen == [tpu]
    assert backend.name == "cpu fallback (1 threads): Edge TPU on usb crashed (see log)"
    assert backend.info.path.endswith(CPU_MODEL)

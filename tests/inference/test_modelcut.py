"""The in-place decoder cut: every Coral PoseNet file, pinned results, refusals."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from appliance.errors import ModelError
from appliance.inference.runtime import load_runtime
from appliance.models.modelcut import DECODER_OP, cut_posenet_decoder, inspect_last_op

#: sha256 of each model after the cut; a change here means the cut changed.
CUT_SHA256 = {
    "posenet_mobilenet_v1_075_324_324_16_quant_decoder_edgetpu.tflite": "2c3caa238b2ecf775659cc18ad2a5e563e90829320b0ff07f1d5815ce5d68f4f",
    "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite": "3430c8d7d3932cd347e88007c2184fba4d7018d1a67496fae6e53f804e23ac7c",
    "posenet_mobilenet_v1_075_353_481_16_quant_decoder_edgetpu.tflite": "28466f8511dae319d2e1249bd7c91046abea97ce74f0b4d41e8107d94f1e3fbf",
    "posenet_mobilenet_v1_075_353_481_quant_decoder.tflite": "6db9c65c2ac15632307b165d79c023695c04bd829a6a5694e1826d72b56eee17",
    "posenet_mobilenet_v1_075_353_481_quant_decoder_edgetpu.tflite": "1befcc5d0da2bec6052e7d1dc6feacacb71fea66c9229c8edfaeb08ea5937bec",
    "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite": "4add180a003695ce856999aa7f096d3a1c3e42e2671dca52ea318df0c93f3db4",
    "posenet_mobilenet_v1_075_481_641_16_quant_decoder_edgetpu.tflite": "4e1b14f947400c2d872de2841721a68a0d3a683d390dbbcac2c558e5d3888c40",
    "posenet_mobilenet_v1_075_481_641_quant_decoder.tflite": "0152d982f1f222b86d9919c85be44cc15233f7e56dd56b8dfa21f0718f2d97f3",
    "posenet_mobilenet_v1_075_481_641_quant_decoder_edgetpu.tflite": "e0665832b2493849540f78a19c7fff6e1785fe3e1d686320316091f4d3a4e72a",
    "posenet_mobilenet_v1_075_721_1281_16_quant_decoder.tflite": "9450c5e72c63dc89f59ba494f43072b46f33ce3c8c794301163548c3ea12547e",
    "posenet_mobilenet_v1_075_721_1281_16_quant_decoder_edgetpu.tflite": "791f3f7b8701dcaca0708df36d05e9e8ecbd971ddf6b2d9c127b98ea833ec385",
    "posenet_mobilenet_v1_075_721_1281_quant_decoder.tflite": "9ed52443d88c50bfd48d81c27c021e88006474b0a78293d5b60f1976b7eefc1a",
    "posenet_mobilenet_v1_075_721_1281_quant_decoder_edgetpu.tflite": "c66513a0dd178bb6b305f8680d74fc73964aec9e1f94cab3c5457c5f208c1cc5",
}


@pytest.mark.parametrize("name", sorted(CUT_SHA256))
def test_cut_is_small_in_place_and_pinned(models_dir: Path, name: str) -> None:
    original = (models_dir / name).read_bytes()
    op, decoder_inputs = inspect_last_op(original)
    assert op == DECODER_OP.decode()
    result = cut_posenet_decoder(original)
    assert result.was_cut
    assert len(result.content) == len(original)
    assert sum(a != b for a, b in zip(original, result.content, strict=True)) <= 48
    # The new outputs are exactly the tensors the decoder op read.
    assert result.head_tensors == decoder_inputs[:3]
    assert hashlib.sha256(result.content).hexdigest() == CUT_SHA256[name]
    # A cut model no longer ends in the decoder.
    assert inspect_last_op(result.content)[0] != DECODER_OP.decode()


@pytest.mark.parametrize("name", sorted(n for n in CUT_SHA256 if not n.endswith("_edgetpu.tflite")))
def test_cut_cpu_model_outputs_are_the_decoder_inputs(models_dir: Path, name: str) -> None:
    """The cut model's outputs are the uncut model's decoder inputs: same tensors, names, quantisation."""
    rt = load_runtime()
    original = (models_dir / name).read_bytes()
    _, decoder_inputs = inspect_last_op(original)
    interp = rt.interpreter(model_content=cut_posenet_decoder(original).content)
    interp.allocate_tensors()
    outs = interp.get_output_details()
    assert [o["index"] for o in outs] == list(decoder_inputs[:3])
    assert [int(o["shape"][-1]) for o in outs] == [17, 34, 64]
    # Every tensor the decoder consumed is one the interpreter computes, with a real quantisation.
    assert all(o["quantization"][0] > 0 for o in outs)


def test_edgetpu_cut_fails_only_on_the_edgetpu_op(models_dir: Path) -> None:
    rt = load_runtime()
    content = cut_posenet_decoder(
        (models_dir / "posenet_mobilenet_v1_075_481_641_16_quant_decoder_edgetpu.tflite").read_bytes()
    ).content
    interp = rt.interpreter(model_content=content)
    with pytest.raises(RuntimeError, match="edgetpu-custom-op"):
        interp.allocate_tensors()


def test_raw_head_model_is_returned_unchanged(models_dir: Path) -> None:
    content = (models_dir / "posenet_mobilenet_v1_075_481_641_quant.tflite").read_bytes()
    result = cut_posenet_decoder(content)
    assert not result.was_cut
    assert result.content == content


def test_non_posenet_model_is_refused(models_dir: Path) -> None:
    content = (models_dir / "movenet_single_pose_lightning_ptq.tflite").read_bytes()
    with pytest.raises(ModelError, match="not a PoseNet model"):
        cut_posenet_decoder(content)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello world, not a model", b"\x00\x00\x00\x00TFL3" + b"\xff" * 8, struct.pack("<I", 10**6) + b"TFL3"],
)
def test_garbage_is_refused_with_model_error(content: bytes) -> None:
    with pytest.raises(ModelError):
        cut_posenet_decoder(content)

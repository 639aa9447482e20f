"""Remove the trailing PosenetDecoderOp from a TFLite PoseNet model, in place on its bytes.

Every Coral PoseNet ``*_decoder*.tflite`` model ends in the custom operator ``PosenetDecoderOp``,
which stock runtimes do not have. Its three inputs are exactly the raw network heads (heatmaps,
short offsets, mid offsets). Rewriting the subgraph's ``outputs`` vector to those three tensors and
shortening the ``operators`` vector by one leaves a model that any TFLite runtime (plus the
libedgetpu delegate for ``_edgetpu`` files) runs, and whose outputs we decode in numpy.

The edit follows the TFLite flatbuffer schema (``tensorflow/lite/schema/schema.fbs``):
Model field 1 ``operator_codes``, field 2 ``subgraphs``; SubGraph field 2 ``outputs``, field 3
``operators``; Operator field 0 ``opcode_index``, field 1 ``inputs``; OperatorCode field 1
``custom_code``. Flatbuffer vectors are a uint32 length followed by the elements, so the cut only
rewrites a few integers: the file size is unchanged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from appliance.errors import ModelError

__all__ = ["DECODER_OP", "CutResult", "cut_posenet_decoder", "inspect_last_op", "io_shapes"]

DECODER_OP = b"PosenetDecoderOp"
_IDENT = b"TFL3"


@dataclass(frozen=True, slots=True)
class CutResult:
    """The cut model's bytes and the tensor indices of the raw heads (heatmaps, short, mid)."""

    content: bytes
    head_tensors: tuple[int, int, int]
    was_cut: bool


class _Reader:
    """Minimal bounds-checked flatbuffer reader over a bytes-like object."""

    def __init__(self, buf: bytes | bytearray) -> None:
        self.buf = buf

    def _unpack(self, fmt: str, off: int) -> int:
        if off < 0 or off + struct.calcsize(fmt) > len(self.buf):
            raise ModelError("not a valid TFLite flatbuffer (offset out of range)")
        value: int = struct.unpack_from(fmt, self.buf, off)[0]
        return value

    def u32(self, off: int) -> int:
        return self._unpack("<I", off)

    def i32(self, off: int) -> int:
        return self._unpack("<i", off)

    def u16(self, off: int) -> int:
        return self._unpack("<H", off)

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None if absent."""
        vtable = table - self.i32(table)
        vsize = self.u16(vtable)
        if 4 + 2 * index >= vsize:
            return None
        rel = self.u16(vtable + 4 + 2 * index)
        return table + rel if rel else None

    def indirect(self, pos: int) -> int:
        return pos + self.u32(pos)

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """(position of the length word, length) of a vector field; (−1, 0) when absent."""
        pos = self.field(table, index)
        if pos is None:
            return -1, 0
        vec = self.indirect(pos)
        return vec, self.u32(vec)

    def table_at(self, vec: int, i: int) -> int:
        return self.indirect(vec + 4 + 4 * i)

    def string(self, pos: int) -> bytes:
        s = self.indirect(pos)
        n = self.u32(s)
        if s + 4 + n > len(self.buf):
            raise ModelError("not a valid TFLite flatbuffer (string out of range)")
        return bytes(self.buf[s + 4 : s + 4 + n])


@dataclass(frozen=True, slots=True)
class _LastOp:
    custom_code: bytes
    inputs: tuple[int, ...]
    subgraph_outputs_vec: int
    subgraph_outputs_len: int
    operators_vec: int
    operators_len: int


def _last_op(r: _Reader) -> _LastOp:
    if len(r.buf) < 8 or bytes(r.buf[4:8]) != _IDENT:
        raise ModelError("not a TFLite model (missing TFL3 identifier)")
    root = r.u32(0)
    codes_vec, n_codes = r.vector(root, 1)
    subgraphs_vec, n_subgraphs = r.vector(root, 2)
    if n_subgraphs < 1:
        raise ModelError("TFLite model has no subgraph")
    sg = r.table_at(subgraphs_vec, 0)
    outs_vec, n_outs = r.vector(sg, 2)
    ops_vec, n_ops = r.vector(sg, 3)
    if n_ops < 1:
        raise ModelError("TFLite model has no operators")
    op = r.table_at(ops_vec, n_ops - 1)
    opcode_pos = r.field(op, 0)
    opcode_index = r.u32(opcode_pos) if opcode_pos is not None else 0
    if opcode_index >= n_codes:
        raise ModelError("TFLite model refers to a missing operator code")
    code = r.table_at(codes_vec, opcode_index)
    custom_pos = r.field(code, 1)
    custom = r.string(custom_pos) if custom_pos is not None else b""
    ins_vec, n_ins = r.vector(op, 1)
    inputs = tuple(r.i32(ins_vec + 4 + 4 * k) for k in range(n_ins))
    return _LastOp(custom, inputs, outs_vec, n_outs, ops_vec, n_ops)


def io_shapes(content: bytes) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Shapes of the first subgraph's input and output tensors, read from the flatbuffer (SubGraph
    field 0 ``tensors``, 1 ``inputs``, 2 ``outputs``; Tensor field 0 ``shape``), without a runtime.

    Raises:
        ModelError: not a TFLite model, or a malformed one.
    """
    r = _Reader(content)
    _last_op(r)  # checks the identifier and the subgraph
    root = r.u32(0)
    subgraphs_vec, _ = r.vector(root, 2)
    sg = r.table_at(subgraphs_vec, 0)
    tensors_vec, n_tensors = r.vector(sg, 0)

    def shapes(field: int) -> list[tuple[int, ...]]:
        vec, n = r.vector(sg, field)
        out = []
        for k in range(n):
            t = r.i32(vec + 4 + 4 * k)
            if not 0 <= t < n_tensors:
                raise ModelError("not a valid TFLite flatbuffer (tensor index out of range)")
            shape_vec, dims = r.vector(r.table_at(tensors_vec, t), 0)
            out.append(tuple(r.i32(shape_vec + 4 + 4 * d) for d in range(dims)))
        return out

    return shapes(1), shapes(2)


def inspect_last_op(content: bytes) -> tuple[str, tuple[int, ...]]:
    """Name (custom code, empty for builtins) and input tensor indices of the last operator."""
    last = _last_op(_Reader(content))
    return last.custom_code.decode("ascii", "replace"), last.inputs


def cut_posenet_decoder(content: bytes) -> CutResult:
    """Return ``content`` with its trailing PosenetDecoderOp removed.

    A model without the decoder is returned unchanged (``was_cut`` False, ``head_tensors`` taken
    from its subgraph outputs, which must be three).

    Raises:
        ModelError: the bytes are not a TFLite model, or not a PoseNet one.
    """
    r = _Reader(content)
    last = _last_op(r)
    if last.custom_code != DECODER_OP:
        n = last.subgraph_outputs_len
        if n != 3:
            raise ModelError(
                f"not a PoseNet model: it ends in {last.custom_code.decode() or 'a builtin op'} "
                f"and has {n} outputs (expected PosenetDecoderOp or 3 raw heads)"
            )
        outs = tuple(r.i32(last.subgraph_outputs_vec + 4 + 4 * k) for k in range(3))
        return CutResult(bytes(content), (outs[0], outs[1], outs[2]), was_cut=False)
    if len(last.inputs) < 3 or last.subgraph_outputs_len < 3:
        raise ModelError("PosenetDecoderOp has fewer than 3 inputs; unsupported model variant")
    heads = (last.inputs[0], last.inputs[1], last.inputs[2])
    buf = bytearray(content)
    struct.pack_into("<I", buf, last.subgraph_outputs_vec, 3)
    struct.pack_into("<3i", buf, last.subgraph_outputs_vec + 4, *heads)
    struct.pack_into("<I", buf, last.operators_vec, last.operators_len - 1)
    return CutResult(bytes(buf), heads, was_cut=True)

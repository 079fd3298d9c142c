#!/usr/bin/env python3
"""Writes the small GGUF fixtures under tests/data/gguf with the independent
writer of the `gguf` Python package (llama.cpp's gguf-py), so that qrag's
reader is cross-checked against a writer it shares no code with.

Outputs (deterministic; rerun after changing this script and commit them):
  tiny-llama.gguf        llama architecture, 2 blocks, F32 norms + F16 weights,
                         a 48-token SentencePiece-style vocabulary (`make demo` inspects it)
  value-types.gguf       every metadata value type, nested arrays, alignment 64 and
                         tensors of types F32, F16, Q8_0, I32, F64
  <name>.expected.json   what the writer was told to write: metadata (type and value) and
                         per tensor: type, shape (ne[0] first), byte size, FNV-1a 64 of the
                         raw bytes and the first values. Tests compare qrag's reader against it.

Usage: python3 scripts/goldens/make_tiny_gguf.py [OUT_DIR]   (default tests/data/gguf)
Needs: pip packages gguf (0.10 or later) and numpy.
"""

import json
import math
from importlib.metadata import version
import os
import sys

import numpy as np
import gguf
from gguf import GGUFValueType as VT, GGMLQuantizationType as QT

SEED = 20240605


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def json_number(x):
    """JSON has no NaN/inf; the fixtures avoid them, so this only guards mistakes."""
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError("non-finite value in a fixture")
    return x


class Recorder:
    """Wraps a GGUFWriter and records what it was asked to write."""

    def __init__(self, path, arch, alignment=None):
        self.writer = gguf.GGUFWriter(path, arch)
        if alignment is not None:
            self.writer.add_custom_alignment(alignment)
        self.metadata = {"general.architecture": {"type": "string", "value": arch}}
        if alignment is not None:
            self.metadata["general.alignment"] = {"type": "uint32", "value": alignment}
        self.tensors = []
        self.path = path

    def kv(self, key, vtype, value, sub_type=None):
        self.writer.add_key_value(key, value, vtype, sub_type=sub_type)
        self.metadata[key] = describe(vtype, value, sub_type)

    def tensor(self, name, array, raw_dtype=None, ne=None, first_values=None):
        """array: numpy array in row-major order (last numpy axis = ne[0])."""
        if raw_dtype is None:
            self.writer.add_tensor(name, array)
            ggml_type = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16",
                         np.dtype(np.int32): "i32", np.dtype(np.float64): "f64"}[array.dtype]
            shape = list(reversed(array.shape))
            values = array.reshape(-1)[:4].astype(np.float64).tolist()
        else:
            self.writer.add_tensor(name, array, raw_shape=None, raw_dtype=raw_dtype)
            ggml_type = raw_dtype.name.lower()
            shape = ne
            values = first_values or []
        data = array.tobytes()
        self.tensors.append({"name": name, "type": ggml_type, "shape": shape, "n_bytes": len(data),
                             "fnv1a64": fnv1a64(data), "first_values": [json_number(v) for v in values]})

    def finish(self):
        w = self.writer
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        # gguf-py writes general.architecture first, then the keys in insertion order.
        expected = {"file": os.path.basename(self.path), "metadata": self.metadata, "tensors": self.tensors}
        with open(self.path[:-len(".gguf")] + ".expected.json", "w") as f:
            json.dump(expected, f, indent=1, sort_keys=False)
            f.write("\n")


def describe(vtype, value, sub_type=None):
    names = {VT.UINT8: "uint8", VT.INT8: "int8", VT.UINT16: "uint16", VT.INT16: "int16", VT.UINT32: "uint32",
             VT.INT32: "int32", VT.FLOAT32: "float32", VT.BOOL: "bool", VT.STRING: "string", VT.ARRAY: "array",
             VT.UINT64: "uint64", VT.INT64: "int64", VT.FLOAT64: "float64"}
    if vtype != VT.ARRAY:
        if vtype == VT.FLOAT32:
            value = float(np.float32(value))  # what a float32 can hold
        return {"type": names[vtype], "value": value}
    elem = sub_type if sub_type is not None else VT.get_type(value[0])
    items = [describe(elem, v)["value"] if elem != VT.ARRAY else describe(VT.ARRAY, v) for v in value]
    return {"type": "array", "element_type": names[elem], "values": items}


def make_tiny_llama(out_dir):
    rng = np.random.default_rng(SEED)
    n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx = 48, 16, 2, 4, 2, 32, 256
    head_dim = n_embd // n_head
    r = Recorder(os.path.join(out_dir, "tiny-llama.gguf"), "llama")
    r.kv("general.name", VT.STRING, "tiny-llama")
    r.kv("general.file_type", VT.UINT32, 1)  # MOSTLY_F16
    r.kv("llama.context_length", VT.UINT32, n_ctx)
    r.kv("llama.embedding_length", VT.UINT32, n_embd)
    r.kv("llama.block_count", VT.UINT32, n_layer)
    r.kv("llama.feed_forward_length", VT.UINT32, n_ff)
    r.kv("llama.attention.head_count", VT.UINT32, n_head)
    r.kv("llama.attention.head_count_kv", VT.UINT32, n_head_kv)
    r.kv("llama.rope.dimension_count", VT.UINT32, head_dim)
    r.kv("llama.rope.freq_base", VT.FLOAT32, 10000.0)
    r.kv("llama.attention.layer_norm_rms_epsilon", VT.FLOAT32, 1e-5)

    # A SentencePiece-style vocabulary: 3 specials, then words and letters with "▁" word starts.
    words = ["▁the", "▁a", "▁cat", "▁dog", "▁sat", "▁on", "▁mat", "▁and", "▁ran", "▁big", "▁red",
             "▁sun", "▁was", "▁happy", "▁day", "▁it", "."]
    letters = ["▁"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + [","]
    tokens = ["<unk>", "<s>", "</s>"] + words + letters
    tokens = tokens[:n_vocab]
    assert len(tokens) == n_vocab, len(tokens)
    scores = [0.0, 0.0, 0.0] + [float(-i) for i in range(n_vocab - 3)]  # float(-0) is +0.0
    token_types = [2, 3, 3] + [1] * (n_vocab - 3)  # UNKNOWN, CONTROL, CONTROL, NORMAL...
    r.kv("tokenizer.ggml.model", VT.STRING, "llama")
    r.kv("tokenizer.ggml.tokens", VT.ARRAY, tokens, sub_type=VT.STRING)
    r.kv("tokenizer.ggml.scores", VT.ARRAY, scores, sub_type=VT.FLOAT32)
    r.kv("tokenizer.ggml.token_type", VT.ARRAY, token_types, sub_type=VT.INT32)
    r.kv("tokenizer.ggml.bos_token_id", VT.UINT32, 1)
    r.kv("tokenizer.ggml.eos_token_id", VT.UINT32, 2)
    r.kv("tokenizer.ggml.unknown_token_id", VT.UINT32, 0)
    r.kv("tokenizer.ggml.add_bos_token", VT.BOOL, True)

    def weight(rows, cols):  # numpy [rows, cols] = GGUF ne [cols, rows]
        return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float16)

    def norm(n):
        return (1.0 + 0.01 * rng.standard_normal(n)).astype(np.float32)

    r.tensor("token_embd.weight", weight(n_vocab, n_embd))
    for il in range(n_layer):
        r.tensor(f"blk.{il}.attn_norm.weight", norm(n_embd))
        r.tensor(f"blk.{il}.attn_q.weight", weight(n_embd, n_embd))
        r.tensor(f"blk.{il}.attn_k.weight", weight(n_head_kv * head_dim, n_embd))
        r.tensor(f"blk.{il}.attn_v.weight", weight(n_head_kv * head_dim, n_embd))
        r.tensor(f"blk.{il}.attn_output.weight", weight(n_embd, n_embd))
        r.tensor(f"blk.{il}.ffn_norm.weight", norm(n_embd))
        r.tensor(f"blk.{il}.ffn_gate.weight", weight(n_ff, n_embd))
        r.tensor(f"blk.{il}.ffn_up.weight", weight(n_ff, n_embd))
        r.tensor(f"blk.{il}.ffn_down.weight", weight(n_embd, n_ff))
    r.tensor("output_norm.weight", norm(n_embd))
    r.tensor("output.weight", weight(n_vocab, n_embd))
    r.finish()


def make_value_types(out_dir):
    rng = np.random.default_rng(SEED + 1)
    r = Recorder(os.path.join(out_dir, "value-types.gguf"), "qrag-test", alignment=64)
    r.kv("test.uint8", VT.UINT8, 200)
    r.kv("test.int8", VT.INT8, -100)
    r.kv("test.uint16", VT.UINT16, 60000)
    r.kv("test.int16", VT.INT16, -30000)
    r.kv("test.uint32", VT.UINT32, 4000000000)
    r.kv("test.int32", VT.INT32, -2000000000)
    r.kv("test.float32", VT.FLOAT32, 0.1)
    r.kv("test.bool_true", VT.BOOL, True)
    r.kv("test.bool_false", VT.BOOL, False)
    r.kv("test.string", VT.STRING, "héllo, wörld ✓\nsecond line")
    r.kv("test.uint64", VT.UINT64, 18000000000000000000)
    r.kv("test.int64", VT.INT64, -9000000000000000000)
    r.kv("test.float64", VT.FLOAT64, -2.5e-300)
    r.kv("test.array.uint8", VT.ARRAY, [0, 1, 255], sub_type=VT.UINT8)
    r.kv("test.array.int16", VT.ARRAY, [-32768, 0, 32767], sub_type=VT.INT16)
    r.kv("test.array.uint64", VT.ARRAY, [0, 18446744073709551615], sub_type=VT.UINT64)
    r.kv("test.array.float64", VT.ARRAY, [1.5, -0.25], sub_type=VT.FLOAT64)
    r.kv("test.array.bool", VT.ARRAY, [True, False, True], sub_type=VT.BOOL)
    r.kv("test.array.string", VT.ARRAY, ["", "a", "ü"], sub_type=VT.STRING)
    r.kv("test.array.nested", VT.ARRAY, [[1, 2, 3], [4], [5, 6]])              # array of arrays of int32
    r.kv("test.array.nested2", VT.ARRAY, [[["x", "y"]], [["z"]]])                # three levels, strings

    f32 = rng.standard_normal((3, 8)).astype(np.float32)         # ne [8, 3]
    r.tensor("f32.weight", f32)
    f16 = rng.standard_normal((5,)).astype(np.float16)            # ne [5]: forces padding
    r.tensor("f16.vector", f16)
    # Q8_0: 2 rows of 32 weights; each block = f16 scale + 32 int8. Written as raw bytes.
    blocks = []
    expected_first = []
    for row in range(2):
        q = rng.integers(-127, 128, size=32).astype(np.int8)
        d = np.float16(0.01 * (row + 1))
        blocks.append(np.frombuffer(d.tobytes(), dtype=np.uint8))
        blocks.append(q.view(np.uint8))
        if row == 0:
            expected_first = [float(d) * float(v) for v in q[:4]]
    q8 = np.concatenate(blocks)
    assert q8.size == 2 * 34
    r.tensor("q8_0.weight", q8.reshape(2, 34), raw_dtype=QT.Q8_0, ne=[32, 2], first_values=expected_first)
    i32 = np.arange(-6, 6, dtype=np.int32).reshape(2, 2, 3)      # ne [3, 2, 2]
    r.tensor("i32.table", i32)
    f64 = np.array([[[[math.pi, math.e]]]], dtype=np.float64)     # ne [2, 1, 1, 1]: 4 dimensions
    r.tensor("f64.scalarish", f64)
    r.finish()


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "data", "gguf")
    os.makedirs(out_dir, exist_ok=True)
    make_tiny_llama(out_dir)
    make_value_types(out_dir)
    for name in ("tiny-llama.gguf", "value-types.gguf"):
        path = os.path.join(out_dir, name)
        print(f"wrote {path} ({os.path.getsize(path)} bytes) with gguf-py {version('gguf')}")


if __name__ == "__main__":
    main()

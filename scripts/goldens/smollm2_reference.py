#!/usr/bin/env python3
"""Reference logits for SmolLM2-135M-Instruct (Q4_1 GGUF) from an independent numpy forward pass.

Reads and dequantizes the GGUF tensors with the `gguf` package and runs the llama
forward pass in float64. It applies the roundings that ggml's CPU path makes (and
qrag reproduces): matmul activations quantized to 8-bit blocks of 32 (Q8_1 for Q4_1
weights, Q8_0 for Q8_0 weights) with an F16 block scale, K/V stored as F16, and Q
rounded to F16 before Q.K. It also runs without those roundings and records how far
the two runs differ, which is the scale of the effect the test must resolve.

Writes tests/data/model/smollm2_reference.json: per prompt the token ids, and per
position the top-50 logits (ids and values) and the log-sum-exp of the full row.

Usage: python3 scripts/goldens/smollm2_reference.py [models/SmolLM2-135M-Instruct.Q4_1.gguf]
"""
import json
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = ROOT / "tests" / "data" / "model" / "smollm2_reference.json"
TOP_N = 50

# Prompts as token texts; each piece must be one vocabulary token ('Ġ' is a space, 'Ċ' a newline).
PROMPTS = {
    "capital": ["The", "Ġcapital", "Ġof", "ĠFrance", "Ġis"],
    "chat": ["<|im_start|>", "user", "Ċ", "What", "Ġis", "Ġthe", "Ġcapital", "Ġof", "ĠFrance", "?",
             "<|im_end|>", "Ċ", "<|im_start|>", "ass", "istant", "Ċ"],
    "story": ["Once", "Ġupon", "Ġa", "Ġtime", ",", "Ġthere", "Ġwas", "Ġa", "Ġlittle", "Ġrobot"],
}


def field(reader, key):
    f = reader.fields[key]
    return f.contents()


def load(reader):
    tensors = {}
    for t in reader.tensors:
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))  # numpy order: [n_rows, n_cols]
        data = dequantize(t.data, t.tensor_type).astype(np.float64)
        tensors[t.name] = (data.reshape(shape), t.tensor_type.name)
    return tensors


def f16(x):
    return x.astype(np.float16).astype(np.float64)


def quantize_activations(x):
    """ggml's Q8_0/Q8_1 activation rounding: blocks of 32, d = amax/127 stored as F16."""
    blocks = x.reshape(*x.shape[:-1], -1, 32)
    amax = np.abs(blocks).max(axis=-1, keepdims=True).astype(np.float32)
    d = amax / np.float32(127)
    inv = np.where(d > 0, np.float32(1) / np.where(d > 0, d, 1), 0).astype(np.float32)
    # Round half to even, as ggml's x86 activation quantizers do (_mm256_round_ps).
    q = np.rint(blocks.astype(np.float32) * inv)
    return (q * f16(d.astype(np.float64))).reshape(x.shape)


NOISE = {"rng": None}  # set to a numpy Generator to perturb activations by float32 rounding noise


def matmul(w, x, emulate):
    weight, type_name = w
    if NOISE["rng"] is not None:
        x = x * (1 + NOISE["rng"].standard_normal(x.shape) * np.finfo(np.float32).eps)
    if emulate and type_name not in ("F32", "F16"):
        x = quantize_activations(x)
    elif emulate and type_name == "F16":
        x = f16(x)
    return x @ weight.T


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope(x, n_rot, base):
    # x: [n_tokens, n_heads, head_dim]; normal pairing (x[2i], x[2i+1]).
    n_tokens = x.shape[0]
    pos = np.arange(n_tokens, dtype=np.float64)[:, None]
    theta = pos * base ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
    cos, sin = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    out = x.copy()
    x0, x1 = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
    out[..., 0:n_rot:2] = x0 * cos - x1 * sin
    out[..., 1:n_rot:2] = x0 * sin + x1 * cos
    return out


def forward(t, hp, tokens, emulate):
    n_embd, n_head, n_head_kv = hp["n_embd"], hp["n_head"], hp["n_head_kv"]
    head_dim = n_embd // n_head
    n = len(tokens)
    x = t["token_embd.weight"][0][tokens]
    mask = np.triu(np.full((n, n), -np.inf), k=1)
    for il in range(hp["n_layer"]):
        p = f"blk.{il}."
        cur = rms_norm(x, t[p + "attn_norm.weight"][0], hp["eps"])
        q = matmul(t[p + "attn_q.weight"], cur, emulate).reshape(n, n_head, head_dim)
        k = matmul(t[p + "attn_k.weight"], cur, emulate).reshape(n, n_head_kv, head_dim)
        v = matmul(t[p + "attn_v.weight"], cur, emulate).reshape(n, n_head_kv, head_dim)
        q, k = rope(q, hp["n_rot"], hp["base"]), rope(k, hp["n_rot"], hp["base"])
        if emulate:
            q, k, v = f16(q), f16(k), f16(v)
        group = n_head // n_head_kv
        out = np.empty((n, n_head, head_dim))
        for h in range(n_head):
            scores = q[:, h, :] @ k[:, h // group, :].T / np.sqrt(head_dim) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            out[:, h, :] = scores @ v[:, h // group, :]
        x = x + matmul(t[p + "attn_output.weight"], out.reshape(n, n_embd), emulate)
        cur = rms_norm(x, t[p + "ffn_norm.weight"][0], hp["eps"])
        gate = matmul(t[p + "ffn_gate.weight"], cur, emulate)
        up = matmul(t[p + "ffn_up.weight"], cur, emulate)
        x = x + matmul(t[p + "ffn_down.weight"], gate / (1 + np.exp(-gate)) * up, emulate)
    x = rms_norm(x, t["output_norm.weight"][0], hp["eps"])
    output = t.get("output.weight", t["token_embd.weight"])
    return matmul(output, x, emulate)


def main():
    reader = GGUFReader(str(MODEL))
    hp = {
        "n_embd": int(field(reader, "llama.embedding_length")),
        "n_layer": int(field(reader, "llama.block_count")),
        "n_head": int(field(reader, "llama.attention.head_count")),
        "n_head_kv": int(field(reader, "llama.attention.head_count_kv")),
        "n_rot": int(field(reader, "llama.rope.dimension_count")),
        "base": float(field(reader, "llama.rope.freq_base")),
        "eps": float(field(reader, "llama.attention.layer_norm_rms_epsilon")),
    }
    vocab = {text: i for i, text in enumerate(field(reader, "tokenizer.ggml.tokens"))}
    t = load(reader)
    result = {"model": MODEL.name, "top_n": TOP_N, "prompts": []}
    for name, pieces in PROMPTS.items():
        tokens = [vocab[p] for p in pieces]
        logits = forward(t, hp, tokens, emulate=True)
        exact = forward(t, hp, tokens, emulate=False)
        NOISE["rng"] = np.random.default_rng(1)
        noisy = forward(t, hp, tokens, emulate=True)
        NOISE["rng"] = None
        positions = []
        for row in logits:
            top = np.argsort(-row, kind="stable")[:TOP_N]
            lse = float(np.log(np.exp(row - row.max()).sum()) + row.max())
            positions.append({"ids": top.tolist(), "logits": [round(float(row[i]), 5) for i in top],
                              "logsumexp": round(lse, 5)})
        effect = float(np.abs(logits - exact).max())
        noise = float(np.abs(logits - noisy).max())
        print(f"{name}: {len(tokens)} tokens, argmax {int(np.argmax(logits[-1]))}, "
              f"max |emulated - exact| = {effect:.4f}, max |emulated - noisy| = {noise:.4f}")
        result["prompts"].append({"name": name, "tokens": tokens, "rounding_effect": round(effect, 5),
                                  "noise_effect": round(noise, 5),
                                  "positions": positions})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference logits for the qwen2 and gemma3 decoders from an independent numpy forward pass.

The forward pass reads and dequantizes GGUF tensors with the `gguf` package (gguf.quants)
and runs in float64. It applies the roundings that qrag's CPU kernels make: matmul
activations are quantized to the weight type's activation blocks (Q8_0 or Q8_1 blocks
of 32 with an F16 scale, Q8_K blocks of 256 with an F32 scale). Activations meet F16
weights rounded to F16, K/V are stored as F16 and Q is rounded to F16 before Q.K.
It shares no code with qrag.

Tolerance. qrag computes in float32, so its activations differ from the float64 run in
the last bits, and an activation near an 8-bit rounding step then moves a whole step.
The script measures that sensitivity as "noise_effect": how far the logits move when
every matmul input (before its rounding) and output is multiplied by (1 + e), with
e ~ N(0, (sqrt(K) * eps_f32)^2) and K the input width, max over two seeds. The noise
size is an estimate of the float32 error of length-K dot products and norms. Tests allow exactly that difference.
"rounding_effect" records how far the emulated roundings move logits from plain
float64, which shows the scale a missing rounding would cause.

Outputs (rerun after changing this script and commit them):
  tests/data/gguf/tiny-qwen2.gguf, tests/data/gguf/tiny-gemma3.gguf
      random-weight models written with the gguf package's GGUFWriter (no tokenizer;
      n_vocab comes from token_embd.weight)
  tests/data/goldens/tiny-qwen2-logits.json, tests/data/goldens/tiny-gemma3-logits.json
      per sequence: the tokens, the full logits of every position, and the greedy
      continuation with the top-2 logit gap of each step
  tests/data/goldens/gemma3-270m-logits.json   (only when the model file exists)
      per prompt: token ids, top-20 ids and logits of the last position, the row's
      mean, standard deviation and log-sum-exp, and a greedy continuation

Usage: python3 scripts/goldens/make_decoder_goldens.py [models/gemma-3-270m-q4_k_m.gguf]
Needs: pip packages gguf (0.10 or later) and numpy.
"""
import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGUFReader, GGMLQuantizationType as QT
from gguf.quants import dequantize, quantize

ROOT = Path(__file__).resolve().parents[2]
GGUF_DIR = ROOT / "tests" / "data" / "gguf"
GOLDEN_DIR = ROOT / "tests" / "data" / "goldens"
GEMMA3_270M = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
SEED = 20251204
EPS32 = float(np.finfo(np.float32).eps)

# Gemma 3 sizes keep these values out of the GGUF metadata (Gemma3TextConfig):
# every 6th layer is global, local layers use RoPE base 10000 without scaling.
GEMMA3_SWA_PERIOD = 6
GEMMA3_LOCAL_ROPE_BASE = 10000.0

# Activation type of each weight type, as qrag's kernels::activation_type returns it.
ACTIVATION = {"Q8_0": "Q8_0", "Q4_0": "Q8_0", "Q5_0": "Q8_0", "Q4_1": "Q8_1", "Q5_1": "Q8_1",
              "Q2_K": "Q8_K", "Q3_K": "Q8_K", "Q4_K": "Q8_K", "Q5_K": "Q8_K", "Q6_K": "Q8_K",
              "F16": "F16", "F32": "F32"}


# ---- roundings --------------------------------------------------------------

def f16(x):
    return x.astype(np.float16).astype(np.float64)


def round_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_q8_0(x):
    """Round x as Q8_0/Q8_1 activations: blocks of 32, d = amax/127, codes round(x/d) (ties away), F16 d."""
    blocks = x.astype(np.float32).reshape(*x.shape[:-1], -1, 32)
    amax = np.abs(blocks).max(axis=-1, keepdims=True)
    d = amax / np.float32(127)
    inv = np.where(d > 0, np.float32(1) / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = round_away(blocks * inv)
    return (q * f16(d.astype(np.float64))).reshape(x.shape)


def quantize_q8_k(x):
    """Round x as Q8_K activations: blocks of 256, iscale = -127/max (max = the value of largest magnitude),
    codes rint(iscale*x) capped at 127, F32 d = 1/iscale."""
    blocks = x.astype(np.float32).reshape(*x.shape[:-1], -1, 256)
    index = np.abs(blocks).argmax(axis=-1)[..., None]
    vmax = np.take_along_axis(blocks, index, axis=-1)
    safe = np.where(vmax == 0, np.float32(1), vmax)
    iscale = (np.float32(-127) / safe).astype(np.float32)
    q = np.minimum(np.rint((iscale * blocks).astype(np.float32)), 127)
    d = (np.float32(1) / iscale).astype(np.float32)
    out = np.where(vmax == 0, 0.0, q.astype(np.float64) * d.astype(np.float64))
    return out.reshape(x.shape)


class Roundings:
    """Rounding settings of one forward pass: ggml emulation on or off, and an optional float32-noise generator."""

    def __init__(self, emulate, rng=None):
        self.emulate = emulate
        self.rng = rng

    def matmul(self, weight, x):
        data, type_name = weight
        if self.rng is not None:
            x = x * (1 + self.rng.standard_normal(x.shape) * EPS32 * np.sqrt(x.shape[-1]))
        if self.emulate:
            act = ACTIVATION[type_name]
            if act in ("Q8_0", "Q8_1"):
                x = quantize_q8_0(x)
            elif act == "Q8_K":
                x = quantize_q8_k(x)
            elif act == "F16":
                x = f16(x)
        if data.dtype == np.float32 and data.shape[0] > 65536:  # big output matrix: chunk the float64 product
            out = np.empty(x.shape[:-1] + (data.shape[0],))
            for start in range(0, data.shape[0], 16384):
                out[..., start:start + 16384] = x @ data[start:start + 16384].astype(np.float64).T
        else:
            out = x @ data.T
        if self.rng is not None:
            out = out * (1 + self.rng.standard_normal(out.shape) * EPS32 * np.sqrt(x.shape[-1]))
        return out

    def kv(self, x):
        return f16(x) if self.emulate else x


# ---- forward pass -------------------------------------------------------------

def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope_neox(x, positions, n_rot, base, freq_scale):
    """NeoX pairing: dimension i rotates with i + n_rot/2. x: [n_tokens, n_heads, head_dim]."""
    half = n_rot // 2
    inv_freq = freq_scale * base ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
    theta = positions[:, None].astype(np.float64) * inv_freq[None, :]
    cos, sin = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    out = x.copy()
    x0, x1 = x[..., :half], x[..., half:n_rot]
    out[..., :half] = x0 * cos - x1 * sin
    out[..., half:n_rot] = x0 * sin + x1 * cos
    return out


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def attention(q, k, v, scale, window):
    """Causal attention with an optional sliding window. q: [n, n_head, hd]; k, v: [n, n_head_kv, hd]."""
    n, n_head, head_dim = q.shape
    group = n_head // k.shape[1]
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    visible = j <= i
    if window > 0:
        visible &= (i - j) < window
    mask = np.where(visible, 0.0, -np.inf)
    out = np.empty((n, n_head, head_dim))
    for h in range(n_head):
        scores = q[:, h, :] @ k[:, h // group, :].T * scale + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        out[:, h, :] = scores @ v[:, h // group, :]
    return out


def layer(t, hp, il, x, r):
    """Apply transformer block il of qwen2 or gemma3 to x: [n_tokens, n_embd]."""
    p = f"blk.{il}."
    n, eps = x.shape[0], hp["eps"]
    n_head, n_head_kv, hd = hp["n_head"], hp["n_head_kv"], hp["head_dim"]
    gemma = hp["arch"] == "gemma3"
    positions = np.arange(n)

    cur = rms_norm(x, t[p + "attn_norm.weight"][0], eps)
    q = r.matmul(t[p + "attn_q.weight"], cur)
    k = r.matmul(t[p + "attn_k.weight"], cur)
    v = r.matmul(t[p + "attn_v.weight"], cur)
    if not gemma:
        q, k, v = q + t[p + "attn_q.bias"][0], k + t[p + "attn_k.bias"][0], v + t[p + "attn_v.bias"][0]
    q, k, v = q.reshape(n, n_head, hd), k.reshape(n, n_head_kv, hd), v.reshape(n, n_head_kv, hd)
    local = gemma and hp["n_swa"] > 0 and il % GEMMA3_SWA_PERIOD != GEMMA3_SWA_PERIOD - 1
    if gemma:
        # Gemma 3 GGUF norm weights already contain Gemma's "1 +", so they multiply directly.
        q = rms_norm(q, t[p + "attn_q_norm.weight"][0], eps)
        k = rms_norm(k, t[p + "attn_k_norm.weight"][0], eps)
    base = GEMMA3_LOCAL_ROPE_BASE if local else hp["rope_base"]
    freq_scale = 1.0 if local else hp["rope_scale"]
    q = rope_neox(q, positions, hp["n_rot"], base, freq_scale)
    k = rope_neox(k, positions, hp["n_rot"], base, freq_scale)
    q, k, v = r.kv(q), r.kv(k), r.kv(v)
    out = attention(q, k, v, hp["attn_scale"], hp["n_swa"] if local else 0)
    out = r.matmul(t[p + "attn_output.weight"], out.reshape(n, n_head * hd))
    if gemma:
        out = rms_norm(out, t[p + "post_attention_norm.weight"][0], eps)
    x = x + out

    cur = rms_norm(x, t[p + "ffn_norm.weight"][0], eps)
    gate = r.matmul(t[p + "ffn_gate.weight"], cur)
    up = r.matmul(t[p + "ffn_up.weight"], cur)
    act = gelu_tanh(gate) if gemma else gate / (1 + np.exp(-gate))
    out = r.matmul(t[p + "ffn_down.weight"], act * up)
    if gemma:
        out = rms_norm(out, t[p + "post_ffw_norm.weight"][0], eps)
    return x + out


def forward(t, hp, tokens, r, last_only=False):
    x = t["token_embd.weight"][0][tokens].astype(np.float64)
    if hp["arch"] == "gemma3":
        x = x * float(np.sqrt(np.float32(hp["n_embd"])))  # sqrt(n_embd) rounded to F32, as qrag uses it
    for il in range(hp["n_layer"]):
        x = layer(t, hp, il, x, r)
    if last_only:
        x = x[-1:]
    x = rms_norm(x, t["output_norm.weight"][0], hp["eps"])
    logits = r.matmul(t.get("output.weight", t["token_embd.weight"]), x)
    if hp["softcap"] > 0:
        logits = hp["softcap"] * np.tanh(logits / hp["softcap"])
    return logits


# ---- reading models -------------------------------------------------------------

def field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def load_tensors(reader):
    tensors = {}
    for info in reader.tensors:
        shape = tuple(int(s) for s in reversed(info.shape.tolist()))  # numpy order: [n_rows, n_cols]
        data = dequantize(info.data, info.tensor_type).reshape(shape)
        big = data.size > (1 << 24)  # keep the 262k x 640 embedding in float32
        tensors[info.name] = (data.astype(np.float32 if big else np.float64), info.tensor_type.name)
    return tensors


def read_hparams(reader):
    arch = field(reader, "general.architecture")
    n_embd = int(field(reader, f"{arch}.embedding_length"))
    n_head = int(field(reader, f"{arch}.attention.head_count"))
    head_dim = int(field(reader, f"{arch}.attention.key_length", n_embd // n_head))
    n_layer = int(field(reader, f"{arch}.block_count"))
    scaling = field(reader, f"{arch}.rope.scaling.factor", 1.0)
    attn_scale = 1 / np.sqrt(head_dim)
    if arch == "gemma3" and n_layer == 62:  # Gemma 3 27B: query_pre_attn_scalar = n_embd / n_head
        attn_scale = 1 / np.sqrt(n_embd // n_head)
    return {
        "arch": arch, "n_embd": n_embd, "n_layer": n_layer, "n_head": n_head, "head_dim": head_dim,
        "n_head_kv": int(field(reader, f"{arch}.attention.head_count_kv", n_head)),
        "n_rot": int(field(reader, f"{arch}.rope.dimension_count", head_dim)),
        "rope_base": float(field(reader, f"{arch}.rope.freq_base", 10000.0)),
        "rope_scale": 1.0 / float(scaling),
        "eps": float(field(reader, f"{arch}.attention.layer_norm_rms_epsilon")),
        "n_swa": int(field(reader, f"{arch}.attention.sliding_window", 0)),
        "softcap": float(field(reader, f"{arch}.final_logit_softcapping", 0.0)),
        "attn_scale": float(attn_scale),
    }


def measure(t, hp, tokens, last_only):
    """Emulated logits plus the rounding and float32-noise effects on them."""
    logits = forward(t, hp, tokens, Roundings(True), last_only)
    exact = forward(t, hp, tokens, Roundings(False), last_only)
    noise = 0.0
    for seed in (1, 2):
        noisy = forward(t, hp, tokens, Roundings(True, np.random.default_rng(seed)), last_only)
        noise = max(noise, float(np.abs(logits - noisy).max()))
    return logits, float(np.abs(logits - exact).max()), noise


def greedy(t, hp, tokens, n_steps):
    """Greedy continuation: (token, gap between the top two logits) per step."""
    steps = []
    tokens = list(tokens)
    for _ in range(n_steps):
        row = forward(t, hp, tokens, Roundings(True), last_only=True)[-1]
        top = np.argsort(-row, kind="stable")[:2]
        steps.append({"token": int(top[0]), "gap": round(float(row[top[0]] - row[top[1]]), 6)})
        tokens.append(int(top[0]))
    return steps


# ---- tiny random models ----------------------------------------------------------

TINY = {
    "qwen2": dict(n_vocab=128, n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=16, n_ff=96,
                  rope_base=10000.0, eps=1e-6),
    "gemma3": dict(n_vocab=128, n_embd=64, n_layer=6, n_head=2, n_head_kv=1, head_dim=48, n_ff=64,
                   rope_base=1000000.0, eps=1e-6, sliding_window=4, rope_scaling=2.0, softcap=10.0),
}

# Matrix storage types, varied so that every activation rounding is exercised.
TINY_TYPES = {
    "qwen2": {"token_embd": QT.Q8_0, "attn_q": QT.F16, "attn_k": QT.Q8_0, "attn_v": QT.Q4_0,
              "attn_output": QT.Q5_0, "ffn_gate": QT.Q4_1, "ffn_up": QT.Q8_0, "ffn_down": QT.F32},
    "gemma3": {"token_embd": QT.Q8_0, "attn_q": QT.Q5_0, "attn_k": QT.Q8_0, "attn_v": QT.F16,
               "attn_output": QT.Q4_0, "ffn_gate": QT.Q5_1, "ffn_up": QT.Q8_0, "ffn_down": QT.Q4_1},
}

TINY_SEQUENCES = [
    [1, 5, 9, 17, 33, 65, 127, 2, 40, 41, 42, 43],
    [7],
    [100, 3, 100, 3, 100, 3, 64, 80],
]


def write_tiny(arch):
    s, types = TINY[arch], TINY_TYPES[arch]
    rng = np.random.default_rng(SEED + len(arch))
    path = GGUF_DIR / f"tiny-{arch}.gguf"
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(f"tiny random {arch}")
    writer.add_context_length(256)
    writer.add_embedding_length(s["n_embd"])
    writer.add_block_count(s["n_layer"])
    writer.add_feed_forward_length(s["n_ff"])
    writer.add_head_count(s["n_head"])
    writer.add_head_count_kv(s["n_head_kv"])
    writer.add_rope_freq_base(s["rope_base"])
    writer.add_layer_norm_rms_eps(s["eps"])
    if arch == "gemma3":
        writer.add_key_length(s["head_dim"])
        writer.add_value_length(s["head_dim"])
        writer.add_sliding_window(s["sliding_window"])
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(s["rope_scaling"])
        writer.add_final_logit_softcapping(s["softcap"])

    def matrix(name, kind, n_rows, n_cols, std):
        data = (rng.standard_normal((n_rows, n_cols)) * std).astype(np.float32)
        qtype = types[kind]
        if qtype == QT.F32:
            writer.add_tensor(name, data)
        elif qtype == QT.F16:
            writer.add_tensor(name, data.astype(np.float16))
        else:
            writer.add_tensor(name, quantize(data, qtype), raw_dtype=qtype)

    def vector(name, n, low, high):
        writer.add_tensor(name, rng.uniform(low, high, n).astype(np.float32))

    n_embd, n_q, n_kv = s["n_embd"], s["n_head"] * s["head_dim"], s["n_head_kv"] * s["head_dim"]
    matrix("token_embd.weight", "token_embd", s["n_vocab"], n_embd, 0.5 if arch == "qwen2" else 0.2)
    vector("output_norm.weight", n_embd, 0.5, 1.5)
    for il in range(s["n_layer"]):
        p = f"blk.{il}."
        vector(p + "attn_norm.weight", n_embd, 0.5, 1.5)
        matrix(p + "attn_q.weight", "attn_q", n_q, n_embd, 0.25)
        matrix(p + "attn_k.weight", "attn_k", n_kv, n_embd, 0.25)
        matrix(p + "attn_v.weight", "attn_v", n_kv, n_embd, 0.25)
        if arch == "qwen2":
            vector(p + "attn_q.bias", n_q, -1.0, 1.0)
            vector(p + "attn_k.bias", n_kv, -1.0, 1.0)
            vector(p + "attn_v.bias", n_kv, -0.5, 0.5)
        else:
            vector(p + "attn_q_norm.weight", s["head_dim"], 0.5, 1.5)
            vector(p + "attn_k_norm.weight", s["head_dim"], 0.5, 1.5)
            vector(p + "post_attention_norm.weight", n_embd, 0.5, 1.5)
            vector(p + "post_ffw_norm.weight", n_embd, 0.5, 1.5)
        matrix(p + "attn_output.weight", "attn_output", n_embd, n_q, 0.25)
        vector(p + "ffn_norm.weight", n_embd, 0.5, 1.5)
        matrix(p + "ffn_gate.weight", "ffn_gate", s["n_ff"], n_embd, 0.25)
        matrix(p + "ffn_up.weight", "ffn_up", s["n_ff"], n_embd, 0.25)
        matrix(p + "ffn_down.weight", "ffn_down", n_embd, s["n_ff"], 0.25)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def tiny_goldens(arch):
    path = write_tiny(arch)
    reader = GGUFReader(str(path))
    hp, t = read_hparams(reader), load_tensors(reader)
    result = {"model": path.name, "arch": arch, "sequences": []}
    for tokens in TINY_SEQUENCES:
        logits, rounding, noise = measure(t, hp, tokens, last_only=False)
        result["sequences"].append({
            "tokens": tokens, "rounding_effect": round(rounding, 6), "noise_effect": round(noise, 6),
            "logits": [[round(float(v), 6) for v in row] for row in logits],
            "greedy": greedy(t, hp, tokens, 6),
        })
        print(f"{arch} {tokens[:4]}...: rounding effect {rounding:.5f}, noise effect {noise:.5f}")
    out = GOLDEN_DIR / f"tiny-{arch}-logits.json"
    out.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes), {out} ({out.stat().st_size} bytes)")


# ---- Gemma 3 270M ------------------------------------------------------------------

# Prompts as SentencePiece pieces ('▁' is a space); each must be one vocabulary entry.
GEMMA3_PROMPTS = {
    "capital": ["The", "▁capital", "▁of", "▁France", "▁is"],
    "chat": ["<start_of_turn>", "user", "\n", "What", "▁is", "▁the", "▁capital", "▁of", "▁France", "?",
             "<end_of_turn>", "\n", "<start_of_turn>", "model", "\n"],
    "story": ["Once", "▁upon", "▁a", "▁time", ",", "▁there", "▁was", "▁a", "▁little", "▁robot"],
}
# The prompts as text, for tokenizer checks (encoded with BOS, control tokens parsed).
GEMMA3_TEXTS = {
    "capital": "The capital of France is",
    "chat": "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    "story": "Once upon a time, there was a little robot",
}
TOP_N = 20


def gemma3_270m_goldens():
    if not GEMMA3_270M.exists():
        print(f"skipping Gemma 3 270M: {GEMMA3_270M} not found")
        return
    reader = GGUFReader(str(GEMMA3_270M))
    hp, t = read_hparams(reader), load_tensors(reader)
    vocab = {text: i for i, text in enumerate(field(reader, "tokenizer.ggml.tokens"))}
    bos = int(field(reader, "tokenizer.ggml.bos_token_id"))
    result = {"model": GEMMA3_270M.name, "top_n": TOP_N, "prompts": []}
    for name, pieces in GEMMA3_PROMPTS.items():
        tokens = [bos] + [vocab[p] for p in pieces]
        logits, rounding, noise = measure(t, hp, tokens, last_only=True)
        row = logits[-1]
        top = np.argsort(-row, kind="stable")[:TOP_N]
        lse = float(np.log(np.exp(row - row.max()).sum()) + row.max())
        steps = greedy(t, hp, tokens, 8)
        result["prompts"].append({
            "name": name, "text": GEMMA3_TEXTS[name], "tokens": tokens,
            "rounding_effect": round(rounding, 5), "noise_effect": round(noise, 5),
            "top_ids": top.tolist(), "top_logits": [round(float(row[i]), 5) for i in top],
            "mean": round(float(row.mean()), 5), "std": round(float(row.std()), 5), "logsumexp": round(lse, 5),
            "greedy": steps,
        })
        words = [field(reader, "tokenizer.ggml.tokens")[s["token"]] for s in steps]
        print(f"gemma3-270m {name}: top {top[:3].tolist()}, rounding effect {rounding:.4f}, "
              f"noise effect {noise:.4f}, greedy {words}")
    out = GOLDEN_DIR / "gemma3-270m-logits.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


def main():
    GGUF_DIR.mkdir(parents=True, exist_ok=True)
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    tiny_goldens("qwen2")
    tiny_goldens("gemma3")
    gemma3_270m_goldens()


if __name__ == "__main__":
    main()

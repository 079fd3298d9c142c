#!/usr/bin/env python3
"""Tiny random Hugging Face llama and qwen2 checkpoints, and reference logits, for `qrag convert` tests.

Each checkpoint has config.json, safetensors weights, a byte-level BPE tokenizer.json trained
here with the `tokenizers` package, and tokenizer_config.json. The reference logits come from a
numpy forward pass in Hugging Face layout: rotate-half RoPE for both architectures, as
LlamaForCausalLM and Qwen2ForCausalLM apply it. qrag's llama decoder pairs dimensions
(2i, 2i+1), so its logits only match when the converter permutes the Q and K rows of llama
checkpoints. The pass shares no code with qrag.

Tolerance. The pass runs in float64 and rounds Q, K and V to float16 as qrag does (F16 KV
cache, Q rounded before Q.K). qrag computes in float32, so "noise_effect" records how far the
logits move when every matmul input and output is multiplied by (1 + e), e ~ N(0, (sqrt(K) *
eps_f32)^2) with K the input width, max over three seeds. Tests allow that difference.

Outputs (rerun after changing this script and commit them):
  tests/data/hf/llama-tiny/   one model.safetensors (F32), untied output matrix, Llama 3 style
                              tokenizer (pre-tokenizer "llama-bpe"), add_bos_token true
  tests/data/hf/qwen2-tiny/   two F16 shards with model.safetensors.index.json, Q/K/V biases,
                              tied embeddings, vocab_size padded past the tokenizer, chat template
  tests/data/hf/llama-spm-tokenizer/   tokenizer.json in the SentencePiece style of Llama 2 and
                              Mistral (BPE with byte_fallback, "▁" for spaces), 303 tokens, which
                              tests pair with the llama-tiny weights, and its expected.json
  tests/data/hf/<name>/expected.json   per sequence the tokens and the logits of its last
                              N_CHECKED_POSITIONS positions, and
                              the token ids the HF tokenizer gives for a few strings

Needs numpy, safetensors and tokenizers (pip install safetensors tokenizers).
"""
import json
import pathlib

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "hf"
EPS32 = float(np.finfo(np.float32).eps)
N_CHECKED_POSITIONS = 4  # logits rows stored per sequence: its last positions

# Pre-tokenizer regexes of the Llama 3 and Qwen2 tokenizer.json files. They differ only in digit runs.
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Retrieval-augmented generation adds retrieved text to the prompt of a language model.",
    "A user's profile holds past reviews, paper titles and tweets; 12345 items in 2024!",
    "Quantized models trade accuracy for memory: 4-bit weights use a quarter of F16's bytes.",
    "Hello world, hello there. It's what they'll say when we've done it.",
    "    indented code\n\tand tabs\r\nnew lines",
]

TOKENIZE_CASES = [
    "Hello world",
    "The lazy fox's 2024 reviews: 12345 items!",
    "  two  spaces\nand a new line\n\n",
    "unseen wörds and émojis 🙂",
]

CHAT_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                 "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
                 "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def train_tokenizer(regex, special_tokens, vocab_size):
    """Byte-level BPE trained on CORPUS; special tokens are appended after the learned vocabulary."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(CORPUS * 4, trainer)
    tokenizer.add_special_tokens(special_tokens)
    return tokenizer


# ---- forward pass in Hugging Face layout -------------------------------------------------

def f16(x):
    return x.astype(np.float16).astype(np.float64)


class Roundings:
    """float16 rounding of Q, K, V (always) and optional float32 noise on matmuls."""

    def __init__(self, rng=None):
        self.rng = rng

    def noise(self, x, width):
        if self.rng is None:
            return x
        return x * (1 + self.rng.standard_normal(x.shape) * EPS32 * np.sqrt(width))

    def matmul(self, x, weight, bias=None):
        out = self.noise(x, x.shape[-1]) @ weight.T
        if bias is not None:
            out = out + bias
        return self.noise(out, x.shape[-1])


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope_rotate_half(x, positions, base):
    """Hugging Face rotary embedding: dimension i rotates with i + head_dim/2. x: [n, heads, head_dim]."""
    head_dim = x.shape[-1]
    inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.outer(positions, inv_freq)              # [n, head_dim/2]
    cos = np.cos(np.concatenate([angles, angles], -1))[:, None, :]
    sin = np.sin(np.concatenate([angles, angles], -1))[:, None, :]
    half = head_dim // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


def forward(weights, cfg, tokens, r):
    """Logits [n_tokens, vocab_size] of a LlamaForCausalLM / Qwen2ForCausalLM forward pass."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    n_head, n_head_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    head_dim = cfg["hidden_size"] // n_head
    eps, base = cfg["rms_norm_eps"], cfg["rope_theta"]
    n = len(tokens)
    positions = np.arange(n)
    x = w["model.embed_tokens.weight"][tokens]
    mask = np.where(np.arange(n)[None, :] <= np.arange(n)[:, None], 0.0, -np.inf)
    for il in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{il}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = r.matmul(h, w[p + "self_attn.q_proj.weight"], w.get(p + "self_attn.q_proj.bias"))
        k = r.matmul(h, w[p + "self_attn.k_proj.weight"], w.get(p + "self_attn.k_proj.bias"))
        v = r.matmul(h, w[p + "self_attn.v_proj.weight"], w.get(p + "self_attn.v_proj.bias"))
        q = f16(rope_rotate_half(q.reshape(n, n_head, head_dim), positions, base))
        k = f16(rope_rotate_half(k.reshape(n, n_head_kv, head_dim), positions, base))
        v = f16(v.reshape(n, n_head_kv, head_dim))
        attn = np.empty((n, n_head, head_dim))
        group = n_head // n_head_kv
        for hh in range(n_head):
            scores = q[:, hh, :] @ k[:, hh // group, :].T / np.sqrt(head_dim) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            attn[:, hh, :] = scores @ v[:, hh // group, :]
        x = x + r.matmul(attn.reshape(n, -1), w[p + "self_attn.o_proj.weight"])
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = r.matmul(h, w[p + "mlp.gate_proj.weight"])
        up = r.matmul(h, w[p + "mlp.up_proj.weight"])
        act = gate / (1 + np.exp(-gate)) * up
        x = x + r.matmul(act, w[p + "mlp.down_proj.weight"])
    x = rms_norm(x, w["model.norm.weight"], eps)
    output = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return r.matmul(x, output)


def measure(weights, cfg, tokens):
    logits = forward(weights, cfg, tokens, Roundings())
    noise = 0.0
    for seed in range(3):
        noisy = forward(weights, cfg, tokens, Roundings(np.random.default_rng(seed)))
        noise = max(noise, float(np.abs(logits - noisy).max()))
    return logits, noise


# ---- checkpoints ---------------------------------------------------------------------------

def random_weights(cfg, rng, dtype):
    e, ff, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = e // cfg["num_attention_heads"]
    kv = hd * cfg["num_key_value_heads"]
    w = {"model.embed_tokens.weight": rng.normal(0, 1.0, (v, e)),
         "model.norm.weight": rng.uniform(0.8, 1.2, e)}
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = rng.normal(0, 1 / np.sqrt(e), (v, e))
    for il in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{il}."
        w[p + "input_layernorm.weight"] = rng.uniform(0.8, 1.2, e)
        w[p + "post_attention_layernorm.weight"] = rng.uniform(0.8, 1.2, e)
        # Large Q and K weights make attention depend strongly on RoPE, so a wrong pairing shows.
        w[p + "self_attn.q_proj.weight"] = rng.normal(0, 2 / np.sqrt(e), (e, e))
        w[p + "self_attn.k_proj.weight"] = rng.normal(0, 2 / np.sqrt(e), (kv, e))
        w[p + "self_attn.v_proj.weight"] = rng.normal(0, 1 / np.sqrt(e), (kv, e))
        w[p + "self_attn.o_proj.weight"] = rng.normal(0, 1 / np.sqrt(e), (e, e))
        if cfg["model_type"] == "qwen2":
            w[p + "self_attn.q_proj.bias"] = rng.normal(0, 0.5, e)
            w[p + "self_attn.k_proj.bias"] = rng.normal(0, 0.5, kv)
            w[p + "self_attn.v_proj.bias"] = rng.normal(0, 0.5, kv)
        w[p + "mlp.gate_proj.weight"] = rng.normal(0, 1 / np.sqrt(e), (ff, e))
        w[p + "mlp.up_proj.weight"] = rng.normal(0, 1 / np.sqrt(e), (ff, e))
        w[p + "mlp.down_proj.weight"] = rng.normal(0, 1 / np.sqrt(ff), (e, ff))
    return {k: np.ascontiguousarray(val.astype(dtype)) for k, val in w.items()}


def save_sharded(weights, folder, n_shards):
    names = sorted(weights)
    weight_map = {}
    for s in range(n_shards):
        shard = f"model-{s + 1:05d}-of-{n_shards:05d}.safetensors"
        part = {k: weights[k] for k in names[s::n_shards]}
        save_file(part, str(folder / shard), metadata={"format": "pt"})
        weight_map.update({k: shard for k in part})
    index = {"metadata": {"total_size": int(sum(v.nbytes for v in weights.values()))}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def make(name, cfg, regex, specials, tokenizer_config, generation_config, dtype, n_shards, seed):
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(regex, specials, vocab_size=300)
    n_tokens = tokenizer.get_vocab_size()
    cfg["vocab_size"] = max(cfg.get("vocab_size", 0), n_tokens)
    ids = {t: tokenizer.token_to_id(t) for t in specials}
    cfg["bos_token_id"] = ids[specials[0]]
    cfg["eos_token_id"] = ids[specials[1]]
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    if generation_config is not None:  # token ids by token text
        ids_by_key = {key: tokenizer.token_to_id(text) for key, text in generation_config.items()}
        (folder / "generation_config.json").write_text(json.dumps(ids_by_key, indent=2) + "\n")

    weights = random_weights(cfg, np.random.default_rng(seed), dtype)
    if n_shards == 1:
        save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        save_sharded(weights, folder, n_shards)

    sequences = []
    for text in ["The quick brown fox", "Hello world, hello there. It's 2024!"]:
        tokens = tokenizer.encode(text, add_special_tokens=False).ids
        if tokenizer_config.get("add_bos_token"):
            tokens = [ids[specials[0]]] + tokens
        logits, noise = measure(weights, cfg, tokens)
        first = len(tokens) - N_CHECKED_POSITIONS  # keeps the committed JSON small
        sequences.append({"text": text, "tokens": tokens, "noise_effect": round(noise, 7), "first_position": first,
                          "logits": np.round(logits[first:], 6).tolist()})
        print(f"{name} {text!r}: {len(tokens)} tokens, noise effect {noise:.2e}")
    cases = [{"text": t, "ids": tokenizer.encode(t, add_special_tokens=False).ids} for t in TOKENIZE_CASES]
    expected = {"n_tokens": n_tokens, "sequences": sequences, "tokenize": cases}
    (folder / "expected.json").write_text(json.dumps(expected) + "\n")


def make_spm_tokenizer(n_tokens):
    """SentencePiece-style BPE: <unk>, <s>, </s>, 256 byte tokens, then pieces learned on lowercase CORPUS."""
    folder = OUT / "llama-spm-tokenizer"
    folder.mkdir(parents=True, exist_ok=True)
    spm_normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    learner = Tokenizer(models.BPE())
    learner.normalizer = spm_normalizer
    fixed = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    learner.train_from_iterator([t.lower() for t in CORPUS] * 4,
                                trainers.BpeTrainer(vocab_size=n_tokens - len(fixed), limit_alphabet=20,
                                                   show_progress=False))
    learned = json.loads(learner.to_str())["model"]
    vocab = {t: i for i, t in enumerate(fixed)}
    for token, _ in sorted(learned["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(token, len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in learned["merges"]]
    tokenizer = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", byte_fallback=True))
    tokenizer.normalizer = spm_normalizer
    tokenizer.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                           decoders.Strip(" ", 1, 0)])
    tokenizer.add_special_tokens(["<unk>", "<s>", "</s>"])
    assert tokenizer.get_vocab_size() <= n_tokens, tokenizer.get_vocab_size()
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    cases = [{"text": t, "ids": tokenizer.encode(t, add_special_tokens=False).ids}
             for t in TOKENIZE_CASES + ["the quick brown fox"]]
    (folder / "expected.json").write_text(json.dumps({"n_tokens": tokenizer.get_vocab_size(), "tokenize": cases}) + "\n")
    print(f"llama-spm-tokenizer: {tokenizer.get_vocab_size()} tokens, {len(merges)} merges")


def main():
    base = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
            "hidden_act": "silu"}
    llama = dict(base, architectures=["LlamaForCausalLM"], model_type="llama", rope_theta=500000.0,
                 tie_word_embeddings=False, torch_dtype="float32")
    make("llama-tiny", llama, LLAMA3_REGEX, ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"],
         {"add_bos_token": True, "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
         None, np.float32, 1, seed=1)

    qwen2 = dict(base, architectures=["Qwen2ForCausalLM"], model_type="qwen2", rope_theta=1000000.0,
                 tie_word_embeddings=True, torch_dtype="float16", vocab_size=320)
    make("qwen2-tiny", qwen2, QWEN2_REGEX, ["<|endoftext|>", "<|im_end|>", "<|im_start|>"],
         {"add_bos_token": False, "eos_token": "<|im_end|>", "bos_token": None, "chat_template": CHAT_TEMPLATE},
         {"pad_token_id": "<|endoftext|>"}, np.float16, 2, seed=2)
    make_spm_tokenizer(n_tokens=303)  # the llama-tiny embedding rows


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference sentence embeddings of all-MiniLM-L6-v2, computed in float64 numpy.

An implementation independent of qrag: it reads model.safetensors directly
(8-byte little-endian header length, JSON header, raw little-endian data),
tokenizes with BERT's basic tokenizer + WordPiece (uncased, as
tokenizer_config.json sets), runs the post-LayerNorm encoder with exact (erf)
GELU, mean-pools over all tokens and L2-normalises (the sentence-transformers
modules of this model: Transformer, Pooling(mean), Normalize).

Usage: minilm_reference.py MODEL_DIR SHARED_DATA_DIR OUT.json
Texts: 10 LaMP-3 review texts and 10 LaMP-5 abstracts, each at most 256
tokens, so truncation never applies.
"""
import json
import math
import os
import struct
import sys
import unicodedata

import numpy as np

MAX_TOKENS = 256


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=dtypes[info["dtype"]]).reshape(info["shape"]).astype(np.float64)
    return out


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_chinese(cp):
    ranges = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
    return any(a <= cp <= b for a, b in ranges)


def basic_tokenize(text):
    cleaned = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            continue
        if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
            cleaned.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf"):
            continue
        elif is_chinese(cp):
            cleaned.append(" " + ch + " ")
        else:
            cleaned.append(ch)
    words = []
    for word in "".join(cleaned).split():
        word = unicodedata.normalize("NFD", word.lower())
        word = "".join(c for c in word if unicodedata.category(c) != "Mn")
        current = ""
        for ch in word:
            if is_punctuation(ch):
                if current:
                    words.append(current)
                words.append(ch)
                current = ""
            else:
                current += ch
        if current:
            words.append(current)
    return words


def wordpiece(word, vocab):
    if len(word) > 100:
        return [vocab["[UNK]"]]
    ids, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                found = vocab[piece]
                break
            end -= 1
        if found is None:
            return [vocab["[UNK]"]]
        ids.append(found)
        start = end
    return ids


def tokenize(text, vocab):
    ids = [vocab["[CLS]"]]
    for word in basic_tokenize(text):
        ids.extend(wordpiece(word, vocab))
    return ids + [vocab["[SEP]"]]


def layer_norm(x, w, b, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


ERF = np.vectorize(math.erf)


def encode(ids, t, cfg):
    n_head = cfg["num_attention_heads"]
    eps = cfg["layer_norm_eps"]
    n = len(ids)
    x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][:n] \
        + t["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    d = x.shape[1] // n_head
    for il in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{il}."
        lin = lambda v, name: v @ t[p + name + ".weight"].T + t[p + name + ".bias"]
        q = lin(x, "attention.self.query").reshape(n, n_head, d).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(n, n_head, d).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(n, n_head, d).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s /= s.sum(axis=-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(n, n_head * d)
        x = layer_norm(x + lin(a, "attention.output.dense"), t[p + "attention.output.LayerNorm.weight"],
                       t[p + "attention.output.LayerNorm.bias"], eps)
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + ERF(h / math.sqrt(2.0)))
        x = layer_norm(x + lin(h, "output.dense"), t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"], eps)
    pooled = x.mean(axis=0)
    return pooled / np.linalg.norm(pooled)


def pick_texts(data_dir, vocab):
    reviews, abstracts = [], []
    for q in json.load(open(os.path.join(data_dir, "lamp3-amazon-mi", "dev_questions.json"))):
        for item in q["profile"]:
            if len(reviews) < 10 and len(tokenize(item["text"], vocab)) <= MAX_TOKENS and len(item["text"]) > 40:
                reviews.append(item["text"])
                break
        if len(reviews) >= 10:
            break
    for q in json.load(open(os.path.join(data_dir, "lamp5-acl", "dev_questions.json"))):
        for item in q["profile"]:
            if len(abstracts) < 10 and len(tokenize(item["abstract"], vocab)) <= MAX_TOKENS:
                abstracts.append(item["abstract"])
                break
        if len(abstracts) >= 10:
            break
    return reviews + abstracts


def main():
    model_dir, data_dir, out_path = sys.argv[1:4]
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    tensors = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    texts = pick_texts(data_dir, vocab)
    rows = []
    for text in texts:
        ids = tokenize(text, vocab)
        rows.append({"text": text, "token_ids": ids,
                     "embedding": [float(f"{v:.8g}") for v in encode(ids, tensors, cfg)]})
    out = {"model": "all-MiniLM-L6-v2", "pooling": "mean", "normalize": True, "max_tokens": MAX_TOKENS,
           "generator": "scripts/goldens/minilm_reference.py (float64 numpy)", "items": rows}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()

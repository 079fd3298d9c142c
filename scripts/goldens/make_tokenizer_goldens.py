#!/usr/bin/env python3
"""Write tokenizer goldens for the models that scripts/setup.sh installs.

The reference is Hugging Face `tokenizers`, an implementation independent of qrag and
of llama.cpp, built only from the vocabulary in each GGUF file (tokens, merges or
scores, token types, special ids and flags) and configured like the model's
published tokenizer:

- SmolLM2 (`tokenizer.ggml.model` gpt2, `tokenizer.ggml.pre` smollm): byte-level BPE
  with the GGUF merges, the pre-tokenizer Sequence[Digits(individual_digits=True),
  ByteLevel(add_prefix_space=False)] of the StarCoder tokenizer that SmolLM2 reuses,
  and the ByteLevel decoder without clean-up of spaces.
- Gemma 3 (`tokenizer.ggml.model` llama): SentencePiece BPE expressed as HF BPE with
  byte fallback. The normalizer replaces " " with U+2581 (no dummy prefix when
  `tokenizer.ggml.add_space_prefix` is false), and the decoder replaces U+2581 with
  " ", turns <0xNN> tokens into bytes and fuses them. SentencePiece merges the
  adjacent pair whose merged piece has the highest score. So the HF merge list is
  every split of a normal piece into two normal pieces, ranked by the merged piece's
  score.

Control tokens become special added tokens and user-defined tokens (Gemma's "\\n\\n"
and whitespace runs) non-special added tokens, both matched on the raw text. Gemma's
whitespace runs are stored with spaces, not U+2581, in the GGUF, and matching them on
the raw text picks the longest run first, as SentencePiece does. (llama.cpp commit
fa79495 notes that the HF Gemma tokenizer prefers the 16-space token over longer runs,
unlike SentencePiece.)

Usage, from the repository root after scripts/setup.sh:
  python3 scripts/goldens/make_tokenizer_goldens.py --data ../shared/data

Writes tests/data/tokenizer/<name>.json with, per case: text, add_special,
parse_special, tokens and detokenized (the decoded tokens without control tokens).
Needs the PyPI packages gguf and tokenizers (run with gguf 0.19.0 and tokenizers 0.23.3).
"""

import argparse
import hashlib
import json
import os
import sys

import gguf
import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

SPACE_MARKER = "\u2581"

# Token types of `tokenizer.ggml.token_type` (llama.cpp's numbering).
TYPE_NORMAL, TYPE_CONTROL, TYPE_USER_DEFINED, TYPE_BYTE = 1, 3, 4, 6

# name -> file under models/
MODELS = {
    "smollm2-135m": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3-270m": "gemma-3-270m-q4_k_m.gguf",
}

# The same texts for every vocabulary. The strings of control tokens are plain text
# unless a case sets parse_special.
TEXTS = [
    "",
    " ",
    "\n",
    "Hello world",
    "Hello, world!",
    " Hello world",
    "hello",
    "HELLO World",
    "The quick brown fox jumps over the lazy dog.",
    "  two leading spaces",
    "trailing spaces   ",
    "a  b   c    d     e",
    "\tTab\tseparated\tvalues",
    "line one\nline two",
    "\n\n\nthree newlines first",
    "paragraph one.\n\nparagraph two.",
    "Windows\r\nline ending",
    "mixed \n \t whitespace \n\n  ",
    " " * 40 + "forty spaces",
    "1234567890",
    "3.14159 and 2.71828",
    "In 2024, 1,000,000 people paid $12.50 each.",
    "v1.2.3-rc4 build 0042",
    "0x7F 0b1010 1e-9",
    "I'm sure you'll see it's what they've done, isn't it? We'd know.",
    "DON'T SHOUT, I'LL HEAR YOU'RE HERE",
    "rock 'n' roll 'quoted' words",
    "Wait... what?! Really?!?",
    "(parentheses) [brackets] {braces} <angles>",
    "e-mail: first.last+tag@example.com",
    "https://example.com/path/to/page?q=1&r=two#frag",
    "你好，世界！",
    "日本語のテキストです。カタカナもあります。",
    "한국어 문장입니다",
    "I \u2764\ufe0f NY \U0001F355\U0001F355 \U0001F469\u200d\U0001F4BB",
    "\U0001F389\U0001F389\U0001F389",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u2014 fa\u00e7ade",
    "Z\u00fcrich Stra\u00dfe \u00c6r\u00f8sk\u00f8bing",
    "e\u0301 combining accent versus \u00e9",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u03ba\u03b5\u03af\u03bc\u03b5\u03bd\u03b1",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u092a\u093e\u0920",
    "def square(x):\n    return x ** 2  # power\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    '{"key": [1, 2, 3], "ok": true, "name": null}',
    '<div class="note">&amp; &lt;b&gt;</div>',
    "literal <|im_start|> and <start_of_turn> and <eos> text",
    "\u2581already marked\u2581text",
    "ALLCAPSWORDWITHOUTSPACES and averyveryverylongwordwithoutanyspaces",
]

# (text, parse_special) cases that contain the control tokens of a chat format.
SPECIAL_TEXTS = [
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
]

# (file under the data folder, number of questions) from which short snippets are taken.
LAMP_SOURCES = [("lamp3-amazon-mi/dev_questions.json", 4), ("lamp5-acl/dev_questions.json", 4)]
SNIPPET_CHARS = 160


def read_field(reader, key, default=None):
    field = reader.get_field(key)
    if field is None:
        return default
    return field.contents()


def cut_at_word(text, limit):
    """Return at most `limit` characters of `text`, ending at a word boundary."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit]


def lamp_snippets(data_dir):
    """Return short snippets of LaMP questions and profile items, in a fixed order."""
    snippets = []
    for relative, count in LAMP_SOURCES:
        path = os.path.join(data_dir, relative)
        with open(path, encoding="utf-8") as f:
            questions = json.load(f)
        for question in questions[:count]:
            snippets.append(cut_at_word(question["input"], SNIPPET_CHARS))
            profile = question.get("profile") or []
            if profile:
                item = profile[0]
                text = item.get("text") or item.get("abstract") or item.get("title") or ""
                if text:
                    snippets.append(cut_at_word(text, SNIPPET_CHARS))
    return snippets


class GgufVocab:
    """The `tokenizer.ggml.*` metadata of one GGUF file."""

    def __init__(self, path):
        reader = gguf.GGUFReader(path)
        self.model = read_field(reader, "tokenizer.ggml.model")
        self.pre = read_field(reader, "tokenizer.ggml.pre", "default")
        self.tokens = list(read_field(reader, "tokenizer.ggml.tokens"))
        self.types = list(read_field(reader, "tokenizer.ggml.token_type"))
        self.scores = list(read_field(reader, "tokenizer.ggml.scores", []))
        self.merges = list(read_field(reader, "tokenizer.ggml.merges", []))
        self.bos = read_field(reader, "tokenizer.ggml.bos_token_id")
        self.eos = read_field(reader, "tokenizer.ggml.eos_token_id")
        self.unk = read_field(reader, "tokenizer.ggml.unknown_token_id")
        self.add_bos = read_field(reader, "tokenizer.ggml.add_bos_token")
        self.add_eos = read_field(reader, "tokenizer.ggml.add_eos_token")
        self.add_space_prefix = read_field(reader, "tokenizer.ggml.add_space_prefix")
        self.chat_template = read_field(reader, "tokenizer.chat_template")
        if len(self.types) != len(self.tokens):
            sys.exit(f"{path}: {len(self.types)} token types for {len(self.tokens)} tokens")


def add_vocab_specials(tokenizer, vocab):
    """Register control tokens as special and user-defined tokens as non-special added tokens."""
    added = []
    for token, token_type in zip(vocab.tokens, vocab.types):
        if token_type == TYPE_CONTROL:
            added.append(AddedToken(token, special=True, normalized=False))
        elif token_type == TYPE_USER_DEFINED:
            added.append(AddedToken(token, special=False, normalized=False))
    tokenizer.add_tokens(added)


def add_post_processor(tokenizer, vocab):
    """Add BOS and EOS as the GGUF's add_bos_token and add_eos_token flags request."""
    single = "$A"
    specials = []
    if vocab.add_bos:
        single = f"{vocab.tokens[vocab.bos]} {single}"
        specials.append((vocab.tokens[vocab.bos], vocab.bos))
    if vocab.add_eos:
        single = f"{single} {vocab.tokens[vocab.eos]}"
        specials.append((vocab.tokens[vocab.eos], vocab.eos))
    if specials:
        tokenizer.post_processor = processors.TemplateProcessing(single=single, special_tokens=specials)


def build_byte_level_bpe(vocab):
    if vocab.pre != "smollm":
        sys.exit(f"pre-tokenizer {vocab.pre!r} is not configured here; only 'smollm' is")
    ids = {token: i for i, token in enumerate(vocab.tokens)}
    merges = [tuple(merge.split(" ", 1)) for merge in vocab.merges]
    tokenizer = Tokenizer(models.BPE(ids, merges, byte_fallback=False, fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    add_vocab_specials(tokenizer, vocab)
    add_post_processor(tokenizer, vocab)
    return tokenizer


def spm_merges(vocab):
    """Derive BPE merges from SentencePiece scores: every split of a normal piece into
    two normal pieces, ranked by the merged piece's score (highest first), then by the
    ranks of its two halves."""
    normal = {
        token: i for i, token in enumerate(vocab.tokens) if vocab.types[i] == TYPE_NORMAL
    }
    ranked = []
    for merged, merged_id in normal.items():
        for split in range(1, len(merged)):
            left, right = merged[:split], merged[split:]
            left_id = normal.get(left)
            right_id = normal.get(right)
            if left_id is None or right_id is None:
                continue
            ranked.append((-vocab.scores[merged_id], merged_id, left_id, right_id, left, right))
    ranked.sort()
    return [(left, right) for _, _, _, _, left, right in ranked]


def build_sentencepiece_bpe(vocab):
    if not vocab.scores:
        sys.exit("a SentencePiece vocabulary needs tokenizer.ggml.scores")
    ids = {token: i for i, token in enumerate(vocab.tokens)}
    unk = vocab.tokens[vocab.unk] if vocab.unk is not None else None
    model = models.BPE(ids, spm_merges(vocab), unk_token=unk, fuse_unk=True, byte_fallback=True)
    tokenizer = Tokenizer(model)
    steps = []
    # add_space_prefix defaults to true for SentencePiece, as in llama.cpp.
    if vocab.add_space_prefix is None or vocab.add_space_prefix:
        steps.append(normalizers.Prepend(SPACE_MARKER))
    steps.append(normalizers.Replace(" ", SPACE_MARKER))
    tokenizer.normalizer = normalizers.Sequence(steps)
    decode_steps = [decoders.Replace(SPACE_MARKER, " "), decoders.ByteFallback(), decoders.Fuse()]
    if vocab.add_space_prefix is None or vocab.add_space_prefix:
        decode_steps.append(decoders.Strip(" ", 1, 0))
    tokenizer.decoder = decoders.Sequence(decode_steps)
    add_vocab_specials(tokenizer, vocab)
    add_post_processor(tokenizer, vocab)
    return tokenizer


def build_reference(vocab):
    if vocab.model == "gpt2":
        return build_byte_level_bpe(vocab)
    if vocab.model == "llama":
        return build_sentencepiece_bpe(vocab)
    sys.exit(f"tokenizer.ggml.model {vocab.model!r} is not configured here")


def make_case(tokenizer, text, add_special, parse_special):
    tokenizer.encode_special_tokens = not parse_special
    ids = tokenizer.encode(text, add_special_tokens=add_special).ids
    detokenized = tokenizer.decode(ids, skip_special_tokens=True)
    return {
        "text": text,
        "add_special": add_special,
        "parse_special": parse_special,
        "tokens": ids,
        "detokenized": detokenized,
    }


def format_golden(golden):
    """Return the golden as JSON with one line per case, so diffs show changed cases."""
    header = {key: value for key, value in golden.items() if key != "cases"}
    lines = [json.dumps(header, ensure_ascii=False)[:-1] + ', "cases": [']
    cases = [json.dumps(case, ensure_ascii=False) for case in golden["cases"]]
    lines.append(",\n".join(cases))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=os.path.join(root, "models"), help="folder with the GGUF files")
    parser.add_argument("--data", default=os.path.join(root, "..", "shared", "data"),
                        help="LaMP-format data folder for the review and abstract snippets")
    parser.add_argument("--out", default=os.path.join(root, "tests", "data", "tokenizer"))
    args = parser.parse_args()

    snippets = lamp_snippets(args.data)
    os.makedirs(args.out, exist_ok=True)
    for name, file_name in MODELS.items():
        path = os.path.join(args.models, file_name)
        vocab = GgufVocab(path)
        tokenizer = build_reference(vocab)
        cases = []
        for text in TEXTS + snippets:
            cases.append(make_case(tokenizer, text, add_special=False, parse_special=False))
        for text in ["Hello world", "", TEXTS[24]]:
            cases.append(make_case(tokenizer, text, add_special=True, parse_special=False))
        for text in SPECIAL_TEXTS:
            cases.append(make_case(tokenizer, text, add_special=True, parse_special=True))
            cases.append(make_case(tokenizer, text, add_special=False, parse_special=False))
        golden = {
            "model_file": file_name,
            "model_sha256": sha256_of(path),
            "reference": f"tokenizers {tokenizers.__version__}, built from the GGUF vocabulary",
            "n_vocab": len(vocab.tokens),
            "has_chat_template": vocab.chat_template is not None,
            "cases": cases,
        }
        out_path = os.path.join(args.out, name + ".json")
        with open(out_path, "w", encoding="utf-8") as f:
            f.write(format_golden(golden))
        print(f"{out_path}: {len(cases)} cases")


if __name__ == "__main__":
    main()

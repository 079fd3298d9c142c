#!/usr/bin/env python3
"""Generate BM25 parity goldens with rank_bm25 (0.2.2) for tests/retrieval.

Outputs (committed under tests/data/retrieval/):
  bm25_rank_bm25.json  For 50 LaMP-3 and 50 LaMP-5 questions: the query, the documents
                       (profile order) and, per variant, rank_bm25's scores, the ranking
                       under qrag's tie rule (score descending, then profile order) and
                       rank_bm25's own get_top_n order.
  python_random.json   CPython `random` draws (random.seed + random.random / choices) that
                       qrag's random?lamp-compat generator must reproduce.

Query and corpus rules are LaMP's: LaMP-3 query = input text after "review:" (stripped),
documents = profile `text`; LaMP-5 query = input text after "paper:" (stripped), documents =
`title + " " + abstract`. Tokenization is Python str.split() (whitespace, case kept), except
the "okapi_characters" entry, which passes raw strings to BM25Okapi so that every character
is a term (the compatibility mode qrag calls analyzer=characters).

Question selection: every (N // 50)-th question of each file in file order, starting at
index 0, so the sample spreads over the whole file. Nothing is truncated: the script fails
if the output would exceed MAX_BYTES instead of dropping questions or text.

Usage: python3 scripts/goldens/bm25_goldens.py SHARED_DATA_DIR OUTPUT_DIR
  e.g. python3 scripts/goldens/bm25_goldens.py ../shared/data tests/data/retrieval
"""

import json
import random
import sys
from pathlib import Path

import numpy as np
from importlib.metadata import version
from rank_bm25 import BM25L, BM25Okapi, BM25Plus

QUESTIONS_PER_TASK = 50
MAX_BYTES = 1_500_000
RANK_BM25_VERSION = version("rank_bm25")


def after(marker, text):
    index = text.find(marker)
    if index < 0:
        raise ValueError(f"marker {marker!r} not found in input {text[:80]!r}")
    return text[index + len(marker):].strip()


def lamp3(question):
    return after("review:", question["input"]), [p["text"] for p in question["profile"]]


def lamp5(question):
    docs = [f'{p["title"]} {p["abstract"]}' for p in question["profile"]]
    return after("paper:", question["input"]), docs


def qrag_order(scores):
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def variant_entry(model, query_tokens):
    scores = [float(s) for s in model.get_scores(query_tokens)]
    top_n = [int(i) for i in np.argsort(np.array(scores))[::-1]]
    return {"scores": scores, "ranking": qrag_order(scores), "rank_bm25_top_n": top_n}


def question_entry(task, question, extract):
    query, texts = extract(question)
    tokens = [t.split() for t in texts]
    query_tokens = query.split()
    return {
        "task": task,
        "id": question["id"],
        "query": query,
        "docs": [{"id": p["id"], "text": t} for p, t in zip(question["profile"], texts)],
        "variants": {
            "okapi": variant_entry(BM25Okapi(tokens), query_tokens),
            "bm25plus": variant_entry(BM25Plus(tokens), query_tokens),
            "bm25l": variant_entry(BM25L(tokens), query_tokens),
            # Raw strings: rank_bm25 iterates characters of each document and of the query.
            "okapi_characters": variant_entry(BM25Okapi(texts), query),
        },
    }


def select(questions):
    stride = max(1, len(questions) // QUESTIONS_PER_TASK)
    return questions[::stride][:QUESTIONS_PER_TASK]


def python_random_cases():
    """Draws after random.seed(seed): qrag seeds a fresh generator per rank() call."""
    cases = []
    for seed in [0, 1, 7, 2**32 - 1, 2**32, (7 << 64) | 0x0123456789ABCDEF, 2**100 + 12345]:
        rng = random.Random(seed)
        randoms = [rng.random() for _ in range(8)]
        choices = {}
        for n in [1, 5, 41]:
            rng = random.Random(seed)
            choices[str(n)] = rng.choices(range(n), k=min(n, 10))
        words = []
        value = seed
        while value:
            words.append(value & 0xFFFFFFFF)
            value >>= 32
        cases.append({"seed": str(seed), "seed_words": words or [0], "random": randoms, "choices": choices})
    return cases


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    entries = []
    for task, folder, extract in [("LaMP-3", "lamp3-amazon-mi", lamp3), ("LaMP-5", "lamp5-acl", lamp5)]:
        questions = json.loads((data_dir / folder / "dev_questions.json").read_text())
        entries += [question_entry(task, q, extract) for q in select(questions)]
    golden = {
        "generator": "scripts/goldens/bm25_goldens.py",
        "rank_bm25_version": RANK_BM25_VERSION,
        "parameters": {"okapi": {"k1": 1.5, "b": 0.75, "epsilon": 0.25},
                       "bm25plus": {"k1": 1.5, "b": 0.75, "delta": 1.0},
                       "bm25l": {"k1": 1.5, "b": 0.75, "delta": 0.5}},
        "questions": entries,
    }
    text = json.dumps(golden, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode()) > MAX_BYTES:
        sys.exit(f"golden would be {len(text.encode())} bytes, above {MAX_BYTES}; lower QUESTIONS_PER_TASK")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bm25_rank_bm25.json").write_text(text + "\n")
    (out_dir / "python_random.json").write_text(json.dumps({"cases": python_random_cases()}, indent=1) + "\n")
    print(f"wrote {len(entries)} questions, {len(text.encode())} bytes")


if __name__ == "__main__":
    main()

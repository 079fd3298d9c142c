#!/usr/bin/env python3
"""Alternates `qrag bench` and reference_bench.py (llama.cpp) on the same GGUF files.

On a shared virtual machine the speed of one command drifts by tens of percent within
minutes, so two tables taken one after the other compare the host's load as much as
the engines. This script runs both engines on one model back to back, model by model,
for several rounds, and prints per test the median over rounds of each engine's median
and the qrag/llama.cpp ratio of every round:

    /tmp/llcpp/bin/python scripts/compare_with_llama_cpp.py --rounds 5 \\
        -m models/SmolLM2-135M-Instruct.Q4_1.gguf -m /tmp/qrag-synthetic/synthetic-smollm2-135m-q4_0.gguf

The Python running this script must have the llama_cpp module (see reference_bench.py).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-m", "--model", action="append", required=True, help="GGUF file (repeat or comma-separate)")
    parser.add_argument("--qrag", default=os.path.join(HERE, "..", "build", "release", "qrag"), help="qrag binary")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-p", "--n-prompt", type=int, default=512)
    parser.add_argument("-n", "--n-gen", type=int, default=128)
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("-r", "--repetitions", type=int, default=3, help="repetitions per engine and round")
    parser.add_argument("--no-mmap", action="store_true", help="pass --no-mmap to both engines")
    return parser.parse_args()


def run_json(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"compare_with_llama_cpp.py: {' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout)


def one_round(model, args, common):
    """Time one model with both engines and return {test: (qrag t/s, llama.cpp t/s)}, each a median."""
    qrag_rows = run_json([args.qrag, "bench", "-m", model, "-o", "json"] + common)
    llama_rows = run_json([sys.executable, os.path.join(HERE, "reference_bench.py"), "-m", model, "-o", "json"] + common)
    llama_row = llama_rows["rows"][0]
    pairs = {}
    for row in qrag_rows:
        test = row["test"]  # e.g. "pp512"
        pairs[test] = (row["tokens_per_s_median"], llama_row[test[:2]]["median"])
    return pairs


def main():
    args = parse_args()
    common = ["-p", str(args.n_prompt), "-n", str(args.n_gen), "-t", str(args.threads), "-r", str(args.repetitions)]
    if args.no_mmap:
        common.append("--no-mmap")
    models = [p for value in args.model for p in value.split(",") if p]

    results = {}  # (model, test) -> list of (qrag, llama.cpp) per round
    for round_index in range(args.rounds):
        for model in models:
            for test, pair in one_round(model, args, common).items():
                results.setdefault((model, test), []).append(pair)
            print(f"round {round_index + 1}/{args.rounds}: {model}", file=sys.stderr, flush=True)

    print(f"| model | test | qrag t/s | llama.cpp t/s | qrag / llama.cpp per round |  ({args.rounds} rounds, "
          f"{args.threads} threads{', --no-mmap' if args.no_mmap else ''})")
    print("| --- | --- | ---: | ---: | --- |")
    for (model, test), pairs in results.items():
        qrag = statistics.median(q for q, _ in pairs)
        llama = statistics.median(ll for _, ll in pairs)
        ratios = " ".join(f"{q / ll:.2f}" for q, ll in pairs)
        print(f"| {os.path.basename(model)} | {test} | {qrag:.1f} | {llama:.1f} | {ratios} |")


if __name__ == "__main__":
    main()

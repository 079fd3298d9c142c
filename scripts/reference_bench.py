#!/usr/bin/env python3
"""Times llama.cpp on GGUF files the way `qrag bench` and llama-bench do, as a reference.

qrag's speed targets are stated against llama.cpp. This script measures llama.cpp on
the machine at hand, through the llama-cpp-python package's low-level bindings (a
reference oracle, never part of qrag), so both engines can be timed on the same files
and cores:

    python3 -m venv /tmp/llcpp
    CMAKE_ARGS="-DGGML_NATIVE=ON" /tmp/llcpp/bin/pip install llama-cpp-python==0.3.10
    build/release/qrag bench --synthetic smollm2-135m:q4_0 -p 512 -n 128 -t 2 -r 5
    /tmp/llcpp/bin/python scripts/reference_bench.py \\
        -m /tmp/qrag-synthetic/synthetic-smollm2-135m-q4_0.gguf -p 512 -n 128 -t 2 -r 5

The package compiles llama.cpp from source for the host's instruction set. Where the
CPU reports AMX but a VM faults on it (SIGILL in ggml_backend_amx_mul_mat), build with
GGML_NATIVE=OFF and the ISA flags listed in docs/performance.md instead. Each test
follows llama-bench: a fresh KV cache, BOS then uniformly random token ids, pp as
batches of at most n_batch tokens (micro-batches of 512), tg as one token per decode,
one warm-up run first. Rates are tokens/s: median, min and max over the repetitions.
"""

import argparse
import json
import random
import statistics
import sys
import time

try:
    import llama_cpp
except ImportError:
    sys.exit("reference_bench.py: the llama_cpp module is missing; install llama-cpp-python (see the top of this file)")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-m", "--model", action="append", required=True, help="GGUF file (repeat or comma-separate)")
    parser.add_argument("-p", "--n-prompt", type=int, default=512, help="prompt tokens (0 skips pp)")
    parser.add_argument("-n", "--n-gen", type=int, default=128, help="generated tokens (0 skips tg)")
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("-r", "--repetitions", type=int, default=5)
    parser.add_argument("-b", "--batch", type=int, default=2048, help="logical batch (llama-bench's -b)")
    parser.add_argument("--flash-attn", type=int, choices=[0, 1], default=0, help="llama-bench's -fa")
    parser.add_argument("--no-mmap", action="store_true", help="read the file into memory instead of mapping it")
    parser.add_argument("--no-extra-bufts", action="store_true",
                        help="keep weights in the file's layout (no repacked or AMX buffers)")
    parser.add_argument("-o", "--output", choices=["md", "json"], default="md")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def context_params(args, n_ctx):
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = n_ctx
    params.n_batch = args.batch
    params.n_ubatch = 512
    params.n_threads = args.threads
    params.n_threads_batch = args.threads
    if hasattr(params, "flash_attn_type"):
        params.flash_attn_type = args.flash_attn  # the enum's DISABLED is 0 and ENABLED is 1
    else:
        params.flash_attn = bool(args.flash_attn)
    return params


def decode(ctx, tokens):
    array = (llama_cpp.llama_token * len(tokens))(*tokens)
    rc = llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(array, len(tokens)))
    if rc != 0:
        raise RuntimeError(f"llama_decode failed with code {rc}")


def clear_cache(ctx):
    if hasattr(llama_cpp, "llama_get_memory"):
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    else:
        llama_cpp.llama_kv_self_clear(ctx)


def time_prompt(ctx, tokens, n_batch):
    clear_cache(ctx)
    start = time.perf_counter()
    for first in range(0, len(tokens), n_batch):
        decode(ctx, tokens[first:first + n_batch])
    llama_cpp.llama_synchronize(ctx)
    return time.perf_counter() - start


def time_generation(ctx, first_token, n_gen, rng, n_vocab):
    clear_cache(ctx)
    token = first_token
    start = time.perf_counter()
    for _ in range(n_gen):
        decode(ctx, [token])
        llama_cpp.llama_synchronize(ctx)
        token = rng.randrange(n_vocab)
    return time.perf_counter() - start


def summarize(n_tokens, seconds):
    rates = sorted(n_tokens / s for s in seconds)
    return {"median": statistics.median(rates), "min": rates[0], "max": rates[-1]}


def bench_model(path, args):
    model_params = llama_cpp.llama_model_default_params()
    model_params.n_gpu_layers = 0

    # Newer llama.cpp replaced the use_mmap flag with a load_mode enum (0.3.36 has it, 0.3.10 not).
    if any(name == "load_mode" for name, _ in model_params._fields_):
        model_params.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE if args.no_mmap else llama_cpp.LLAMA_LOAD_MODE_MMAP
    else:
        model_params.use_mmap = not args.no_mmap
    if args.no_extra_bufts:
        model_params.use_extra_bufts = False

    start = time.perf_counter()
    model = llama_cpp.llama_model_load_from_file(path.encode(), model_params)
    if not model:
        raise RuntimeError(f"{path}: llama.cpp failed to load the model (its log on stderr gives the reason)")
    ctx = llama_cpp.llama_init_from_model(model, context_params(args, args.n_prompt + args.n_gen))
    if not ctx:
        raise RuntimeError(f"{path}: llama.cpp failed to create a context (its log on stderr gives the reason)")
    load_s = time.perf_counter() - start

    vocab = llama_cpp.llama_model_get_vocab(model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    bos = llama_cpp.llama_vocab_bos(vocab)
    first = bos if bos >= 0 else 0
    rng = random.Random(args.seed)
    row = {"model": path, "threads": args.threads, "flash_attn": args.flash_attn, "load_s": load_s,
           "size_bytes": llama_cpp.llama_model_size(model), "n_params": llama_cpp.llama_model_n_params(model)}

    try:
        if args.n_prompt > 0:
            tokens = [first] + [rng.randrange(n_vocab) for _ in range(args.n_prompt - 1)]
            time_prompt(ctx, tokens, args.batch)  # warm-up
            row["pp"] = summarize(args.n_prompt, [time_prompt(ctx, tokens, args.batch)
                                                   for _ in range(args.repetitions)])
        if args.n_gen > 0:
            time_generation(ctx, first, 1, rng, n_vocab)  # warm-up
            row["tg"] = summarize(args.n_gen, [time_generation(ctx, first, args.n_gen, rng, n_vocab)
                                               for _ in range(args.repetitions)])
    finally:
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)
    return row


def print_markdown(rows, args):
    print(f"| model | size MiB | test | t/s median | min | max |  (llama.cpp via llama-cpp-python "
          f"{llama_cpp.__version__}, {args.threads} threads, fa {args.flash_attn})")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for row in rows:
        for test, n in (("pp", args.n_prompt), ("tg", args.n_gen)):
            if test in row:
                r = row[test]
                print(f"| {row['model']} | {row['size_bytes'] / 2**20:.1f} | {test}{n} | "
                      f"{r['median']:.1f} | {r['min']:.1f} | {r['max']:.1f} |")


def main():
    args = parse_args()
    if args.repetitions < 1:
        sys.exit("reference_bench.py: -r must be at least 1")
    llama_cpp.llama_backend_init()
    # llama.cpp logs every load step to stderr, so the table alone goes to stdout.
    paths = [p for value in args.model for p in value.split(",") if p]
    rows = []
    for path in paths:
        try:
            rows.append(bench_model(path, args))
        except RuntimeError as error:
            sys.exit(f"reference_bench.py: {error}")
        if args.output == "md":
            print(f"done: {path}", file=sys.stderr)
    if args.output == "json":
        print(json.dumps({"llama_cpp_python": llama_cpp.__version__, "rows": rows}, indent=2))
    else:
        print_markdown(rows, args)


if __name__ == "__main__":
    main()

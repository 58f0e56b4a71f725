#!/usr/bin/env python3
"""Exact mode on quantized models: how often the batch kernels change the greedy argmax, and
what batch-invariant decoding (exact=True) and repack=False cost.

1. Batch invariance (Gemma-3 270M Q4_K_M): plain greedy output (one token per decode), then
   the same tokens teacher-forced in batches of c rows with logits on every row, as a verify
   batch has them; positions whose argmax differs from the plain output, per mode.
2. Cost on Gemma: plain decode (after a short prompt, and after a ~512-token one), prompt
   processing, and a verify decode of 4 and 7 rows (logits on every row), fast / exact /
   repack=False, in interleaved rounds (medians).
3. Cost on quantized MTP models (the D1024 L8 benchmark shapes, quantized to Q4_K_M by
   llama_mtp.quantize): generate() with MTP drafts (draft="mtp"), n_draft_max=3 and "auto", fast
   against exact.

Where each drafter's text parts from plain decoding's on the drafts workloads, fast and exact,
and why: bench_divergence.py.

    python benchmarks/bench_exact.py [--rounds 5] [--threads 2] [--json benchmarks/results_exact.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llama_mtp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_mtp import bench_model, interleave  # noqa: E402
from real_model import gemma_270m  # noqa: E402

PROMPTS = [
    "The history of the printing press begins",
    'def fibonacci(n):\n    """Return the n-th Fibonacci number."""',
    "Q: Why is the sky blue?\nA:",
]
MODES = {
    "fast": dict(repack=True, exact=False),
    "exact": dict(repack=True, exact=True),
    "repack=False": dict(repack=False, exact=False),
}


def teacher_forced_argmax(
    model: llama_mtp.Model, tokens: list[int], n_prompt: int, rows: int, exact: bool, threads: int
) -> list[int]:
    """The argmax after each generated position: the prompt in one batch (its last row gives the
    first token, as generate() decodes it), then the generated tokens `rows` at a time."""
    ctx = llama_mtp.Context(model, n_ctx=1024, n_batch=512, n_threads=threads)
    batch = llama_mtp.Batch(512)
    batch.set_tokens(tokens[:n_prompt])
    ctx.decode(batch, exact=exact)
    picks: list[int] = [int(llama_mtp.argmax(ctx.get_logits_ith(n_prompt - 1)))]
    for i in range(n_prompt, len(tokens) - 1, rows):
        chunk = tokens[i : min(i + rows, len(tokens) - 1)]
        batch.set_tokens(chunk, pos0=i)
        batch.logits[:] = 1
        ctx.decode(batch, exact=exact)
        picks += [int(llama_mtp.argmax(ctx.get_logits_ith(j))) for j in range(len(chunk))]
    return picks


def invariance(path: Path, n: int, threads: int) -> dict[str, dict[int, int]]:
    table: dict[str, dict[int, int]] = {}
    for mode, o in MODES.items():
        model = llama_mtp.Model(path, repack=o["repack"])
        table[mode] = {}
        for rows in (1, 2, 3, 4, 7, 8, 16):
            differ = 0
            for p in PROMPTS:
                g = llama_mtp.generate(model, p, max_tokens=n, draft="none", ignore_eos=True, n_threads=threads, exact=o["exact"])
                prompt = list(model.tokenize(p))
                picks = teacher_forced_argmax(model, prompt + g.tokens, len(prompt), rows, o["exact"], threads)
                differ += sum(a != b for a, b in zip(picks, g.tokens[: len(picks)], strict=True))
            table[mode][rows] = differ
    return table


def verify_seconds(model: llama_mtp.Model, rows: int, exact: bool, threads: int, reps: int = 20) -> float:
    ctx = llama_mtp.Context(model, n_ctx=1024, n_batch=512, n_threads=threads)
    batch = llama_mtp.Batch(512)
    batch.set_tokens(list(range(10, 138)), logits_last=False)
    ctx.decode(batch)
    times = []
    for _ in range(reps):
        batch.set_tokens(list(range(200, 200 + rows)), pos0=128)
        batch.logits[:] = 1
        t0 = time.perf_counter()
        ctx.decode(batch, exact=exact)
        times.append(time.perf_counter() - t0)
        ctx.memory_seq_rm(0, 128, -1)
    return statistics.median(times)


def gemma_costs(path: Path, rounds: int, threads: int) -> dict[str, dict[str, float]]:
    models = {True: llama_mtp.Model(path), False: llama_mtp.Model(path, repack=False)}
    long_prompt = " ".join(["the quick brown fox jumps over the lazy dog"] * 56)  # ~512 tokens

    def arm(mode: str) -> Callable[[], dict[str, float]]:
        o = MODES[mode]
        m = models[bool(o["repack"])]

        def measure() -> dict[str, float]:
            g = llama_mtp.generate(
                m, PROMPTS[0], max_tokens=128, draft="none", ignore_eos=True, n_threads=threads, exact=o["exact"]
            )
            # past 512 KV cells a one-row decode's attention is split across the threads, not in exact mode
            pp = llama_mtp.generate(
                m, long_prompt, max_tokens=64, draft="none", ignore_eos=True, n_threads=threads, exact=o["exact"]
            )
            return {
                "decode t/s": g.tokens_per_s,
                "decode t/s past 512 cells": pp.tokens_per_s,
                "prompt t/s": pp.prompt_tokens_per_s,
                "verify 4 rows ms": 1e3 * verify_seconds(m, 4, bool(o["exact"]), threads),
                "verify 7 rows ms": 1e3 * verify_seconds(m, 7, bool(o["exact"]), threads),
            }

        return measure

    runs = interleave(rounds, {mode: arm(mode) for mode in MODES})
    return {mode: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for mode, rs in runs.items()}


def mtp_costs(rounds: int, threads: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for shape in ("hybrid", "dense"):
        src = bench_model(shape)
        dst = src.with_name(src.stem + "-Q4_K_M.gguf")
        if not dst.exists():
            llama_mtp.quantize(src, dst, "Q4_K_M")
        model = llama_mtp.Model(dst)
        arms: dict[str, Callable[[], float]] = {}
        for n_draft in (3, "adaptive"):
            for exact in (False, True):

                def measure(n_draft: int | str = n_draft, exact: bool = exact, model: llama_mtp.Model = model) -> float:
                    g = llama_mtp.generate(
                        model,
                        "x",
                        max_tokens=128,
                        draft="mtp",
                        n_draft_max=n_draft,  # type: ignore[arg-type]
                        n_threads=threads,
                        exact=exact,
                    )
                    return g.tokens_per_s

                arms[f"n={n_draft} {'exact' if exact else 'fast'}"] = measure
        runs = interleave(rounds, arms)
        out[shape] = {k: statistics.median(v) for k, v in runs.items()}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=192, help="greedy tokens per prompt for the invariance table")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--parts", default="invariance,gemma,mtp", help="which of the three parts to run")
    args = ap.parse_args()
    parts = args.parts.split(",")
    llama_mtp.set_log_level("none")
    path = gemma_270m()
    result: dict[str, Any] = {"threads": args.threads, "rounds": args.rounds}
    if "invariance" in parts:
        print_invariance(result, path, args)
    if "gemma" in parts:
        print_gemma_costs(result, path, args)
    if "mtp" in parts:
        print_mtp_costs(result, args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return 0


def print_invariance(result: dict[str, Any], path: Path, args: argparse.Namespace) -> None:
    result["invariance"] = inv = invariance(path, args.tokens, args.threads)
    print(
        f"\nGemma-3 270M Q4_K_M, {len(PROMPTS)} prompts x {args.tokens} tokens: positions whose argmax differs "
        "from plain greedy, teacher-forced c rows per batch (logits on every row)"
    )
    print("| mode | " + " | ".join(f"c={c}" for c in inv["fast"]) + " |")
    print("|---|" + "---|" * len(inv["fast"]))
    for mode, row in inv.items():
        print(f"| {mode} | " + " | ".join(str(v) for v in row.values()) + " |")


def print_gemma_costs(result: dict[str, Any], path: Path, args: argparse.Namespace) -> None:
    result["gemma_costs"] = costs = gemma_costs(path, args.rounds, args.threads)
    keys = list(costs["fast"])
    print(f"\nGemma-3 270M Q4_K_M, {args.threads} threads, medians of {args.rounds} interleaved rounds (in brackets: / fast)")
    print("| mode | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for mode, row in costs.items():
        print(f"| {mode} | " + " | ".join(f"{row[k]:.1f} [{row[k] / costs['fast'][k]:.2f}]" for k in keys) + " |")


def print_mtp_costs(result: dict[str, Any], args: argparse.Namespace) -> None:
    result["mtp_costs"] = mtp = mtp_costs(args.rounds, args.threads)
    print(
        f"\nQuantized MTP models (Q4_K_M), generate() tokens/s, 128 tokens, {args.threads} threads, "
        f"medians of {args.rounds} interleaved rounds"
    )
    for shape, row in mtp.items():
        cells = ", ".join(f"{k} {v:.1f}" for k, v in row.items())
        ratios = ", ".join(f"n={n}: {row[f'n={n} exact'] / row[f'n={n} fast']:.3f}" for n in (3, "adaptive"))
        print(f"- {shape}: {cells}; exact / fast: {ratios}")


if __name__ == "__main__":
    raise SystemExit(main())

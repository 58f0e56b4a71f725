#!/usr/bin/env python3
"""How much of a real model's output a draft vocabulary of K tokens covers: the ceiling of the
acceptance a restricted draft head keeps (llama_mtp.draft_vocab).

    python benchmarks/bench_draft_vocab.py [--tokens 128] [--corpus-mb 4] [--json out.json]

Model: Gemma-3 270M Q4_K_M (real weights and tokenizer, a 262k vocabulary;
benchmarks/real_model.py fetches it). Ranking: token frequencies in text that ships with Python
(pydoc's topics, then the standard library's sources, up to --corpus-mb), tokenized by Gemma's
tokenizer, without the sources the workloads quote (json/, textwrap.py). Text: what Gemma
generates, greedy and sampled (T=0.7, seed 1), on the drafts benchmark's workloads (code edit,
quoting, JSON, a story: bench_drafts.py) and the 24 prompts of bench_same_text.py (10 natural
languages, 5 programming languages, JSON, Markdown). For each K: the share of generated tokens
inside the K most frequent ("static"), and inside them plus the prompt's tokens and the tokens
generated before ("+context": what the draft at that position could reach).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bench_drafts import text_workloads  # noqa: E402
from bench_same_text import PROMPTS  # noqa: E402
from real_model import gemma_270m  # noqa: E402

import llama_mtp  # noqa: E402
from llama_mtp import draft_vocab  # noqa: E402

KS = (8_000, 16_000, 32_000, 64_000)
SAMPLED_TEMPERATURE = 0.7


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def category(name: str) -> str:
    if name in ("code_edit", "py fib", "py softmax", "c", "js", "rust", "sql"):
        return "code"
    if name.startswith("json"):
        return "json"
    if name in ("quote",):
        return "quote"
    if name[:2] in ("fr", "de", "es", "it", "pt", "ru", "ja", "zh", "ar"):
        return name[:2]
    return "en prose"


def workloads() -> dict[str, tuple[str, float]]:
    out = dict(text_workloads())
    for name, prompt in PROMPTS.items():
        out[name] = (prompt, 0.0)
        out[f"{name} T={SAMPLED_TEMPERATURE}"] = (prompt, SAMPLED_TEMPERATURE)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--corpus-mb", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    llama_mtp.set_log_level("error")
    model = llama_mtp.Model(str(gemma_270m()))
    t0 = time.perf_counter()
    texts = list(draft_vocab.python_corpus(max_bytes=int(args.corpus_mb * (1 << 20)), exclude=("json/", "textwrap.py")))
    counts = draft_vocab.token_counts(model, texts)
    ranking = draft_vocab.ranked_tokens(counts)
    rank_of = np.empty_like(ranking)
    rank_of[ranking] = np.arange(ranking.size, dtype=ranking.dtype)
    # the other ranking at hand without a corpus: the tokenizer's own order (ids)
    id_rank = np.arange(model.n_vocab, dtype=np.int32)
    print(
        f"corpus: {len(texts)} texts, {sum(len(t.encode()) for t in texts) / 2**20:.1f} MiB, {int(counts.sum())} tokens, "
        f"{int((counts > 0).sum())} of {model.n_vocab} token ids seen ({time.perf_counter() - t0:.1f} s)"
    )
    rows: list[dict[str, Any]] = []
    with llama_mtp.LLM(model, n_ctx=4096, n_threads=args.threads, draft="ngram") as llm:
        for name, (prompt, temperature) in workloads().items():
            prompt_tokens = [int(t) for t in model.tokenize(prompt, add_special=True, parse_special=True)]
            g = llm.generate(prompt_tokens, max_tokens=args.tokens, temperature=temperature, seed=1)
            row: dict[str, Any] = {
                "workload": name,
                "category": category(name),
                "temperature": temperature,
                "tokens": len(g.tokens),
            }
            for k in KS:
                static, dynamic = draft_vocab.coverage(rank_of, k, prompt_tokens, g.tokens)
                row[f"static_{k}"], row[f"context_{k}"] = static, dynamic
                row[f"id_context_{k}"] = draft_vocab.coverage(id_rank, k, prompt_tokens, g.tokens)[1]
            rows.append(row)
    header = "| workload | tokens | " + " | ".join(f"K={k // 1000}k static / +context" for k in KS) + " |"
    print("\n" + header + "\n|---|---|" + "---|" * len(KS))
    for r in rows:
        cells = " | ".join(f"{r[f'static_{k}']:.3f} / {r[f'context_{k}']:.3f}" for k in KS)
        print(f"| {r['workload']} | {r['tokens']} | {cells} |")
    print(
        "\nby category (token-weighted, +context), ranked by the Python corpus / by the tokenizer's order:\n\n"
        "| category | tokens | " + " | ".join(f"K={k // 1000}k" for k in KS) + " |"
    )
    print("|---|---|" + "---|" * len(KS))
    cats = sorted({r["category"] for r in rows})
    summary: dict[str, dict[str, float]] = {}
    for c in cats:
        rs = [r for r in rows if r["category"] == c]
        n = sum(r["tokens"] for r in rs)
        summary[c] = {
            f"{kind}_{k}": sum(r[f"{kind}_{k}"] * r["tokens"] for r in rs) / max(n, 1)
            for k in KS
            for kind in ("context", "id_context")
        }
        cells = " | ".join(f"{summary[c][f'context_{k}']:.3f} / {summary[c][f'id_context_{k}']:.3f}" for k in KS)
        print(f"| {c} | {n} | {cells} |")
    worst = {k: min(r[f"context_{k}"] for r in rows if r["tokens"]) for k in KS}
    print("\nworst workload, +context: " + ", ".join(f"K={k // 1000}k {worst[k]:.3f}" for k in KS))
    print(
        "median workload, +context: "
        + ", ".join(f"K={k // 1000}k {statistics.median(r[f'context_{k}'] for r in rows):.3f}" for k in KS)
    )
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu_model(),
        "model": "gemma-3-270m-q4_k_m",
        "n_vocab": model.n_vocab,
        "corpus_bytes": sum(len(t.encode()) for t in texts),
        "rows": rows,
        "by_category": summary,
        "worst": worst,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

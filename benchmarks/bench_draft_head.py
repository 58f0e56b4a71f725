#!/usr/bin/env python3
"""What a draft vocabulary (DraftConfig.draft_vocab) does to a drafted token's cost and to
speed, side by side in one run, on models shaped like real ones.

    python benchmarks/bench_draft_head.py [--models qwen35-0.8b:Q4_K_M,qwen35-0.8b:Q8_0,glm-1.5b:Q4_K_M,glm-1.5b:Q8_0]
        [--vocab 16384,32768,65536] [--coverage 0.98,0.80] [--tokens 128] [--repeats 3] [--threads 2]
        [--json out.json]

Models: llama_mtp.shapes at the given quantization, with the decaying acceptance profile
(0.8, 0.65, 0.5, ... per draft position, as real MTP heads measure).

Cost: the manual MTP loop (MtpSession, drafts of 3), each round with the whole head and then
each --vocab size (in alternating order): the median seconds of a draft() call per drafted token
over the median seconds of a one-row target decode measured in the same round (a plain step).

Speed: greedy generate() of --tokens tokens, tokens/s over plain decoding (draft="none") of the
same round: draft="auto" (adaptive length, MTP and n-gram drafts) with the whole head, and with
the draft vocabulary of 32768 tokens where the text loses drafts at each --coverage rate, and
fixed MTP lengths 1-3 at the first coverage. The synthesized text is pseudo-words no corpus
ranks, so the set is made to lose what real text loses (llama_mtp.draft_vocab.with_coverage):
just enough of the text's tokens are left out that the share of its tokens a draft can reach is
the coverage measured on Gemma-3 270M's output (benchmarks/README.md, "A draft vocabulary's
coverage": 0.98 for English, code and JSON at 32k, 0.79-0.94 for other languages). "auto"
starts cold every run (no cost cache), as a first call does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from bench_draft_vocab import cpu_model  # noqa: E402
from bench_mtp import PROMPT, bench_model, interleave  # noqa: E402
from mtp_helpers import Loop  # noqa: E402

import llama_mtp  # noqa: E402
from llama_mtp import draft_vocab  # noqa: E402

os.environ["LLAMA_MTP_COST_CACHE"] = "0"
SPEED_VOCAB = 32_768


def draft_cost(model: llama_mtp.Model, vocab: np.ndarray | None, threads: int, steps: int = 40) -> tuple[float, float]:
    """(seconds per drafted token, seconds of a one-row target decode), medians."""
    target, draft = llama_mtp.mtp_contexts(model, n_draft_max=3, n_ctx=512, n_batch=64, n_threads=threads)
    if vocab is not None:
        draft.set_draft_vocabulary(vocab)
    session = llama_mtp.MtpSession(target, draft)
    loop = Loop(session, model.tokenize(PROMPT))  # the tests' manual MTP loop, greedy
    per_token = []
    for step in range(steps):
        t0 = time.perf_counter()
        proposal = loop.draft()
        seconds = time.perf_counter() - t0
        if step >= 4 and len(proposal):  # the first steps build the graphs
            per_token.append(seconds / len(proposal))
        session.accept(0, loop.verify(proposal))
        loop.commit()
    plain = []
    for i in range(24):
        loop.batch.set_tokens(np.array([loop.last], dtype=np.int32), pos0=loop.n_past + i)
        t0 = time.perf_counter()
        target.decode(loop.batch)
        plain.append(time.perf_counter() - t0)
    del loop, session
    return statistics.median(per_token), statistics.median(plain[4:])


def speed(model: llama_mtp.Model, threads: int, tokens: int, **options: Any) -> float:
    g = llama_mtp.generate(model, PROMPT, max_tokens=tokens, n_threads=threads, ignore_eos=True, **options)
    assert isinstance(g, llama_mtp.Generation)
    return g.tokens_per_s


def bench(name: str, args: argparse.Namespace) -> dict[str, Any]:
    model = llama_mtp.Model(str(bench_model(name)))
    sizes = [int(x) for x in args.vocab.split(",")]
    coverages = [float(x) for x in args.coverage.split(",")]
    sets = {k: draft_vocab.draft_vocab_ids(model, k) for k in sizes}
    cost_arms = {"whole": lambda: draft_cost(model, None, args.threads)}
    cost_arms |= {f"{k}": (lambda v=v: draft_cost(model, v, args.threads)) for k, v in sets.items()}
    costs = interleave(args.repeats, cost_arms)
    cost_rows = {arm: statistics.median(d / p for d, p in runs) for arm, runs in costs.items()}

    plain = llama_mtp.generate(model, PROMPT, max_tokens=args.tokens, draft="none", ignore_eos=True)
    assert isinstance(plain, llama_mtp.Generation)
    prompt_tokens = model.tokenize(PROMPT).tolist()
    base = sets.get(SPEED_VOCAB)
    if base is None:
        base = draft_vocab.draft_vocab_ids(model, SPEED_VOCAB)
    assert base is not None
    scaled = {c: draft_vocab.with_coverage(base, plain.tokens, prompt=prompt_tokens, coverage=c) for c in coverages}
    first = coverages[0]
    speed_arms = {
        "plain": lambda: speed(model, args.threads, args.tokens, draft="none"),
        "auto, whole head": lambda: speed(model, args.threads, args.tokens, draft_vocab="full"),
    }
    speed_arms |= {
        f"auto, {SPEED_VOCAB} @ {c:.2f}": (lambda v=v: speed(model, args.threads, args.tokens, draft_vocab=v))
        for c, v in scaled.items()
    }
    speed_arms |= {
        f"mtp {k}, {SPEED_VOCAB} @ {first:.2f}": (
            lambda k=k: speed(model, args.threads, args.tokens, draft="mtp", n_draft_max=k, draft_vocab=scaled[first])
        )
        for k in (1, 2, 3)
    }
    speed_arms |= {
        f"mtp {k}, whole head": (
            lambda k=k: speed(model, args.threads, args.tokens, draft="mtp", n_draft_max=k, draft_vocab="full")
        )
        for k in (1, 2)
    }
    speeds = interleave(args.repeats, speed_arms)
    speed_rows = {
        arm: statistics.median(s / p for s, p in zip(runs, speeds["plain"], strict=True)) for arm, runs in speeds.items()
    }
    return {
        "model": name,
        "n_vocab": model.n_vocab,
        "set_sizes": {k: int(v.size) if v is not None else None for k, v in sets.items()},
        "cost_over_plain_step": cost_rows,
        "cost_raw": costs,
        "plain_tokens_per_s": statistics.median(speeds["plain"]),
        "speed_over_plain": speed_rows,
        "speed_raw": speeds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="qwen35-0.8b:Q4_K_M,qwen35-0.8b:Q8_0,glm-1.5b:Q4_K_M,glm-1.5b:Q8_0")
    ap.add_argument("--vocab", default="16384,32768,65536")
    ap.add_argument("--coverage", default="0.98,0.80")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    llama_mtp.set_log_level("none")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; {args.threads} threads; medians of {args.repeats} rounds")
    results = []
    for name in args.models.split(","):
        r = bench(name, args)
        results.append(r)
        print(f"\n{name} (vocabulary {r['n_vocab']}): a drafted token's cost / a plain step")
        for arm, v in r["cost_over_plain_step"].items():
            print(f"  {arm:>8}: {v:.3f}")
        print(f"speed / plain ({r['plain_tokens_per_s']:.1f} tokens/s)")
        for arm, v in r["speed_over_plain"].items():
            print(f"  {arm:>28}: {v:.3f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(), "args": vars(args), "results": results}, indent=1)
        )


if __name__ == "__main__":
    main()

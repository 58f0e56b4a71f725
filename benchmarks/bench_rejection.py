#!/usr/bin/env python3
"""Acceptance at temperature > 0: MTP drafts sampled from the head and verified by rejection
sampling (DraftConfig.sampled_drafts=True) against the head's top token verified by
sample-and-match (sampled_drafts=False, the default, as upstream's draft-mtp),
side by side in one run.

    python benchmarks/bench_rejection.py [--models soft-dense,soft-hybrid,hybrid,dense,qwen35-0.8b:Q4_K_M,glm-1.5b:Q4_K_M]
        [--temperatures 0.7,1.0] [--prompts 16] [--tokens 48] [--json out.json]

Models: the tiny ones and the shapes of llama_mtp.shapes, all with the decaying acceptance
profile (0.8, 0.65, 0.5, ... per draft position, greedy); their crafted logits are so peaked
that sampling at T <= 1 nearly always picks the greedy token, so both arms draw the same. The
"soft-dense" and "soft-hybrid" models (hidden size 64: the chi-square tests' kind, whose
sampled tokens spread) show the difference. Each cell generates --prompts
sequences at once (seeds 0..N-1, the same for both arms) of --tokens tokens with draft="mtp",
n_draft_max=3 and ignore_eos, on one LLM with 4 slots; acceptance = accepted / drafted tokens,
tokens/step = generated tokens per target step. Deterministic for a given build and model: no
timing is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_mtp import PROMPT, model_file  # noqa: E402

import llama_mtp  # noqa: E402
from llama_mtp.shapes import DECAYING_PROFILE  # noqa: E402
from llama_mtp.testing import tiny_mtp_model  # noqa: E402

os.environ["LLAMA_MTP_COST_CACHE"] = "0"


def cell(model: llama_mtp.Model, temperature: float, sampled: bool, prompts: int, tokens: int) -> dict[str, float]:
    with llama_mtp.LLM(model, draft="mtp", n_draft_max=3, n_parallel=4, n_ctx=4 * 512) as llm:
        gens = llm.generate(
            [PROMPT] * prompts, max_tokens=tokens, temperature=temperature, seed=0, ignore_eos=True, sampled_drafts=sampled
        )
        steps = sum(g.n_steps for g in gens)
        generated = sum(len(g.tokens) for g in gens)
        stats = llm.mtp_stats
        assert stats is not None
        return {
            "acceptance": stats.accepted_tokens / max(1, stats.draft_tokens),
            "tokens_per_step": generated / max(1, steps),
            "draft_tokens": float(stats.draft_tokens),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="soft-dense,soft-hybrid,hybrid,dense,qwen35-0.8b:Q4_K_M,glm-1.5b:Q4_K_M")
    ap.add_argument("--temperatures", default="0.7,1.0")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    llama_mtp.set_log_level("none")
    rows: list[dict[str, Any]] = []
    print("| model | T | acceptance: top token + sample-and-match | sampled + rejection sampling | tokens/step: before | after |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        soft = name.startswith("soft-")
        path = tiny_mtp_model(kind=name[5:], acceptance_profiles=[DECAYING_PROFILE]) if soft else model_file(name, "decaying")  # type: ignore[arg-type]
        model = llama_mtp.Model(str(path))
        for t in (float(x) for x in args.temperatures.split(",")):
            before = cell(model, t, False, args.prompts, args.tokens)
            after = cell(model, t, True, args.prompts, args.tokens)
            rows.append({"model": name, "temperature": t, "top_token": before, "sampled": after})
            print(
                f"| {name} | {t} | {before['acceptance']:.3f} | {after['acceptance']:.3f} | "
                f"{before['tokens_per_step']:.2f} | {after['tokens_per_step']:.2f} |"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "args": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

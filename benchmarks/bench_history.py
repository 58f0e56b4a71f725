#!/usr/bin/env python3
"""What the loop's shortcuts cost a head that needs its history (mtp_head="copy").

    python benchmarks/bench_history.py [--tokens 128] [--repeats 3] [--threads 2] [--json out.json]

The benchmark model is the tiny hybrid (D1024, L8, V4096, f16) with the copy head and a text of
period 24 (llama_mtp.testing, mtp_head="copy", cycle_length=24); the prompt holds one period, so
a draft context that holds the whole history drafts right at every step. Rows (one round runs
every arm once, alternating the order; medians of the rounds):

- fixed k=3: the draft context in step at every step (process() after each verify);
- auto: the adaptive length, first call (an empty cost cache for every arm);
- auto after plain: "auto" starting from a state that learned that drafting does not pay
  (DraftController.start_from), so it decodes plainly, skipping the draft context, then probes
  (after ~40 plain steps: give --tokens 256 to see them): what a draft after a plain stretch
  finds in the draft context;
- reuse (LLM): a second request that extends the first one's prompt and reply, its prefix
  taken from the slot's KV (draft side included);
- plain.

Columns: tokens/s, the MTP drafts' acceptance (accepted ÷ drafted tokens) and the drafted
tokens. Run it on two builds (an older one: its shortcut restarted the draft context empty) to
compare what each shortcut costs; every ratio printed is of arms of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

import llama_mtp
from llama_mtp.testing import tiny_model_spec, tiny_mtp_model

PERIOD = 24
MODEL = dict(kind="hybrid", n_embd=1024, n_layer=8, n_vocab=4096, mtp_head="copy", cycle_length=PERIOD)


def plain_prior() -> dict[str, Any]:
    c = llama_mtp.DraftController(llama_mtp.AUTO_DRAFT_MAX, plain_skips_process=True)
    for _ in range(300):
        k = c.next()
        c.observe(k, k, 0, t_draft=0.0005 * k, t_verify=0.010 + 0.002 * k, t_process=0.001 if k else 0.0)
    return c.state()


def mtp_row(stats: dict[str, dict[str, Any]], tokens_per_s: float) -> tuple[float, float, int]:
    m = stats.get("mtp", {})
    drafted = int(m.get("draft_tokens", 0))
    return tokens_per_s, (m.get("accepted_tokens", 0) / drafted if drafted else float("nan")), drafted


def run_arm(arm: str, model: llama_mtp.Model, prompt: list[int], n: int, threads: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as cache:  # every arm a first call: no cost cache from another arm
        os.environ["LLAMA_MTP_CACHE_DIR"] = cache
        return run_arm_in(arm, model, prompt, n, threads)


def run_arm_in(arm: str, model: llama_mtp.Model, prompt: list[int], n: int, threads: int) -> tuple[float, float, int]:
    common = dict(max_tokens=n, n_threads=threads, ignore_eos=True)
    if arm == "plain":
        g = llama_mtp.generate(model, prompt, draft="none", **common)  # type: ignore[arg-type]
        return g.tokens_per_s, float("nan"), 0
    if arm in ("fixed k=3", "auto"):
        g = llama_mtp.generate(model, prompt, draft="mtp", n_draft_max=3 if arm != "auto" else "adaptive", **common)  # type: ignore[arg-type]
        return mtp_row(g.drafter_stats, g.tokens_per_s)
    if arm == "auto after plain":
        s = llama_mtp.stream(model, prompt, draft="mtp", **common)  # type: ignore[arg-type]
        s.generator.start_controller_from(plain_prior())
        for _ in s:
            pass
        g = s.result
        assert isinstance(g, llama_mtp.Generation)
        return mtp_row(g.drafter_stats, g.tokens_per_s)
    llm = llama_mtp.LLM(model, n_ctx=1024, n_threads=threads)
    first = llm.generate(prompt, max_tokens=8, draft="mtp", n_draft_max=3, ignore_eos=True)
    spec = tiny_model_spec(**MODEL)  # type: ignore[arg-type]
    extended = prompt + first.tokens + spec.expected_tokens(prompt + first.tokens, 2)
    g = llm.generate(extended, draft="mtp", n_draft_max=3, **common)  # type: ignore[arg-type]
    llm.close()
    return mtp_row(g.drafter_stats, g.tokens_per_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    spec = tiny_model_spec(**MODEL)  # type: ignore[arg-type]
    model = llama_mtp.Model(tiny_mtp_model(**MODEL))  # type: ignore[arg-type]
    prompt = [1, spec.start]
    while len(prompt) < PERIOD + 2:
        prompt.append(spec.cycle[prompt[-1]])
    arms = ["plain", "fixed k=3", "auto", "auto after plain", "reuse (LLM)"]
    runs: dict[str, list[tuple[float, float, int]]] = {a: [] for a in arms}
    for r in range(args.repeats):
        for arm in arms if r % 2 == 0 else arms[::-1]:
            runs[arm].append(run_arm(arm, model, prompt, args.tokens, args.threads))
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")),
        platform.processor(),
    )
    print(f"CPU: {cpu}; {args.threads} threads; {args.tokens} tokens; medians of {args.repeats} rounds")
    print("| arm | tokens/s | ÷ plain | MTP acceptance | drafted tokens |")
    print("|---|---|---|---|---|")
    rows = {}
    for arm in arms:
        tps = statistics.median(x[0] for x in runs[arm])
        ratio = statistics.median(x[0] / p[0] for x, p in zip(runs[arm], runs["plain"], strict=True))
        acc = statistics.median(x[1] for x in runs[arm])
        drafted = statistics.median(x[2] for x in runs[arm])
        rows[arm] = dict(tokens_per_s=tps, over_plain=ratio, acceptance=acc, drafted=drafted)
        print(f"| {arm} | {tps:.1f} | {ratio:.2f} | {acc:.3f} | {drafted:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(dict(cpu=cpu, threads=args.threads, tokens=args.tokens, rows=rows), indent=1))


if __name__ == "__main__":
    main()

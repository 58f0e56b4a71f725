#!/usr/bin/env python3
"""A first "auto" call with and without a calibrated cost cache (`llama-mtp bench --calibrate`).

    python benchmarks/bench_calibrate.py [--tokens 128] [--repeats 3] [--threads 2]
        [--acceptance 0,0.6,1.0] [--models hybrid,dense]

For each tiny benchmark model (D1024, L8, V4096, f16; llama_mtp.testing) and acceptance, one
round runs, in alternating order: plain decoding, the best fixed length (given per acceptance
below, from benchmarks/README.md's cold matrix), "auto" with an empty cost cache (a first call:
warm-up and measurements included) and "auto" with a cache that a calibration just filled (the
calibration itself untimed; its seconds are printed). Ratios are medians of per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path

import llama_mtp
from llama_mtp._calibrate import calibrate
from llama_mtp.testing import tiny_mtp_model

PROMPT = "The story begins:"
BEST_FIXED = {0.0: 1, 0.3: 1, 0.6: 3, 0.9: 6, 1.0: 6}


def speed(model: llama_mtp.Model, n: int, threads: int, **kw: object) -> float:
    g = llama_mtp.generate(model, PROMPT, max_tokens=n, n_threads=threads, ignore_eos=True, **kw)  # type: ignore[call-overload]
    assert isinstance(g, llama_mtp.Generation)
    return g.tokens_per_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--acceptance", default="0,0.6,1.0")
    ap.add_argument("--models", default="hybrid,dense")
    args = ap.parse_args()
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")),
        platform.processor(),
    )
    print(f"CPU: {cpu}; {args.threads} threads; {args.tokens} tokens; medians of {args.repeats} rounds")
    print("| model | acceptance | plain t/s | best fixed t/s | auto cold ÷ best | auto calibrated ÷ best | calibration s |")
    print("|---|---|---|---|---|---|---|")
    for kind in args.models.split(","):
        for acceptance in (float(a) for a in args.acceptance.split(",")):
            model = llama_mtp.Model(
                tiny_mtp_model(
                    kind=kind,
                    n_embd=1024,
                    n_layer=8,
                    n_vocab=4096,  # type: ignore[arg-type]
                    acceptance=acceptance,
                )
            )
            k = BEST_FIXED.get(acceptance, 3)
            rows: dict[str, list[float]] = {"plain": [], "fixed": [], "cold": [], "calibrated": []}
            cal_seconds: list[float] = []
            for r in range(args.repeats):
                arms = ["plain", "fixed", "cold", "calibrated"]
                for arm in arms if r % 2 == 0 else arms[::-1]:
                    with tempfile.TemporaryDirectory() as cache:
                        os.environ["LLAMA_MTP_CACHE_DIR"] = cache
                        if arm == "plain":
                            rows[arm].append(speed(model, args.tokens, args.threads, draft="none"))
                        elif arm == "fixed":
                            rows[arm].append(speed(model, args.tokens, args.threads, n_draft_max=k, draft="mtp"))
                        elif arm == "cold":
                            rows[arm].append(speed(model, args.tokens, args.threads, draft="mtp"))
                        else:
                            c = calibrate(model, prompt=PROMPT, n_threads=args.threads)
                            cal_seconds.append(c.seconds)
                            rows[arm].append(speed(model, args.tokens, args.threads, draft="mtp"))
            best = [max(p, f) for p, f in zip(rows["plain"], rows["fixed"], strict=True)]
            cold = statistics.median(c / b for c, b in zip(rows["cold"], best, strict=True))
            cal = statistics.median(c / b for c, b in zip(rows["calibrated"], best, strict=True))
            print(
                f"| {kind} | {acceptance} | {statistics.median(rows['plain']):.1f} | "
                f"{statistics.median(rows['fixed']):.1f} (k={k}) | {cold:.3f} | {cal:.3f} | "
                f"{statistics.median(cal_seconds):.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The adaptive draft length (n_draft_max="adaptive") against plain decoding, every fixed length
and upstream's default, side by side in one run.

    python benchmarks/bench_auto.py [--tokens 256] [--repeats 5] [--models hybrid,dense,qwen35-0.8b:Q4_K_M]
        [--acceptance 0,0.3,0.6,0.9,1.0,decaying,regions] [--threads 1,2] [--fixed 1,2,3,4,5,6] [--busy]
        [--no-upstream] [--cache cold|warm] [--json out.json]

For each tiny model kind, crafted acceptance and thread count, one round runs every arm once
(the order alternates between rounds): plain decoding (`generate(draft="none")`), each fixed
n_draft_max, "auto", and upstream's `llama-speculative-simple --spec-type draft-mtp
--spec-draft-n-max 3` (its default length) built with upstream's own defaults
(benchmarks/build_upstream.py). All speeds are loop wall times of greedy decoding with the same
model, prompt and token count. The ratios are medians of per-round ratios, so a slow stretch
of the machine hits both sides of a ratio:

- auto/best: "auto" over max(plain, best fixed) of the same round (target >= 0.97);
- auto/plain: "auto" over plain decoding (target >= 0.97);
- auto/best fixed: "auto" over the best fixed length of the round (target >= 1.05 where the
  acceptance changes inside the text: --acceptance regions);
- auto/up3: "auto" over upstream's default (target >= 1.15 where upstream's default is slower
  than the best fixed length).

--cache: "cold" (the default) starts every "auto" run afresh, as a first call does; "warm"
gives it the on-disk cost cache (filled by one unmeasured run per cell), as every later call
of the same model and settings has it.

--busy adds rows with one core taken by a spinning process (plain, auto, the --busy-fixed
lengths and upstream; --busy-threads threads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_mtp import PROMPT, busy_core, interleave, model_file, upstream_mtp  # noqa: E402
from build_upstream import build, reference_config  # noqa: E402

import llama_mtp  # noqa: E402

UPSTREAM_DEFAULT = 3


def ours(model: llama_mtp.Model, n: int, threads: int, n_draft_max: int | str | None) -> tuple[float, str]:
    """(tokens/s of the loop, the lengths "auto" chose: "k:share" of its steps)."""
    g = llama_mtp.generate(
        model,
        PROMPT,
        max_tokens=n,
        draft="auto" if n_draft_max is not None else "none",
        n_draft_max=n_draft_max or 1,
        n_threads=threads,
        ignore_eos=True,
    )
    assert isinstance(g, llama_mtp.Generation)
    chosen = ""
    if n_draft_max == "adaptive":
        counts = Counter(int(k) for k in g.draft_lengths)
        chosen = " ".join(f"{k}:{c / len(g.draft_lengths):.0%}" for k, c in counts.most_common(2))
    return g.tokens_per_s, chosen


def cell(
    model: llama_mtp.Model, path: Path, bin_dir: Path | None, args: argparse.Namespace, threads: int, fixed: list[int]
) -> dict[str, Any]:
    arms: dict[str, Any] = {
        "plain": partial(ours, model, args.tokens, threads, None),
        "auto": partial(ours, model, args.tokens, threads, "adaptive"),
    }
    arms.update({f"k{k}": partial(ours, model, args.tokens, threads, k) for k in fixed})
    if bin_dir is not None:
        arms["up3"] = lambda: (upstream_mtp(bin_dir, path, args.tokens, threads, UPSTREAM_DEFAULT), "")
    # warm-up: page cache, clocks; with --cache warm, a whole run that fills the cost cache
    ours(model, args.tokens if args.cache == "warm" else 16, threads, "adaptive")
    res = interleave(args.repeats, arms)
    speed = {k: [s for s, _ in v] for k, v in res.items()}
    rounds = range(args.repeats)
    best_other = [max(speed["plain"][r], *(speed[f"k{k}"][r] for k in fixed)) for r in rounds]
    med = {k: statistics.median(v) for k, v in speed.items()}
    best_fixed = max(fixed, key=lambda k: med[f"k{k}"])
    row: dict[str, Any] = {
        "speeds": med,
        "best_fixed": best_fixed,
        "auto_over_best": statistics.median(speed["auto"][r] / best_other[r] for r in rounds),
        "auto_over_plain": statistics.median(speed["auto"][r] / speed["plain"][r] for r in rounds),
        "auto_over_best_fixed": statistics.median(speed["auto"][r] / max(speed[f"k{k}"][r] for k in fixed) for r in rounds),
        "auto_chose": Counter(c for _, c in res["auto"]).most_common(1)[0][0],
    }
    if "up3" in speed:
        row["auto_over_up3"] = statistics.median(speed["auto"][r] / speed["up3"][r] for r in rounds)
        row["up3_slower_than_best_fixed"] = med["up3"] < med[f"k{best_fixed}"]
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default="hybrid,dense")
    ap.add_argument("--acceptance", default="0,0.3,0.6,0.9,1.0")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--fixed", default="1,2,3,4,5,6")
    ap.add_argument("--busy", action="store_true", help="also with one core taken by another process")
    ap.add_argument("--busy-fixed", default="3", help="the fixed lengths of the busy rows")
    ap.add_argument("--busy-threads", default="2", help="the thread counts of the busy rows")
    ap.add_argument("--busy-acceptance", default=None, help="the acceptances of the busy rows (default: --acceptance)")
    ap.add_argument("--no-upstream", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--cache",
        choices=("cold", "warm"),
        default="cold",
        help='"auto" without the cost cache (a first call) or with it (later calls)',
    )
    args = ap.parse_args()
    if args.cache == "cold":
        os.environ["LLAMA_MTP_COST_CACHE"] = "0"
    else:
        os.environ["LLAMA_MTP_COST_CACHE"] = "1"
    llama_mtp.set_log_level("error")
    bin_dir = None if args.no_upstream else build()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.platform(),
        "tokens": args.tokens,
        "repeats": args.repeats,
        "cache": args.cache,
        "rows": [],
    }
    if bin_dir is not None:
        report["upstream_build"] = reference_config()
    for busy in [False, True] if args.busy else [False]:
        for kind in args.models.split(","):
            accs = (args.busy_acceptance or args.acceptance) if busy else args.acceptance
            for acc in accs.split(","):
                path = model_file(kind, acc)
                model = llama_mtp.Model(str(path))
                fixed = [int(k) for k in (args.busy_fixed if busy else args.fixed).split(",")]
                for threads in [int(t) for t in (args.busy_threads if busy else args.threads).split(",")]:
                    print(f"[{kind}, acceptance {acc}, {threads} threads{', busy' if busy else ''}]", file=sys.stderr)
                    with busy_core() if busy else nullcontext():
                        row = cell(model, path, bin_dir, args, threads, fixed)
                    row.update(kind=kind, acceptance=acc, threads=threads, busy=busy)
                    report["rows"].append(row)
                    print_row(row, file=sys.stderr)
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def print_row(r: dict[str, Any], file: Any = sys.stdout) -> None:
    s = r["speeds"]
    up = f"{s['up3']:.1f} | {r['auto_over_up3']:.2f}" if "up3" in s else "- | -"
    print(
        f"| {r['kind']} | {r['acceptance']} | {r['threads']}{' (busy)' if r['busy'] else ''} "
        f"| {s['plain']:.1f} | {s['k' + str(r['best_fixed'])]:.1f} (k={r['best_fixed']}) | {s['auto']:.1f} "
        f"| **{r['auto_over_best']:.3f}** | {r['auto_over_plain']:.3f} | {r['auto_over_best_fixed']:.3f} | {up} "
        f"| {r['auto_chose']} |",
        file=file,
    )


def print_table(report: dict[str, Any]) -> None:
    print(
        f'# n_draft_max="adaptive" ({report.get("cache", "cold")} cost cache), {report["date"]}, {report["machine"]}, '
        f"{report['tokens']} tokens, median of {report['repeats']} interleaved rounds"
    )
    if "upstream_build" in report:
        print(f"\nupstream: `{report['upstream_build']['configure']}`")
    print(
        "\n| model | acceptance | threads | plain t/s | best fixed t/s | auto t/s | auto/best | auto/plain "
        "| auto/best fixed | upstream n=3 t/s | auto/upstream | auto chose (share of steps) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in report["rows"]:
        print_row(r)


if __name__ == "__main__":
    sys.exit(main())

"""The auto thread count (n_threads=None, the default) against fixed counts and upstream's default
build, idle and with one core taken by another process, side by side in one run.

    python benchmarks/bench_threads.py [--tokens 64] [--repeats 3] [--models dense,hybrid]
        [--modes plain,1,2,3,4] [--threads 2] [--json out.json]

Every run is a fresh process (as upstream's are), greedy, the same model, prompt and token count:
- upstream: `llama-completion` (plain; its decode-only "eval time") or `llama-speculative-simple
  --spec-type draft-mtp --spec-draft-n-max N` (its loop), with `-t/-tb/-td/-tbd --threads`;
- ours, fixed: `LLM(n_threads=--threads)`; ours, auto: `LLM()` (n_threads=None: one thread per
  physical core at most, fewer while other processes keep cores busy); ours, 1 thread.
Rounds alternate the order of the arms; ratios are medians of per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from contextlib import nullcontext
from functools import partial
from pathlib import Path

from bench_mtp import bench_model, busy_core, interleave, paired_ratio, upstream_mtp, upstream_plain
from build_upstream import build

OURS = """
import json, sys, llama_mtp
llama_mtp.set_log_level("error")
path, mode, n, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
k = 0 if mode == "plain" else int(mode)
llm = llama_mtp.LLM(llama_mtp.Model(path), mtp=k > 0, n_draft_max=max(k, 1),
                    n_threads=None if threads == "auto" else int(threads))
g = llm.generate("The story begins:", max_tokens=n, ignore_eos=True)
print(json.dumps([g.tokens_per_s, list(llm.generator.thread_steps)]))
"""


def ours(path: Path, mode: str, n: int, threads: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", OURS, str(path), mode, str(n), threads],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])[0])


def upstream(bin_dir: Path, path: Path, mode: str, n: int, threads: int) -> float:
    if mode == "plain":
        return upstream_plain(bin_dir, path, "The story begins:", n, threads)
    return upstream_mtp(bin_dir, path, n, threads, int(mode))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="dense,hybrid")
    ap.add_argument("--modes", default="plain,1,2,3,4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--loads", default="idle,busy")
    ap.add_argument("--json")
    args = ap.parse_args()
    bin_dir = build()
    T, N = args.threads, args.tokens
    report: dict[str, dict[str, dict[str, float]]] = {}
    for load in args.loads.split(","):
        for name in args.models.split(","):
            path = bench_model(name)
            for mode in args.modes.split(","):
                arms = {
                    "upstream": partial(upstream, bin_dir, path, mode, N, T),
                    "fixed": partial(ours, path, mode, N, str(T)),
                    "auto": partial(ours, path, mode, N, "auto"),
                    "one": partial(ours, path, mode, N, "1"),
                }
                with busy_core() if load == "busy" else nullcontext():
                    res = interleave(args.repeats, arms)
                row = {k: statistics.median(v) for k, v in res.items()}
                row |= {
                    "auto/upstream": paired_ratio(res["auto"], res["upstream"]),
                    "fixed/upstream": paired_ratio(res["fixed"], res["upstream"]),
                    "auto/best": statistics.median(
                        a / max(f, o) for a, f, o in zip(res["auto"], res["fixed"], res["one"], strict=True)
                    ),
                }
                report.setdefault(load, {})[f"{name} {mode}"] = row
                print(f"{load} {name} {mode}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()), flush=True)
    print(
        f"\n| load | model | run | upstream -t {T} t/s | ours -t {T} t/s | ours auto t/s | ours 1 thread t/s "
        "| auto / upstream | fixed / upstream | auto / best of ours |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for load, rows in report.items():
        for key, r in rows.items():
            name, mode = key.split()
            run = "plain" if mode == "plain" else f"MTP n={mode}"
            print(
                f"| {load} | {name} | {run} | {r['upstream']:.1f} | {r['fixed']:.1f} | {r['auto']:.1f} | {r['one']:.1f} "
                f"| **{r['auto/upstream']:.2f}** | {r['fixed/upstream']:.2f} | {r['auto/best']:.2f} |"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

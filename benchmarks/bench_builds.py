#!/usr/bin/env python3
"""Two builds of llama-mtp side by side (before/after a change): the benchmark's plain and MTP
n=N cells, each build in fresh processes of its own interpreter, interleaved round by round.

    python benchmarks/bench_builds.py --build before=/venv-old/bin/python --build after=.venv/bin/python
        [--models hybrid,dense] [--tokens 128] [--rounds 5] [--threads 2] [--n-draft 3] [--json out.json]

The models are the tiny ones of bench_mtp.py (n_embd 1024, 8 layers, a vocabulary of 4096,
every draft accepted), written once by the interpreter running this script and read by both
builds. Each round starts one process per build (the order alternates between rounds); a
process warms up (16 tokens), then times `generate(draft="none")` and `generate(n_draft_max=N)`
(`Generation.tokens_per_s`: the loop's wall time, Python included) with greedy decoding and
ignore_eos. Printed: median tokens/s per build and cell, and the median of the per-round
ratios of each build to the first one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROMPT = "The story begins:"

CHILD = """
import json, sys, llama_mtp
path, prompt, n, threads, n_draft = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
model = llama_mtp.Model(path)
def run(**kw):
    return llama_mtp.generate(model, prompt, max_tokens=n, n_threads=threads, ignore_eos=True, **kw).tokens_per_s
run(draft="none")
print(json.dumps({"plain": run(draft="none"), "mtp": run(draft="auto", n_draft_max=n_draft)}))
"""


def run_child(python: str, model: Path, args: argparse.Namespace) -> dict[str, float]:
    out = subprocess.run(
        [python, "-c", CHILD, str(model), PROMPT, str(args.tokens), str(args.threads), str(args.n_draft)],
        check=True,
        capture_output=True,
        text=True,
        cwd="/",
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", action="append", required=True, help="NAME=PYTHON (an interpreter with llama_mtp)")
    ap.add_argument("--models", default="hybrid,dense")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-draft", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    builds = dict(b.split("=", 1) for b in args.build)
    if len(builds) < 2:
        ap.error("name two builds at least")
    from bench_mtp import bench_model  # the same model files as the benchmark's tables

    names = list(builds)
    results: dict[str, Any] = {}
    for model_name in args.models.split(","):
        path = bench_model(model_name)
        runs: dict[str, list[dict[str, float]]] = {b: [] for b in names}
        for r in range(args.rounds):
            for b in names if r % 2 == 0 else names[::-1]:
                runs[b].append(run_child(builds[b], path, args))
        results[model_name] = runs
        print(f"\n{model_name}: {args.tokens} tokens, {args.threads} threads, {args.rounds} rounds")
        print(f"{'build':12} {'plain t/s':>10} {'× ' + names[0]:>10} {f'mtp {args.n_draft} t/s':>10} {'× ' + names[0]:>10}")
        for b in names:
            cells = []
            for cell in ("plain", "mtp"):
                ratio = statistics.median(x[cell] / y[cell] for x, y in zip(runs[b], runs[names[0]], strict=True))
                cells.append(f"{statistics.median(x[cell] for x in runs[b]):10.1f} {ratio:10.3f}")
            print(f"{b:12} {' '.join(cells)}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""What the wheels' runtime CPU dispatch costs: static x86-64-v3 build vs CPU-variants build.

    python benchmarks/bench_cpu_variants.py --static-python A/bin/python \\
        --variants-python B/bin/python [--tokens 128] [--repeats 3] [--threads 1,2]

A and B are interpreters with llama-mtp installed: A built with `LLAMA_MTP_NATIVE=OFF pip install .` (one CPU
backend linked into _core, ggml's x86-64-v3 baseline), B built with
LLAMA_MTP_CPU_VARIANTS=ON (the published x86-64 wheels: shared ggml/llama libraries and every
CPU variant as a module, the best one picked at import). Runs, interleaved per round on the
demo model (plain decode and MTP, greedy):
  static    A
  auto      B, the variant ggml picks for this CPU
  haswell   B forced to the variant with A's instruction set: the cost of the shared
            libraries and the dispatch alone
  x64       B forced to the baseline variant: what a CPU without AVX gets
and `import llama_mtp` time. Ratios are against `static`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WORKER = """
import json, sys, time
t0 = time.perf_counter()
import llama_mtp
t_import = time.perf_counter() - t0
llama_mtp.set_log_level("none")
path, n, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = llama_mtp.Model(path)
out = {"variant": llama_mtp.build_info()["cpu_backend"]["variant"], "import_s": t_import}
llama_mtp.generate(model, "The story begins:", max_tokens=8, n_threads=threads)  # warm-up
for mode, mtp in (("plain", False), ("mtp", True)):
    g = llama_mtp.generate(model, "The story begins:", max_tokens=n, mtp=mtp, n_threads=threads, ignore_eos=True)
    out[mode] = g.tokens_per_s
print(json.dumps(out))
"""


def run(python: str, variant: str | None, model: Path, tokens: int, threads: int) -> dict[str, float | str]:
    env = dict(os.environ)
    env.pop("LLAMA_MTP_CPU_VARIANT", None)
    if variant:
        env["LLAMA_MTP_CPU_VARIANT"] = variant
    out = subprocess.run(
        [python, "-c", WORKER, str(model), str(tokens), str(threads)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--static-python", required=True)
    ap.add_argument("--variants-python", required=True)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from llama_mtp.cli import DEMO_MODEL
    from llama_mtp.testing import tiny_mtp_model

    model = tiny_mtp_model(**DEMO_MODEL)  # type: ignore[arg-type]

    configs = {
        "static": (args.static_python, None),
        "auto": (args.variants_python, None),
        "haswell": (args.variants_python, "haswell"),
        "x64": (args.variants_python, "x64"),
    }
    results: dict[str, dict[str, object]] = {}
    for threads in (int(t) for t in args.threads.split(",")):
        runs: dict[str, list[dict[str, float | str]]] = {name: [] for name in configs}
        for r in range(args.repeats):
            for name, (python, variant) in configs.items():  # interleaved: the host's drift hits all
                runs[name].append(run(python, variant, model, args.tokens, threads))
                print(
                    f"  threads={threads} round {r + 1}/{args.repeats} {name}: "
                    f"plain {runs[name][-1]['plain']:.1f} t/s, mtp {runs[name][-1]['mtp']:.1f} t/s",
                    file=sys.stderr,
                )
        med = {
            name: {k: statistics.median(float(x[k]) for x in rs) for k in ("plain", "mtp", "import_s")}
            for name, rs in runs.items()
        }
        print(f"\n## {threads} thread(s), {args.tokens} tokens, median of {args.repeats}")
        print("| build | CPU variant | plain t/s | plain / static | MTP t/s | MTP / static | import s |")
        print("|---|---|---|---|---|---|---|")
        for name, m in med.items():
            variant = runs[name][0]["variant"]
            print(
                f"| {name} | {variant} | {m['plain']:.1f} | {m['plain'] / med['static']['plain']:.3f} | "
                f"{m['mtp']:.1f} | {m['mtp'] / med['static']['mtp']:.3f} | {m['import_s']:.3f} |"
            )
        results[str(threads)] = {"median": med, "runs": runs}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Instructions per generated token, llama-mtp against upstream's default build, counted by
valgrind's callgrind: the same count for the same program and inputs whatever else the
machine is doing, so it separates a real gap from a noisy host.

    python benchmarks/bench_instructions.py [--models hybrid,dense] [--runs plain,mtp_1,mtp_3,mtp_6,auto]
        [--ours head=PYTHON,older=PYTHON ...] [--lengths 16,48]

Each program runs twice under callgrind (short and long generation, 1 thread, greedy, the
benchmark models of bench_mtp.py); instructions per token = difference of the totals /
difference of the tokens generated, so model loading, start-up and the prompt cancel out.
Ours is the whole Python process (interpreter, `llama_mtp.generate()` loop, sampling);
upstream is `llama-completion` (plain) or `llama-speculative-simple --spec-type draft-mtp`.
"auto" is ours with n_draft_max="adaptive" against upstream at its default length (3), from a cold
start (no cost cache: a first call); "auto_warm" the same with the cost cache filled by one
earlier run (a later call).
--ours names interpreters with other builds of llama-mtp installed (e.g. an older commit's,
to find which change costs instructions); each gets its own column. Every cell is a fixed
count: a per-step cost that grows shows here even when timing noise hides it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_mtp import PROMPT, bench_model  # noqa: E402
from build_upstream import build, reference_config  # noqa: E402

LENGTHS = [16, 48]  # --lengths
OURS = """
import os, sys
os.environ.setdefault("LLAMA_MTP_COST_CACHE", "0")  # "auto" starts afresh unless the run is auto_warm
import llama_mtp
llama_mtp.set_log_level("error")
model = llama_mtp.Model(sys.argv[1])
n_draft = sys.argv[3]
kw = dict(n_draft_max="adaptive") if n_draft == "auto" else dict(draft="auto" if int(n_draft) > 0 else "none", n_draft_max=max(int(n_draft), 1))
g = llama_mtp.generate(model, sys.argv[4], max_tokens=int(sys.argv[2]), n_threads=1, ignore_eos=True, **kw)
print("generated", len(g.tokens))
"""


def callgrind(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", *cmd],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=True,
            env=env,
        )
    m = re.search(r"Collected : (\d+)", out.stderr)
    if not m:
        raise RuntimeError("callgrind printed no total:\n" + out.stderr[-2000:])
    return int(m.group(1)), out.stdout + out.stderr


def upstream_tokens(text: str) -> int:
    m = re.search(r"n_predict = (\d+)", text)
    if m:
        return int(m.group(1))
    # the summary is logged from a background thread and is sometimes lost: count the words
    # of the echoed text instead (each word of the tiny models' vocabulary is one token)
    echoed = re.search(re.escape(PROMPT) + r"(.*?)(?:==\d+==|$)", text, re.S)
    if not echoed:
        raise RuntimeError("cannot tell how many tokens upstream generated")
    return len(echoed.group(1).split())


def measure(bin_dir: Path, model: Path, run: str, pythons: dict[str, str]) -> dict[str, Any]:
    ours_draft = "0" if run == "plain" else "auto" if run.startswith("auto") else run.split("_")[1]
    n_draft = 3 if run.startswith("auto") else int(ours_draft)

    def ours_with(python: str) -> Any:
        env = None
        if run == "auto_warm":  # the cost cache filled by one run outside callgrind, as a later call finds it
            env = {
                **os.environ,
                "LLAMA_MTP_COST_CACHE": "1",
                "LLAMA_MTP_CACHE_DIR": tempfile.mkdtemp(prefix="bench-instructions-costs-"),
            }
            subprocess.run([python, "-c", OURS, str(model), "128", "auto", PROMPT], env=env, check=True, capture_output=True)

        def ours(n: int) -> tuple[int, int]:
            total, text = callgrind([python, "-c", OURS, str(model), str(n), ours_draft, PROMPT], env)
            return total, int(re.search(r"generated (\d+)", text).group(1))  # type: ignore[union-attr]

        return ours

    def upstream(n: int) -> tuple[int, int]:
        if n_draft == 0:
            cmd = [
                str(bin_dir / "llama-completion"),
                "-m",
                str(model),
                "-p",
                PROMPT,
                "-n",
                str(n),
                "-t",
                "1",
                "-tb",
                "1",
                "-no-cnv",
                "--temp",
                "0",
                "-c",
                "2048",
                "--no-warmup",
                "--ignore-eos",
            ]
            total, _ = callgrind(cmd)
            return total, n
        cmd = [
            str(bin_dir / "llama-speculative-simple"),
            "-m",
            str(model),
            "-p",
            PROMPT,
            "-n",
            str(n),
            "-t",
            "1",
            "-tb",
            "1",
            "-td",
            "1",
            "-tbd",
            "1",
            "--spec-type",
            "draft-mtp",
            "--spec-draft-n-max",
            str(n_draft),
            "--temp",
            "0",
            "-c",
            "2048",
        ]
        total, text = callgrind(cmd)
        return total, upstream_tokens(text)

    sides = {"upstream": upstream, **{who: ours_with(py) for who, py in pythons.items()}}
    with ThreadPoolExecutor(max_workers=2) as pool:  # callgrind counts, so running two at once is fine
        jobs = {(who, n): pool.submit(fn, n) for who, fn in sides.items() for n in LENGTHS}
        res = {k: f.result() for k, f in jobs.items()}
    row: dict[str, Any] = {}
    for who in sides:
        (i0, t0), (i1, t1) = res[(who, LENGTHS[0])], res[(who, LENGTHS[1])]
        row[who] = (i1 - i0) / (t1 - t0)
    for who in pythons:  # > 1: ours executes fewer instructions per token
        row[f"upstream / {who}"] = row["upstream"] / row[who]
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="hybrid,dense")
    ap.add_argument("--runs", default="plain,mtp_1,mtp_3,mtp_6,auto")
    ap.add_argument(
        "--ours",
        default=f"ours={sys.executable}",
        help="NAME=PYTHON[,NAME=PYTHON...]: interpreters with a llama-mtp build to count",
    )
    ap.add_argument("--lengths", default="16,48", help="the short and the long generation (tokens)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    LENGTHS[:] = [int(n) for n in args.lengths.split(",")]
    pythons = dict(item.split("=", 1) for item in args.ours.split(","))
    bin_dir = build()
    report: dict[str, Any] = {"upstream_build": reference_config(), "rows": {}}
    print("| model | run | upstream Minstr/token | " + " | ".join(f"{w} Minstr/token | upstream / {w}" for w in pythons) + " |")
    print("|---|---|---|" + "---|---|" * len(pythons))
    for name in args.models.split(","):
        path = bench_model(name)
        for run in args.runs.split(","):
            row = measure(bin_dir, path, run, pythons)
            report["rows"][f"{name} {run}"] = row
            cells = " | ".join(f"{row[w] / 1e6:.2f} | {row[f'upstream / {w}']:.3f}" for w in pythons)
            print(f"| {name} | {run} | {row['upstream'] / 1e6:.2f} | {cells} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

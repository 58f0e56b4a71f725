#!/usr/bin/env python3
"""Fuzz llama_mtp's GGUF loading with the seeded mutator of tests/test_gguf_fuzz.py, with more
seeds: every mutated tiny model (dense and hybrid) must load or fail with a llama_mtp error.
Crashing, hanging and wrong-type inputs are saved (with the mutation that made them) to --out.

    python scripts/fuzz_gguf.py --seeds 100000 --jobs 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import llama_mtp
from llama_mtp import _fuzz, _fuzz_runner


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10000, help="number of cases (kinds alternate)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before a case counts as a hang")
    ap.add_argument("--out", type=Path, default=Path("fuzz-findings"), help="where findings are saved")
    args = ap.parse_args()
    llama_mtp.set_log_level("none")

    def save(finding: str, kind: str, seed: int, detail: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = _fuzz.write_case(kind, seed, Path(tmp), args.out / finding)
        print(f"{finding}: {kind} seed {seed} -> {path} {detail}", flush=True)

    start = time.monotonic()
    with tempfile.TemporaryDirectory() as cache:
        cases = list(_fuzz.corpus(args.seeds, args.first_seed))
        report = _fuzz_runner.run_cases(cases, Path(cache), jobs=args.jobs, timeout_s=args.timeout, on_finding=save)
    print(f"{report.summary()} in {time.monotonic() - start:.0f} s")
    return 1 if report.crashes or report.hangs or report.wrong_type else 0


if __name__ == "__main__":
    sys.exit(main())

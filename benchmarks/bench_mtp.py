#!/usr/bin/env python3
"""llama-mtp against upstream llama.cpp built with its own defaults, side by side in one run.

    python benchmarks/bench_mtp.py [--tokens 128] [--repeats 3] [--n-draft-max 1,2,3,4]
        [--threads 1,2] [--models hybrid,dense] [--no-busy] [--no-real]
        [--llama-cpp-python PYTHON] [--json out.json]

Every comparison is interleaved (upstream, ours, ours, upstream, ...) with the same model,
prompt, greedy decoding, token count and thread count; the tables give medians of the
speeds and the median of the per-round ratios (ours / theirs, each round one pair).

- plain: upstream `llama-completion -no-cnv` (its decode-only "eval time" counter) against the
  wall time of `llama_mtp.generate(draft="none")`'s loop, sampling and Python included (stricter
  for us), and against our decode-only counter (the like-for-like number).
- mtp_N: upstream `llama-speculative-simple --spec-type draft-mtp --spec-draft-n-max N`
  ("decoded ... t/s", its loop's wall time) against `generate(mtp=True, n_draft_max=N)`.
- busy: the same with one core taken by a spinning process during both runs.
- real: Gemma-3 270M Q4_K_M (benchmarks/real_model.py fetches it), plain decoding, and the
  greedy text of upstream and ours compared on three prompts.
- llama-cpp-python (when --llama-cpp-python names an interpreter that has it): its
  `create_completion` wall time on the same models and prompt, against ours.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's idle BLAS threads must not compete

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from build_upstream import build, reference_config  # noqa: E402
from real_model import gemma_270m  # noqa: E402

import llama_mtp  # noqa: E402
from llama_mtp.shapes import DECAYING_PROFILE, shaped_mtp_model  # noqa: E402
from llama_mtp.testing import tiny_mtp_model  # noqa: E402

PROMPT = "The story begins:"
REAL_PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village,"]
TINY_SHAPE = dict(n_embd=1024, n_layer=8, n_vocab=4096)  # the tiny models of benchmarks/README.md


# text whose acceptance changes inside a generation: stretches of REGION_TOKENS words the head
# drafts right, then as many it drafts wrong, in turn
REGIONS = dict(acceptance_profiles=[(1.0,), (0.0,)], region_tokens=64)


def model_file(kind: str, acceptance: str = "1.0") -> Path:
    """A tiny model ("hybrid", "dense") or a shape of llama_mtp.shapes ("qwen35-0.8b:Q4_K_M"); acceptance
    a flat value, "decaying" (llama_mtp.shapes.DECAYING_PROFILE) or "regions" (REGIONS)."""
    dial: dict[str, Any] = (
        dict(acceptance_profiles=[DECAYING_PROFILE])
        if acceptance == "decaying"
        else dict(REGIONS)
        if acceptance == "regions"
        else dict(acceptance=float(acceptance))
    )
    if ":" in kind:
        shape, quant = kind.split(":")
        return shaped_mtp_model(shape, quant=quant, keep_f16=True, **dial)
    return tiny_mtp_model(kind=kind, **TINY_SHAPE, **dial)  # type: ignore[arg-type]


def bench_model(name: str) -> Path:
    """The models of the tables: tiny ones accept every draft, shaped ones as real heads do
    (decaying); "NAME@ACCEPTANCE" (e.g. "hybrid@0") another acceptance (see model_file)."""
    if "@" in name:
        return model_file(*name.split("@", 1))
    return model_file(name, "decaying" if ":" in name else "1.0")


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def paired_ratio(ours: list[float], theirs: list[float]) -> float:
    """Median of the per-round ratios: each round ran both arms back to back, so a slow
    stretch of the host (other tenants) hits both sides of a pair, not one side's median."""
    return median([o / t for o, t in zip(ours, theirs, strict=True)])


def run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL, env=env)
    return out.stderr + out.stdout


# --- upstream ---------------------------------------------------------------------------


def run_and_parse(cmd: list[str], pattern: str, env: dict[str, str] | None = None) -> re.Match[str]:
    """Run an upstream program and find its summary line. Upstream logs from a background
    thread and now and then the summary never reaches the pipe (seen about once in 30 runs
    here), so such a run is repeated."""
    for _ in range(3):
        text = run(cmd, env)
        m = re.search(pattern, text)
        if m:
            return m
    raise RuntimeError(f"could not parse the output of {Path(cmd[0]).name}:\n" + text[-2000:])


def upstream_plain(bin_dir: Path, model: Path, prompt: str, n: int, threads: int) -> float:
    m = run_and_parse(
        [
            str(bin_dir / "llama-completion"),
            "-m",
            str(model),
            "-p",
            prompt,
            "-n",
            str(n),
            "-t",
            str(threads),
            "-tb",
            str(threads),
            "-no-cnv",
            "--temp",
            "0",
            "-c",
            "2048",
            "--no-warmup",
            "--ignore-eos",
        ],
        r"\beval time =\s*[\d.]+ ms /\s*(\d+) runs.*?([\d.]+) tokens per second",
    )
    return float(m.group(2))


def upstream_text(bin_dir: Path, model: Path, prompt: str, n: int, threads: int) -> str:
    out = subprocess.run(
        [
            str(bin_dir / "llama-completion"),
            "-m",
            str(model),
            "-p",
            prompt,
            "-n",
            str(n),
            "-t",
            str(threads),
            "-tb",
            str(threads),
            "-no-cnv",
            "--temp",
            "0",
            "-c",
            "2048",
            "--no-display-prompt",
        ],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    # completion.cpp ends its output with " [end of text]\n" at EOS, then "\n\n"
    return out.stdout.removesuffix("\n\n").removesuffix(" [end of text]\n")


def upstream_mtp(bin_dir: Path, model: Path, n: int, threads: int, n_draft: int) -> float:
    m = run_and_parse(
        [
            str(bin_dir / "llama-speculative-simple"),
            "-m",
            str(model),
            "-p",
            PROMPT,
            "-n",
            str(n),
            "-t",
            str(threads),
            "-tb",
            str(threads),
            "-td",
            str(threads),
            "-tbd",
            str(threads),
            "--spec-type",
            "draft-mtp",
            "--spec-draft-n-max",
            str(n_draft),
            "--temp",
            "0",
            "-c",
            "2048",
        ],
        r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds, speed:\s+([\d.]+) t/s",
    )
    return float(m.group(3))


# --- ours -------------------------------------------------------------------------------


def ours_plain(model: llama_mtp.Model, prompt: str, n: int, threads: int) -> tuple[float, float]:
    """(loop wall tokens/s, decode-only tokens/s from llama.cpp's counter in our context)."""
    s = llama_mtp.stream(model, prompt, max_tokens=n, draft="none", n_threads=threads, ignore_eos=True)
    for _ in s:
        pass
    assert isinstance(s.result, llama_mtp.Generation)
    perf = s._target.perf()  # noqa: SLF001
    return s.result.tokens_per_s, 1000.0 * perf["n_eval"] / perf["t_eval_ms"]


def ours_plain_wall(model: llama_mtp.Model, prompt: str, n: int, threads: int) -> float:
    return ours_plain(model, prompt, n, threads)[0]


def ours_plain_end_to_end(model: llama_mtp.Model, prompt: str, n: int, threads: int) -> float:
    """Tokens over the whole generate() call: contexts, prompt and loop, what a user sees."""
    t0 = time.perf_counter()
    g = llama_mtp.generate(model, prompt, max_tokens=n, draft="none", n_threads=threads, ignore_eos=True)
    assert isinstance(g, llama_mtp.Generation)
    return len(g.tokens) / (time.perf_counter() - t0)


FRESH_SCRIPT = """
import sys, llama_mtp
llama_mtp.set_log_level("error")
model = llama_mtp.Model(sys.argv[1])
g = llama_mtp.generate(model, sys.argv[2], max_tokens=int(sys.argv[3]), draft="none", n_threads=int(sys.argv[4]),
                       ignore_eos=True)
print(g.tokens_per_s)
"""


def ours_plain_fresh(path: Path, prompt: str, n: int, threads: int) -> float:
    """The loop's tokens/s of generate(draft="none") in a process of its own, as upstream's runs are."""
    return float(run([sys.executable, "-c", FRESH_SCRIPT, str(path), prompt, str(n), str(threads)]).split()[-1])


def ours_mtp(model: llama_mtp.Model, n: int, threads: int, n_draft: int) -> float:
    g = llama_mtp.generate(model, PROMPT, max_tokens=n, mtp=True, n_draft_max=n_draft, n_threads=threads, ignore_eos=True)
    assert isinstance(g, llama_mtp.Generation)
    return g.tokens_per_s


# --- harness ----------------------------------------------------------------------------


def interleave(repeats: int, arms: dict[str, Callable[[], Any]]) -> dict[str, list[Any]]:
    """Run every arm once per round, alternating the order between rounds (A B, B A, ...)."""
    results: dict[str, list[Any]] = {k: [] for k in arms}
    names = list(arms)
    for r in range(repeats):
        for k in names if r % 2 == 0 else reversed(names):
            results[k].append(arms[k]())
    return results


@contextmanager
def busy_core() -> Iterator[None]:
    """One core taken by another process for as long as the block runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it get scheduled before measuring (not synchronization)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def tiny_section(bin_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    drafts = [int(x) for x in args.n_draft_max.split(",")]
    N, R = args.tokens, args.repeats
    for name in args.models.split(","):
        path = bench_model(name)
        model = llama_mtp.Model(str(path))
        for T in [int(t) for t in args.threads.split(",")]:
            print(f"[{name}, {T} threads]", file=sys.stderr)
            ours_plain(model, PROMPT, 16, T)  # warm-up: page cache, clocks
            upstream_plain(bin_dir, path, PROMPT, 16, T)
            res = interleave(
                R, {"up": partial(upstream_plain, bin_dir, path, PROMPT, N, T), "ours": partial(ours_plain, model, PROMPT, N, T)}
            )
            up_plain = median(res["up"])
            walls, decodes = [w for w, _ in res["ours"]], [d for _, d in res["ours"]]
            ours_wall = median(walls)
            rows: dict[str, Any] = {
                "plain": {
                    "upstream": up_plain,
                    "ours": ours_wall,
                    "ours_decode_only": median(decodes),
                    "ratio": paired_ratio(walls, res["up"]),
                    "ratio_decode_only": paired_ratio(decodes, res["up"]),
                }
            }
            for k in drafts:
                res = interleave(
                    R, {"up": partial(upstream_mtp, bin_dir, path, N, T, k), "ours": partial(ours_mtp, model, N, T, k)}
                )
                u, o = median(res["up"]), median(res["ours"])
                rows[f"mtp_{k}"] = {
                    "upstream": u,
                    "ours": o,
                    "ratio": paired_ratio(res["ours"], res["up"]),
                    "speedup_upstream": u / up_plain,
                    "speedup_ours": o / ours_wall,
                }
                print(f"  n_draft_max={k}: ours {o:.1f} t/s, upstream {u:.1f} t/s", file=sys.stderr)
            out[f"{name}, {T} thread{'s' if T > 1 else ''}"] = rows
    return out


def busy_section(bin_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    N, R, T = args.tokens, args.repeats, 2
    for name in args.models.split(","):
        path = bench_model(name)
        model = llama_mtp.Model(str(path))
        print(f"[busy, {name}, {T} threads]", file=sys.stderr)
        with busy_core():
            res = interleave(
                R,
                {
                    "up": partial(upstream_plain, bin_dir, path, PROMPT, N, T),
                    "ours": partial(ours_plain_wall, model, PROMPT, N, T),
                    "ours_fresh": partial(ours_plain_fresh, path, PROMPT, N, T),
                    "up_mtp": partial(upstream_mtp, bin_dir, path, N, T, 3),
                    "ours_mtp": partial(ours_mtp, model, N, T, 3),
                },
            )
        med = {k: median(v) for k, v in res.items()}
        out[name] = {
            "plain": {"upstream": med["up"], "ours": med["ours"], "ratio": paired_ratio(res["ours"], res["up"])},
            "plain, a fresh process per run": {
                "upstream": med["up"],
                "ours": med["ours_fresh"],
                "ratio": paired_ratio(res["ours_fresh"], res["up"]),
            },
            "mtp_3": {"upstream": med["up_mtp"], "ours": med["ours_mtp"], "ratio": paired_ratio(res["ours_mtp"], res["up_mtp"])},
        }
    return out


def real_section(bin_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    path = gemma_270m()
    model = llama_mtp.Model(str(path))
    out: dict[str, Any] = {"model": path.name, "threads": {}, "greedy_text": []}
    N, R = args.tokens, args.repeats
    for T in [int(t) for t in args.threads.split(",")]:
        print(f"[real, {T} threads]", file=sys.stderr)
        ours_plain(model, PROMPT, 16, T)
        res = interleave(
            R,
            {
                "up": partial(upstream_plain, bin_dir, path, PROMPT, N, T),
                "ours": partial(ours_plain, model, PROMPT, N, T),
                "ours_e2e": partial(ours_plain_end_to_end, model, PROMPT, N, T),
            },
        )
        u = median(res["up"])
        walls, decodes = [x for x, _ in res["ours"]], [x for _, x in res["ours"]]
        out["threads"][T] = {
            "upstream": u,
            "ours": median(walls),
            "ours_decode_only": median(decodes),
            "ours_end_to_end": median(res["ours_e2e"]),
            "ratio": paired_ratio(walls, res["up"]),
            "ratio_decode_only": paired_ratio(decodes, res["up"]),
            "ratio_end_to_end": paired_ratio(res["ours_e2e"], res["up"]),
        }
    for prompt in REAL_PROMPTS:
        theirs = upstream_text(bin_dir, path, prompt, 64, 2)
        g = llama_mtp.generate(model, prompt, max_tokens=64, draft="none", n_threads=2)
        assert isinstance(g, llama_mtp.Generation)
        out["greedy_text"].append({"prompt": prompt, "identical": g.text == theirs, "upstream": theirs, "ours": g.text})
    return out


LCP_SCRIPT = r"""
import json, sys, time
import llama_cpp
path, prompt, n, threads, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
llm = llama_cpp.Llama(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
llm.create_completion(prompt, max_tokens=16, temperature=0.0)
rates = []
for _ in range(repeats):
    llm.reset()
    t0 = time.perf_counter()
    r = llm.create_completion(prompt, max_tokens=n, temperature=0.0, stop=[])
    rates.append(r["usage"]["completion_tokens"] / (time.perf_counter() - t0))
print(json.dumps(rates))
"""


def llama_cpp_python_section(python: str, args: argparse.Namespace, real: bool) -> dict[str, Any]:
    """llama-cpp-python's create_completion (wall time, prompt included) against our generate()
    (wall time of the whole call, prompt included), one interpreter each, alternating."""
    out: dict[str, Any] = {"version": run([python, "-c", "import llama_cpp; print(llama_cpp.__version__)"]).strip()}
    paths = {name: bench_model(name) for name in args.models.split(",")}
    if real:
        paths["gemma-3-270m-q4_k_m"] = gemma_270m()
    N, R = args.tokens, args.repeats
    for name, path in paths.items():
        model = llama_mtp.Model(str(path))
        for T in [int(t) for t in args.threads.split(",")]:
            print(f"[llama-cpp-python, {name}, {T} threads]", file=sys.stderr)

            def ours_call(model: llama_mtp.Model = model, T: int = T) -> float:
                t0 = time.perf_counter()
                g = llama_mtp.generate(model, PROMPT, max_tokens=N, draft="none", n_threads=T, ignore_eos=True)
                assert isinstance(g, llama_mtp.Generation)
                return len(g.tokens) / (time.perf_counter() - t0)

            def theirs_call(path: Path = path, T: int = T) -> float:
                rates = json.loads(
                    run([python, "-c", LCP_SCRIPT, str(path), PROMPT, str(N), str(T), "1"]).strip().splitlines()[-1]
                )
                return float(rates[0])

            res = interleave(R, {"llama_cpp_python": theirs_call, "ours": ours_call})
            u, o = median(res["llama_cpp_python"]), median(res["ours"])
            out[f"{name}, {T} thread{'s' if T > 1 else ''}"] = {
                "llama_cpp_python": u,
                "ours": o,
                "ratio": paired_ratio(res["ours"], res["llama_cpp_python"]),
            }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-draft-max", default="1,2,3,4")
    ap.add_argument("--threads", default="1,2", help="thread counts to compare at (comma separated)")
    ap.add_argument(
        "--models",
        default="hybrid,dense",
        help='tiny kinds (hybrid, dense) and shapes of llama_mtp.shapes ("qwen35-0.8b:Q4_K_M")',
    )
    ap.add_argument("--no-tiny", action="store_true")
    ap.add_argument("--no-busy", action="store_true")
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--llama-cpp-python", default=None, help="an interpreter with llama-cpp-python installed")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    llama_mtp.set_log_level("error")
    print("building upstream's reference programs with its default configuration (cached)...", file=sys.stderr)
    bin_dir = build()
    info = llama_mtp.build_info()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.platform(),
        "tokens": args.tokens,
        "repeats": args.repeats,
        "upstream_build": reference_config(),
        "ours_build": {k: info[k] for k in ("version", "native", "openmp", "cpu_variant", "compiler")},
    }
    if not args.no_tiny:
        report["tiny"] = tiny_section(bin_dir, args)
    if not args.no_busy:
        report["busy"] = busy_section(bin_dir, args)
    if not args.no_real:
        report["real"] = real_section(bin_dir, args)
    if args.llama_cpp_python:
        report["llama_cpp_python"] = llama_cpp_python_section(args.llama_cpp_python, args, not args.no_real)
    print_tables(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def print_tables(r: dict[str, Any]) -> None:
    ub = r["upstream_build"]
    print(
        f"# llama-mtp {r['ours_build']['version']} vs upstream, {r['date']}, {r['machine']}, "
        f"{r['tokens']} tokens, median of {r['repeats']}"
    )
    print(f"\nupstream: `{ub['configure']}` -> {ub['cache']}; ggml-cpu flags `{ub['ggml_cpu_flags']}`")
    print(f"ours: {r['ours_build']}")
    for name, rows in r.get("tiny", {}).items():
        print(f"\n## {name}")
        print("| run | upstream t/s | ours t/s | ours/upstream | upstream speedup | our speedup |")
        print("|---|---|---|---|---|---|")
        for key, row in rows.items():
            if key == "plain":
                print(
                    f"| plain | {row['upstream']:.1f} | {row['ours']:.1f} (decode-only {row['ours_decode_only']:.1f}) "
                    f"| {row['ratio']:.3f} ({row['ratio_decode_only']:.3f}) | | |"
                )
            else:
                print(
                    f"| {key} | {row['upstream']:.1f} | {row['ours']:.1f} | {row['ratio']:.3f} "
                    f"| {row['speedup_upstream']:.2f}x | {row['speedup_ours']:.2f}x |"
                )
    if "busy" in r:
        print("\n## busy machine (one core spinning), 2 threads")
        print("| model | run | upstream t/s | ours t/s | ours/upstream |")
        print("|---|---|---|---|---|")
        for name, rows in r["busy"].items():
            for key, row in rows.items():
                print(f"| {name} | {key} | {row['upstream']:.1f} | {row['ours']:.1f} | {row['ratio']:.3f} |")
    if "real" in r:
        print(f"\n## real model: {r['real']['model']}, plain decoding")
        print(
            "| threads | upstream t/s (decode-only) | ours t/s (loop wall) | ours decode-only | ours generate() end to end "
            "| ours/upstream (loop wall) | (decode-only) | (end to end) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for T, row in r["real"]["threads"].items():
            print(
                f"| {T} | {row['upstream']:.1f} | {row['ours']:.1f} | {row['ours_decode_only']:.1f} "
                f"| {row['ours_end_to_end']:.1f} | {row['ratio']:.3f} | {row['ratio_decode_only']:.3f} "
                f"| {row['ratio_end_to_end']:.3f} |"
            )
        same = sum(t["identical"] for t in r["real"]["greedy_text"])
        print(f"\ngreedy text identical to upstream on {same} of {len(r['real']['greedy_text'])} prompts")
    if "llama_cpp_python" in r:
        lcp = r["llama_cpp_python"]
        print(f"\n## llama-cpp-python {lcp['version']}, plain decoding (wall time of one call each)")
        print("| model | llama-cpp-python t/s | ours t/s | ours/llama-cpp-python |")
        print("|---|---|---|---|")
        for name, row in lcp.items():
            if name != "version":
                print(f"| {name} | {row['llama_cpp_python']:.1f} | {row['ours']:.1f} | {row['ratio']:.3f} |")


if __name__ == "__main__":
    sys.exit(main())

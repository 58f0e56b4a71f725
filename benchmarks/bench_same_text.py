#!/usr/bin/env python3
"""Plain greedy text: ours against upstream's llama-completion on Gemma-3 270M Q4_K_M.

For each prompt (several languages, code, JSON) and thread count: `llama_mtp.generate(model,
prompt, max_tokens=N, draft="none", n_threads=T, ignore_eos=True)` against `llama-completion -m
MODEL -p PROMPT -n N --temp 0 -t T -tb T -no-cnv --no-warmup --no-display-prompt --ignore-eos`,
built from the same pinned tree with upstream's CMake defaults (build_upstream.py). Prints, per
prompt, the first divergent token of our text (counted in our tokens) or "same", and the count.

Upstream's default build is -march=native; on a VM whose cpuid advertises AMX but traps it,
that build dies with SIGILL on Gemma's first quantized matmul, and the script then uses the
same build with -mno-amx-* (build_upstream.py --no-amx; our own native build has those flags).

    python benchmarks/bench_same_text.py [--tokens 64] [--threads 1,2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import llama_mtp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build_upstream  # noqa: E402
from real_model import gemma_270m  # noqa: E402

PROMPTS = {
    "en prose": "The history of the printing press begins",
    "en story": "Once upon a time, in a small village by the sea,",
    "en q&a": "Q: Why is the sky blue?\nA:",
    "en list": "Five tips for a good night's sleep:\n1.",
    "fr": "Les montagnes les plus hautes du monde",
    "de": "Die Geschichte der Stadt Berlin beginnt",
    "es": "La historia de la ciudad de México",
    "it": "La cucina italiana è famosa in tutto il mondo perché",
    "pt": "O Brasil é o maior país da América do Sul e",
    "ru": "Москва — столица России, и",
    "ja": "東京は日本の首都で",
    "zh": "中国的长城是",
    "ar": "القاهرة هي عاصمة مصر، وهي",
    "py fib": 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""',
    "py softmax": "import numpy as np\n\ndef softmax(x):",
    "c": "#include <stdio.h>\n\nint main(void) {\n",
    "js": "function debounce(fn, wait) {\n",
    "rust": "fn main() {\n    let v: Vec<i32> =",
    "sql": "-- the ten customers with the most orders\nSELECT",
    "json person": '{"name": "Alice", "age": 30, "hobbies": [',
    "json config": '{\n  "server": {\n    "host": "localhost",\n    "port":',
    "json list": '[{"id": 1, "title": "Buy milk", "done": false}, {"id": 2,',
    "markdown": "# Installation\n\nTo install the package, run",
    "math": "The derivative of x^2 + 3x is",
}


def upstream_text(binary: Path, model: Path, prompt: str, n: int, threads: int) -> str:
    out = subprocess.run(
        [
            str(binary),
            "-m",
            str(model),
            "-p",
            prompt,
            "-n",
            str(n),
            "--temp",
            "0",
            "-t",
            str(threads),
            "-tb",
            str(threads),
            "-no-cnv",
            "--no-warmup",
            "--no-display-prompt",
            "--ignore-eos",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if out.returncode != 0:
        raise subprocess.CalledProcessError(out.returncode, binary.name, out.stdout, out.stderr)
    return out.stdout


def reference(model: Path) -> tuple[Path, str]:
    """llama-completion from upstream's default build, or its -mno-amx build where AMX traps."""

    def command(build_dir: Path, no_amx: bool) -> str:
        return " ".join(build_upstream.configure_command(build_dir, no_amx)).replace(str(build_upstream.ROOT) + "/", "")

    binary = build_upstream.build() / "llama-completion"
    try:
        upstream_text(binary, model, "Hello", 2, 1)
        return binary, command(build_upstream.DEFAULT_DIR, False)
    except subprocess.CalledProcessError as e:
        if e.returncode not in (-4, 132):  # SIGILL
            raise
    binary = build_upstream.build(build_upstream.NO_AMX_DIR, no_amx=True) / "llama-completion"
    return binary, command(
        build_upstream.NO_AMX_DIR, True
    ) + "  (the default build dies with SIGILL here: AMX advertised, trapped)"


def first_divergence(model: llama_mtp.Model, ours: list[int], text: str) -> int | None:
    """Index of our first token whose text is not where upstream's text has it; None: same."""
    so_far = ""
    for i in range(len(ours)):
        so_far = model.detokenize(ours[: i + 1])
        if not text.startswith(so_far):
            return i
    rest = text[len(so_far) :]
    return None if not rest.strip() else len(ours)  # upstream printed more than our tokens hold


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    llama_mtp.set_log_level("none")
    path = gemma_270m()
    binary, build = reference(path)
    model = llama_mtp.Model(path)
    threads = [int(t) for t in args.threads.split(",")]
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    print(f"CPU: {cpu}\nreference: {build}\nGemma-3 270M Q4_K_M, {args.tokens} greedy tokens per prompt")
    rows: dict[str, dict[int, int | None]] = {}
    for name, prompt in PROMPTS.items():
        rows[name] = {}
        for t in threads:
            g = llama_mtp.generate(model, prompt, max_tokens=args.tokens, draft="none", n_threads=t, ignore_eos=True)
            rows[name][t] = first_divergence(model, list(g.tokens), upstream_text(binary, path, prompt, args.tokens, t))
    print("| prompt | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads) + " |")
    print("|---|" + "---|" * len(threads))
    for name, by_t in rows.items():
        print(f"| {name} | " + " | ".join("same" if d is None else f"token {d}" for d in by_t.values()) + " |")
    same = {t: sum(rows[n][t] is None for n in rows) for t in threads}
    print("identical: " + ", ".join(f"{same[t]}/{len(rows)} at {t} thread(s)" for t in threads))
    if args.json:
        report: dict[str, Any] = {"cpu": cpu, "reference": build, "tokens": args.tokens, "rows": rows}
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if all(same[t] == len(rows) for t in threads) else 1


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Drafts from the text itself (n-gram) beside MTP, on workloads made of text that ships with
Python, against upstream's llama-speculative-simple with the same n-gram drafters.

    python benchmarks/bench_drafts.py [--tokens 256] [--rounds 3] [--models gemma,hybrid]
        [--workloads code_edit,quote,json,story] [--json out.json]

Models: Gemma-3 270M Q4_K_M (real weights, no NextN layers; benchmarks/real_model.py fetches
it) and the synthesized MTP models of benchmarks/README.md ("hybrid": the tiny qwen35-shaped
D1024 model, "qwen35-0.8b:Q4_K_M": the shaped one), their MTP heads accepting as real ones do
(llama_mtp.shapes.DECAYING_PROFILE).

Workloads (Gemma, its turn format): code_edit ("rewrite this function with a docstring" over
textwrap.dedent's source), quote ("answer by quoting" over json's module documentation), json
(extract a JSON list from a record built with unicodedata), story (free prose). The synthesized
models continue one fixed cycle of words whatever the prompt says: their copy-heavy workload
("echo") puts that continuation in the prompt, as an edit puts the file there; "story" does not.

Arms, every one greedy, interleaved round by round (the order reversed every other round):
ours plain (draft="none"); each n-gram drafter with whole drafts (draft="ngram", a fixed
n_draft_max: upstream's behaviour); draft="auto" (the controller picks plain, MTP k or an n-gram
length step by step); on MTP models also MTP alone, fixed 3 and "auto". Upstream (built with its
CMake defaults by build_upstream.py): llama-completion (plain), llama-speculative-simple with
each n-gram type at its defaults and at ours (--spec-ngram-*-size-n 3, size-m 16), and on MTP
models draft-mtp 3 and the chain "ngram-simple,draft-mtp". Quantized models load without weight
repacking on both sides (repack=False, --no-repack): upstream's native build dies with SIGILL in
the repacked kernels on this machine kind; two more arms: "auto repack", ours with repacking, and
"auto exact", ours with batch-invariant verification (exact=True).

Speeds are decode-only (ours: Generation.tokens_per_s; upstream: "decoded ... t/s" and
llama-completion's eval time); "e2e" is ours end to end (prompt included). Ratios are medians of
per-round ratios. Every arm's greedy tokens are compared with ours plain.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import pydoc
import statistics
import sys
import textwrap
import time
import unicodedata
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_mtp import bench_model, interleave, run_and_parse  # noqa: E402
from build_upstream import build, reference_config  # noqa: E402
from real_model import gemma_270m  # noqa: E402

import llama_mtp  # noqa: E402

SEED = 1
STORY_TEMPERATURE = 0.8
KINDS = ("ngram-simple", "ngram-map-k", "ngram-map-k4v", "ngram-mod")
# our settings (llama_mtp.drafters: NGRAM_SIZE_N, NGRAM_DRAFT_MAX) in upstream's flags
OURS_NGRAM = (
    "--spec-ngram-simple-size-n",
    "6",
    "--spec-ngram-simple-size-m",
    "32",
    "--spec-ngram-map-k-size-n",
    "6",
    "--spec-ngram-map-k-size-m",
    "32",
    "--spec-ngram-map-k4v-size-n",
    "6",
    "--spec-ngram-map-k4v-size-m",
    "32",
    "--spec-ngram-mod-n-match",
    "16",
    "--spec-ngram-mod-n-min",
    "1",
    "--spec-ngram-mod-n-max",
    "32",
)


def gemma_turn(user: str) -> str:
    """Gemma's chat format (its GGUF carries no template)."""
    return f"<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model\n"


def text_workloads() -> dict[str, tuple[str, float]]:
    """name -> (prompt, temperature)."""
    source = inspect.getsource(textwrap.dedent)
    doc = pydoc.getdoc(json)
    chars = "Python 3!"
    record = "\n".join(
        f"character {c!r}: name {unicodedata.name(c)}, category {unicodedata.category(c)}, code point U+{ord(c):04X}"
        for c in chars
    )
    return {
        "code_edit": (
            gemma_turn(
                f"Here is a Python function:\n\n```python\n{source}```\n\nRewrite it with a short "
                "docstring added at the top. Keep the code exactly the same."
            ),
            0.0,
        ),
        "quote": (
            gemma_turn(
                f"{doc}\n\nFrom the text above, quote the example that encodes basic Python object hierarchies, word for word."
            ),
            0.0,
        ),
        "json": (
            gemma_turn(
                f"{record}\n\nWrite these records as a JSON list of objects with the keys character, "
                "name, category and code_point."
            ),
            0.0,
        ),
        # free prose: greedy decoding of a 270M base model falls into loops (which n-gram drafts
        # catch), so the story is sampled, as prose is
        "story": ("Once upon a time, a lighthouse keeper found a message in a bottle.", STORY_TEMPERATURE),
    }


def synthetic_workloads(model: llama_mtp.Model, n: int) -> dict[str, tuple[list[int], float]]:
    story = list(model.tokenize("The story begins:", add_special=True))
    g = llama_mtp.generate(model, story, max_tokens=n, draft="none", ignore_eos=True, n_threads=2)
    assert isinstance(g, llama_mtp.Generation)
    echo = story + g.tokens + list(model.tokenize("\nOnce more:", add_special=False))
    return {"echo": (echo, 0.0), "story": (story, 0.0)}


def ours(llm: llama_mtp.LLM, prompt: list[int], n: int, temperature: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    g = llm.generate(prompt, max_tokens=n, ignore_eos=True, temperature=temperature, seed=SEED)
    wall = time.perf_counter() - t0
    assert isinstance(g, llama_mtp.Generation)
    return {
        "speed": g.tokens_per_s,
        "e2e": len(g.tokens) / wall,
        "tokens": g.tokens,
        "drafters": dict(Counter(g.step_drafters)),
        "ngram_acceptance": g.drafter_stats.get("ngram", {}).get("acceptance_rate", 0.0),
    }


def sampling(temperature: float) -> list[str]:
    """Upstream's sampler as ours samples. Greedy: --temp 0 with upstream's defaults (the cheapest
    greedy path there). Sampled: temperature alone (upstream's defaults add top-k 40, top-p 0.95
    and min-p 0.05, which make a sampled story repeat itself more, and pay n-gram drafts)."""
    if temperature == 0:
        return ["--temp", "0"]
    return ["--temp", str(temperature), "--seed", str(SEED), "--top-k", "0", "--top-p", "1.0", "--min-p", "0.0"]


def upstream_spec(
    bin_dir: Path, path: Path, prompt: str, n: int, temperature: float, types: str, extra: tuple[str, ...], no_repack: bool
) -> dict[str, Any]:
    cmd = [
        str(bin_dir / "llama-speculative-simple"),
        "-m",
        str(path),
        "-p",
        prompt,
        "-n",
        str(n),
        "-t",
        "2",
        "-tb",
        "2",
        "--spec-type",
        types,
        *sampling(temperature),
        "-c",
        "4096",
        "--ignore-eos",
        *extra,
    ]
    if "draft-mtp" in types:
        cmd += ["-td", "2", "-tbd", "2", "--spec-draft-n-max", "3"]
    if no_repack:
        cmd.append("--no-repack")
    m = run_and_parse(cmd, r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds, speed:\s+([\d.]+) t/s")
    return {"speed": float(m.group(3))}


def upstream_completion(bin_dir: Path, path: Path, prompt: str, n: int, temperature: float, no_repack: bool) -> dict[str, Any]:
    # bench_mtp.upstream_plain, with the sampling of the workload and --no-repack where needed
    m = run_and_parse(
        [
            str(bin_dir / "llama-completion"),
            "-m",
            str(path),
            "-p",
            prompt,
            "-n",
            str(n),
            "-t",
            "2",
            "-tb",
            "2",
            "-no-cnv",
            *sampling(temperature),
            "-c",
            "4096",
            "--no-warmup",
            "--ignore-eos",
            *(["--no-repack"] if no_repack else []),
        ],
        r"\beval time =\s*[\d.]+ ms /\s*(\d+) runs.*?([\d.]+) tokens per second",
    )
    return {"speed": float(m.group(2))}


def section(name: str, path: Path, bin_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    quantized = name == "gemma" or ":" in name
    model = llama_mtp.Model(str(path), repack=not quantized)
    n = args.tokens
    if model.has_mtp:
        workloads: dict[str, Any] = synthetic_workloads(model, n)
    else:
        workloads = {k: v for k, v in text_workloads().items() if k in args.workloads.split(",")}
    common = dict(n_ctx=4096, n_threads=2)
    llms = {"plain": llama_mtp.LLM(model, draft="none", **common)}
    for kind in KINDS:
        llms[kind] = llama_mtp.LLM(model, draft="ngram", ngram=kind, n_draft_max=3, **common)
    llms["auto"] = llama_mtp.LLM(model, **common)
    if model.has_mtp:
        llms["mtp3"] = llama_mtp.LLM(model, draft="mtp", n_draft_max=3, **common)
        llms["mtp_auto"] = llama_mtp.LLM(model, draft="mtp", **common)
    if quantized:
        llms["auto repack"] = llama_mtp.LLM(llama_mtp.Model(str(path)), **common)
        # batch-invariant verify rows (README, "Exactness"): greedy text that of plain decoding
        llms["auto exact"] = llama_mtp.LLM(model, exact=True, **common)
    out: dict[str, Any] = {"model": path.name, "workloads": {}}
    for wl, (prompt, temp) in workloads.items():
        print(f"[{name} / {wl}]", file=sys.stderr)
        tokens = model.tokenize(prompt, add_special=True, parse_special=True) if isinstance(prompt, str) else prompt
        text = prompt if isinstance(prompt, str) else model.detokenize(tokens[1:])
        arms: dict[str, Any] = {k: partial(ours, llm, tokens, n, temp) for k, llm in llms.items()}
        arms["up plain"] = partial(upstream_completion, bin_dir, path, text, n, temp, quantized)
        if model.has_mtp:
            arms["up mtp3"] = partial(upstream_spec, bin_dir, path, text, n, temp, "draft-mtp", (), quantized)
            arms["up ngram-mod,mtp3"] = partial(
                upstream_spec, bin_dir, path, text, n, temp, "ngram-mod,draft-mtp", OURS_NGRAM, quantized
            )
        else:
            for kind in KINDS:
                arms[f"up {kind}"] = partial(upstream_spec, bin_dir, path, text, n, temp, kind, (), quantized)
                arms[f"up {kind} (ours)"] = partial(upstream_spec, bin_dir, path, text, n, temp, kind, OURS_NGRAM, quantized)
        for llm in llms.values():  # warm-up: page cache, and what "auto" learns on a first call
            llm.generate(tokens, max_tokens=16, ignore_eos=True)
        res = interleave(args.rounds, arms)
        speed = {k: [r["speed"] for r in v] for k, v in res.items()}
        rounds = range(args.rounds)
        ref = res["plain"][0]["tokens"] if temp == 0 else None  # sampled text differs by arm
        ups = [k for k in speed if k.startswith("up ") and k != "up plain"]
        row: dict[str, Any] = {
            "speed": {k: statistics.median(v) for k, v in speed.items()},
            "e2e": {k: statistics.median(r["e2e"] for r in v) for k, v in res.items() if not k.startswith("up ")},
            "over_plain": {k: statistics.median(speed[k][r] / speed["plain"][r] for r in rounds) for k in speed},
            "identical_to_plain": {
                k: ref is None or all(r["tokens"] == ref for r in v) for k, v in res.items() if not k.startswith("up ")
            },
            "temperature": temp,
            "auto_drafters": res["auto"][-1]["drafters"],
            "auto_ngram_acceptance": res["auto"][-1]["ngram_acceptance"],
        }
        if ups:
            best = max(ups, key=lambda k: row["speed"][k])
            row["best_upstream"] = best
            row["auto_over_best_upstream"] = statistics.median(speed["auto"][r] / speed[best][r] for r in rounds)
        if model.has_mtp:
            row["auto_over_mtp_auto"] = statistics.median(speed["auto"][r] / speed["mtp_auto"][r] for r in rounds)
        out["workloads"][wl] = row
        print_row(name, wl, row)
    for llm in llms.values():
        llm.close()
    return out


def print_row(model: str, wl: str, row: dict[str, Any]) -> None:
    cells = "  ".join(f"{k} {v:.1f} ({row['over_plain'][k]:.2f}x)" for k, v in row["speed"].items())
    print(f"{model:>8} {wl:>9}: {cells}")
    extra = {k: row[k] for k in ("auto_over_best_upstream", "best_upstream", "auto_over_mtp_auto") if k in row}
    print(
        f"{'':>19} auto chose {row['auto_drafters']} (n-gram acceptance {row['auto_ngram_acceptance']:.2f}); "
        f"{extra}; identical to plain: {all(row['identical_to_plain'].values())} "
        f"{[k for k, v in row['identical_to_plain'].items() if not v]}"
    )
    sys.stdout.flush()


def markdown(report: dict[str, Any]) -> str:
    """The tables of benchmarks/README.md: decode tokens/s and the ratio to ours plain per arm."""
    lines = []
    for name, section_ in report["models"].items():
        wls = section_["workloads"]
        arms = list(next(iter(wls.values()))["speed"])
        lines += [f"\n{name} ({section_['model']})\n", "| arm | " + " | ".join(wls) + " |", "|---|" + "---|" * len(wls)]
        for arm in arms:
            cells = []
            for row in wls.values():
                same = "" if row["identical_to_plain"].get(arm, True) else " ≠"
                cells.append(f"{row['speed'][arm]:.1f} ({row['over_plain'][arm]:.2f}×){same}")
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        for key in ("auto_over_best_upstream", "auto_over_mtp_auto"):
            if all(key in row for row in wls.values()):
                best = " | ".join(
                    f"{row[key]:.2f}" + (f" ({row['best_upstream']})" if key.endswith("upstream") else "") for row in wls.values()
                )
                lines.append(f"| **{key}** | {best} |")
        chose = " | ".join(str(row["auto_drafters"]) for row in wls.values())
        lines.append(f"| auto's steps (last round) | {chose} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default="gemma,hybrid")
    ap.add_argument("--workloads", default="code_edit,quote,json,story")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    bin_dir = build()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "upstream": reference_config(),
        "tokens": args.tokens,
        "rounds": args.rounds,
        "models": {},
    }
    for name in args.models.split(","):
        path = gemma_270m() if name == "gemma" else bench_model(name if "@" in name else f"{name}@decaying")
        report["models"][name] = section(name, path, bin_dir, args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

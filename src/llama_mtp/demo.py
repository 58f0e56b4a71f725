"""`llama-mtp demo`: plain decoding against MTP on a synthesized model shaped like a real one.

The default model has Qwen3.5-0.8B's proportions (a 248k vocabulary, hidden size 1024, 24
layers), quantized to Q8_0 (DEMO_QUANT), and an MTP head whose acceptance falls with the draft position
(0.8, 0.65, 0.5, ...), as real heads' does (`llama_mtp.shapes`). It is written once and cached.

Whether MTP pays is a property of model x machine: a verify batch of k + 1 rows must cost less
than the tokens it yields. Where it cannot pay, the adaptive length decodes plainly, and the demo says so
and shows the costs it measured, instead of printing a slowdown as a result.

The MTP head drafts from a draft vocabulary (`DraftConfig.draft_vocab`, 32768 tokens for this
vocabulary), which makes a drafted token ~4x cheaper. The synthesized text is pseudo-words that no
corpus ranks, so the demo's set leaves out of reach as many of the text's tokens as real English
text loses at that size (DEMO_COVERAGE; `llama_mtp.draft_vocab.with_coverage`): not a best case.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._core import Model
from ._report import chosen_lines, run_with_progress, stats_lines
from .draft_vocab import draft_vocab_ids, with_coverage
from .generation import Generation
from .shapes import DECAYING_PROFILE, SHAPES, shaped_mtp_model
from .sizing import DraftLength
from .testing import tiny_mtp_model

DEMO_SHAPE = "qwen35-0.8b"
# Q8_0: verify rows of llama.cpp's Q8_0 kernels cost ~1.3x one row for two rows, where its
# repacked Q4_K kernels take 1.5-2x (benchmarks/README.md, "A draft vocabulary"): the quantization
# a small model is run at where MTP can show what it does on a CPU
DEMO_QUANT = "Q8_0"
# `--model tiny`: the small model the demo used before (vocabulary 4096), quick to write
DEMO_MODEL: dict[str, Any] = dict(kind="hybrid", n_embd=1024, n_layer=8, n_vocab=4096, acceptance=0.9, seed=0)
MODEL_CHOICES = (*SHAPES, "tiny")
# the adaptive length decoding plainly on at least this share of its steps: it found that drafting cannot pay
PLAIN_VERDICT_SHARE = 0.5
# the share of a text's tokens a 32k draft vocabulary reaches on Gemma-3 270M's English output
# (benchmarks/README.md, "A draft vocabulary's coverage of real text": 0.981)
DEMO_COVERAGE = 0.98


def demo_model_path(name: str = DEMO_SHAPE) -> Path:
    """The demo's model file: a shape of llama_mtp.shapes (DEMO_QUANT, decaying acceptance), or "tiny"."""
    if name == "tiny":
        return tiny_mtp_model(**DEMO_MODEL)
    return shaped_mtp_model(name, quant=DEMO_QUANT, acceptance_profiles=[DECAYING_PROFILE])


def demo_draft_vocab(model: Model, prompt: str, plain: Generation) -> tuple[Any, str]:
    """The MTP runs' draft_vocab setting and its line in the report: draft_vocab="auto"'s set, with
    the share of the plain text's tokens that real text loses left out (DEMO_COVERAGE)."""
    base = draft_vocab_ids(model, "auto")
    if base is None:
        return "full", "the whole vocabulary (a small one)"
    vocab = with_coverage(base, plain.tokens, prompt=model.tokenize(prompt).tolist(), coverage=DEMO_COVERAGE)
    return vocab, (
        f"{base.size} most frequent tokens and the text's own; {1 - DEMO_COVERAGE:.0%} of the text's tokens "
        "out of reach, as real English text at that size"
    )


def plain_share(g: Generation) -> float:
    """The share of g's steps that drafted nothing (1.0 for plain decoding)."""
    lengths = np.asarray(g.draft_lengths)
    return 1.0 if lengths.size == 0 else float(np.mean(lengths == 0))


def cost_lines(g: Generation, n_show: int = 3) -> list[str]:
    """What drafting k tokens costs and yields, as the controller of g measured it."""
    c = g.controller
    if c is None or c.step_seconds[0] <= 0:
        return []
    plain_step = float(c.step_seconds[0])
    parts = []
    for k in range(1, min(n_show, c.n_max) + 1):
        if c.step_seconds[k] > 0:
            parts.append(f"k={k}: {c.step_seconds[k] / plain_step:.2f}x the time for {c.expected_tokens[k]:.2f} tokens")
    if not parts:
        return []
    acc = ", ".join(f"{a:.2f}" for a in c.acceptance[:n_show])
    return [
        f"a plain step                {plain_step * 1e3:.1f} ms for 1 token",
        f"a step drafting k tokens    {'; '.join(parts)}",
        f"acceptance it measured      {acc} (draft positions 1..{n_show}, each given the ones before)",
    ]


def bound_line(g: Generation, n_show: int = 3) -> list[str]:
    """Tokens per target step the measured acceptance gives where a verify row costs ~nothing."""
    c = g.controller
    if c is None:
        return []
    k = min(n_show, c.n_max)
    return [
        f"where MTP pays              where a verify of k + 1 rows and a draft cost little more than one "
        f"row (GPUs, many cores, large models), this acceptance gives {c.expected_tokens[k]:.2f} tokens per "
        f"target step at k={k}: an upper bound on the speedup, not measured here"
    ]


def verdict_lines(plain: Generation, spec: Generation, n_draft_max: DraftLength) -> list[str]:
    """The demo's result: the speedup where MTP pays, a plain statement and its reasons where not."""
    ratio = spec.tokens_per_s / plain.tokens_per_s
    share = plain_share(spec)
    if n_draft_max == "adaptive" and share >= PLAIN_VERDICT_SHARE:
        probes = (
            "every step, as plain decoding does (the two speeds differ by the machine's noise only)"
            if share >= 0.995
            else f"{share:.0%} of its steps and probed drafting on the rest"
        )
        return [
            "result                      MTP cannot pay for this model on this machine, so the adaptive draft length decoded plainly "
            f"on {probes}; why:",
            *cost_lines(spec),
            *bound_line(spec),
        ]
    lines = [f"speedup                     {ratio:8.2f}x"]
    if ratio < 1.0:
        lines.append(
            f"result                      slower than plain decoding: n_draft_max={n_draft_max} cannot pay "
            "for this model on this machine"
        )
        lines += cost_lines(spec) + bound_line(spec)
    return lines


def cmd_demo(args: Any) -> int:
    t0 = time.perf_counter()
    if args.model == "tiny":
        sys.stderr.write("synthesizing (or reusing) the tiny MTP demo model...\n")
    path = demo_model_path(args.model)
    sys.stderr.write(f"model: {path} ({time.perf_counter() - t0:.1f} s)\n")
    model = Model(str(path))
    common = dict(max_tokens=args.max_tokens, n_threads=args.threads)
    run_with_progress(model, args.prompt, "warm-up", **{**common, "max_tokens": 8, "draft": "none"})
    # two interleaved pairs (plain, MTP, MTP, plain): one slow stretch of the machine does not
    # decide the comparison; each side reports its faster run
    label = f"MTP (n_draft_max={args.n_draft_max})"
    first = run_with_progress(model, args.prompt, "plain decoding", draft="none", **common)
    vocab, vocab_line = demo_draft_vocab(model, args.prompt, first)
    mtp = dict(draft="auto", n_draft_max=args.n_draft_max, draft_vocab=vocab, **common)
    runs = [
        first,
        run_with_progress(model, args.prompt, label, **mtp),
        run_with_progress(model, args.prompt, label, **mtp),
        run_with_progress(model, args.prompt, "plain decoding", draft="none", **common),
    ]
    plain = max(runs[0], runs[3], key=lambda g: g.tokens_per_s)
    spec = max(runs[1], runs[2], key=lambda g: g.tokens_per_s)
    same = all(g.tokens == plain.tokens for g in runs)
    print()
    print(
        f"model                       {model.description}, {model.size_bytes / 2**20:.0f} MiB, "
        f"{model.arch} with {model.n_layer_nextn} NextN layer, vocabulary {model.n_vocab}"
    )
    print(f"tokens generated            {len(spec.tokens)} (greedy)")
    print(f"MTP draft vocabulary        {vocab_line}")
    print(f"plain decoding              {plain.tokens_per_s:8.1f} tokens/s")
    print(f"MTP speculative decoding    {spec.tokens_per_s:8.1f} tokens/s")
    for line in verdict_lines(plain, spec, args.n_draft_max) + stats_lines(spec) + chosen_lines(spec):
        print(line)
    print(f"output identical to plain   {'yes' if same else 'NO'}")
    print(f"text: {spec.text[:100]}...")
    return 0 if same else 1

"""Lines the CLI prints about a generation: acceptance, and what "adaptive" chose."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from ._core import Model
from .functions import stream
from .generation import Generation


def run_with_progress(model: Model, prompt: str, label: str, **kwargs: Any) -> Generation:
    """stream() with a tqdm progress bar on stderr; the Generation."""
    from tqdm import tqdm

    total = int(kwargs.get("max_tokens", 128))
    s = stream(model, prompt, **kwargs)
    with tqdm(total=total, desc=label, unit="tok", leave=True, file=sys.stderr) as bar:
        for _ in s:
            bar.update(len(s.generator.tokens[0]) - bar.n)
        bar.update(total - bar.n)
    assert isinstance(s.result, Generation)
    return s.result


def stats_lines(g: Generation) -> list[str]:
    if g.stats is None:
        return []
    per_pos = ", ".join(f"{x:.2f}" for x in g.stats.acceptance_per_position) or "-"
    return [
        f"acceptance per position     {per_pos}",
        f"acceptance rate             {g.stats.acceptance_rate:.3f}",
        f"mean acceptance length      {g.stats.mean_acceptance_length:.2f} tokens per target step",
    ]


def drafter_lines(g: Generation) -> list[str]:
    """Per drafter: what its drafts were worth, and which one each step verified."""
    lines = []
    for name, t in g.drafter_stats.items():
        if t["drafts"]:
            lines.append(
                f"{name + ' drafts':<28}{t['accepted_tokens']} of {t['draft_tokens']} tokens accepted "
                f"({t['acceptance_rate']:.3f}) in {t['drafts']} drafts"
            )
    if g.step_drafters:
        counts = Counter(g.step_drafters)
        lines.append(f"{'steps by drafter':<28}" + ", ".join(f"{k} {n}" for k, n in counts.most_common()))
    return lines


def chosen_lines(g: Generation) -> list[str]:
    """What n_draft_max="adaptive" did: the lengths it chose, and its model of the speed."""
    c = g.controller
    if c is None or len(g.draft_lengths) == 0:
        return []
    counts = sorted(Counter(int(k) for k in g.draft_lengths).items(), key=lambda kv: -kv[1])
    shares = ", ".join(f"{k} ({n / len(g.draft_lengths):.0%})" for k, n in counts[:4])
    return [
        f"draft lengths chosen        {shares} of {len(g.draft_lengths)} steps (0: plain decoding)",
        f"speed predicted / measured  {c.predicted_speed:.1f} / {c.measured_speed:.1f} tokens/s",
        f"time draft/verify/process   {g.draft_seconds:.2f} / {g.verify_seconds:.2f} / {g.process_seconds:.2f} s",
    ]

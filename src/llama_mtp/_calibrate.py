"""`llama-mtp bench --calibrate`: measure every draft length once and fill the cost cache.

"adaptive" learns what each draft length costs while it generates; a first call in a fresh process
pays for that learning (a warm-up, then measurements of lengths it has not played). A
calibration measures them all up front, in a bounded time, and stores what a controller would
have learned (_cost_cache), so the next generate()/stream()/chat() with the same model, machine
and settings starts there. One warm engine (LLM) runs plain decoding and each fixed length
1..n_draft_max and then plain decoding on the prompt, a short unmeasured run of each length first
(the first step of a batch shape builds its graph); the seconds of each length's steps and the accepted length of each
draft are fed to a fresh DraftController, whose state is stored.

The time is bounded: plain decoding is timed first, and every length then generates as many
tokens as fit the budget at ~3 plain steps per step (at least 8, at most 64).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from . import _cost_cache
from ._core import DraftController, Model
from .generation import Generation
from .llm import LLM
from .sizing import AUTO_DRAFT_MAX

MIN_TOKENS, MAX_TOKENS = 8, 64
# a drafting step costs up to ~3 plain steps on a CPU (the curve: k=1 2.9x, k=4 4.1x)
STEP_COST_BOUND = 3.0


@dataclass(frozen=True)
class Calibration:
    """What a calibration measured and stored."""

    step_seconds: list[float]  # per draft length 0..n_draft_max: seconds of one step
    acceptance: list[float]  # per draft position: accepted / drafted there
    tokens_per_length: int
    seconds: float  # the calibration's own wall time
    key: str | None  # the cost cache entry written (None: the cache is off or the file is gone)
    state: dict[str, Any]


def _outcomes(g: Generation, k: int) -> list[int]:
    """The accepted length of each of g's drafts (from accepted_at: drafts with more than i accepted)."""
    mtp = g.drafter_stats.get("mtp", {})
    drafts = int(mtp.get("drafts", 0))
    at = [int(x) for x in mtp.get("accepted_at", [])][:k] + [0] * k
    out: list[int] = []
    for a in range(k + 1):
        more_than_a_minus_1 = drafts if a == 0 else at[a - 1]
        out += [a] * max(0, more_than_a_minus_1 - (at[a] if a < k else 0))
    return out


def _step_seconds(g: Generation) -> tuple[float, float, float]:
    """(draft, verify, process) seconds of one step: the loop's whole time per step, as the
    controller counts it (the verify includes the sampling and the caller's time between steps)."""
    n = max(1, g.n_steps)
    step = g.generation_seconds / n
    draft, process = g.draft_seconds / n, g.process_seconds / n
    return draft, max(step - draft - process, 0.0), process


def calibrate(
    model: Model, *, prompt: str, n_threads: int | None = None, budget_seconds: float = 30.0, n_draft_max: int = AUTO_DRAFT_MAX
) -> Calibration:
    """Measure plain decoding and every draft length 1..n_draft_max; store the controller state.

    Raises:
        InvalidArgumentError: model has no NextN layers, or an argument is out of range.
    """
    t0 = time.perf_counter()
    from .functions import generate

    # the budget's yardstick: plain decoding in its own contexts (a plain request in the LLM
    # below would leave its draft context behind the target's for the next request)
    generate(model, prompt, max_tokens=4, draft="none", n_threads=n_threads, ignore_eos=True)  # warm-up
    plain = generate(model, prompt, max_tokens=MIN_TOKENS, draft="none", n_threads=n_threads, ignore_eos=True)
    assert isinstance(plain, Generation)
    plain_step = max(plain.generation_seconds / max(1, plain.n_steps), 1e-6)
    per_length = budget_seconds / ((n_draft_max + 1) * STEP_COST_BOUND * plain_step)
    n_tokens = int(min(MAX_TOKENS, max(MIN_TOKENS, per_length)))
    llm = LLM(model, n_ctx=2048, n_threads=n_threads, n_draft_max=n_draft_max, draft="mtp")
    draft_vocab = llm.draft_vocab_size  # the default's ("auto"), as the cache key of a later call has it
    runs: dict[int, Generation] = {}
    try:
        common: dict[str, Any] = dict(n_threads=n_threads, ignore_eos=True, draft="mtp")
        for k in range(1, n_draft_max + 1):
            llm.generate(prompt, max_tokens=2 * k + 2, n_draft_max=k, **common)  # this length's graphs
            runs[k] = llm.generate(prompt, max_tokens=n_tokens, n_draft_max=k, **common)
        runs[0] = llm.generate(prompt, max_tokens=n_tokens, draft="none", n_threads=n_threads, ignore_eos=True)
    finally:
        llm.close()
    controller = DraftController(n_draft_max, plain_skips_process=True)
    feeds = {k: _outcomes(g, k) if k else [0] * max(1, g.n_steps) for k, g in sorted(runs.items())}
    for k, outcomes in feeds.items():  # in no order: the controller weighs recent drafts more
        random.Random(k).shuffle(outcomes)
    # round robin over the lengths, as a controller sees them when it explores
    for i in range(max(len(f) for f in feeds.values())):
        for k, outcomes in feeds.items():
            if i < len(outcomes):
                t_draft, t_verify, t_process = _step_seconds(runs[k])
                controller.observe(
                    k, [k], [outcomes[i]], t_draft=t_draft, t_verify=t_verify, t_process=0.0 if k == 0 else t_process
                )
    state = controller.state()
    key = _cost_cache.cost_key(model, n_threads=n_threads, exact=False, n_draft_max=n_draft_max, draft_vocab=draft_vocab)
    if key is not None and _cost_cache.cost_cache_dir() is not None:
        _cost_cache.save(key, state)
    else:
        key = None
    step_seconds = [sum(_step_seconds(runs[k])) for k in range(n_draft_max + 1)]
    return Calibration(
        step_seconds=step_seconds,
        acceptance=[float(x) for x in controller.acceptance],
        tokens_per_length=n_tokens,
        seconds=time.perf_counter() - t0,
        key=key,
        state=state,
    )

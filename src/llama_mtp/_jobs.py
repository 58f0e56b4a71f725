"""A request's sequence as the scheduler sees it (Job, JobOptions), what the engine counts
(EngineStats) and its errors; the server's and Python's callers subclass Job for their events."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._core import DraftController, Grammar, LlamaError, MtpStats, SequenceOptions, TokenProbs
from .options import SamplingParams


class QueueFullError(LlamaError):
    """The request queue is at its bound."""


class EngineStoppedError(LlamaError):
    """The engine is closed or shutting down: the request was not (or not wholly) generated."""


@dataclass(frozen=True)
class JobOptions:
    """One sequence's options as the engine takes them: its SamplingParams, and what the LLM
    resolved from them and the request's DraftConfig (LLM.job_options(), the one conversion)."""

    sampling: SamplingParams
    grammar: Grammar | None = None  # sampling.grammar / json_schema, parsed for the model
    seed: int | None = None  # sampling.seed, offset by the sequence's index in its call
    n_draft: int = -1  # -1: the engine's MTP draft length, 0: no MTP drafting, n: at most n
    ngram: bool = True  # may verify drafts from its own text (where the engine has an n-gram drafter)
    exact: bool = False  # batch-invariant decoding (docs, "Exactness")
    sampled_drafts: bool = False  # T > 0: MTP drafts sampled from the head, rejection sampling
    stop: tuple[str, ...] = ()  # sampling.stop and the chat template's own


# what a job hands its owner: ("text", str), ("done", finish_reason), ("error", Exception)
Event = tuple[str, Any]


class Job:
    """One request's sequence. Its events go to emit() (called on the stepping thread); what it
    ended with is kept on the job once it is done."""

    def __init__(self, tokens: Sequence[int] | np.ndarray, options: JobOptions) -> None:
        self.tokens = tokens
        self.options = options
        self._cancelled = threading.Event()
        self.n_generated = 0
        self.finish_reason = ""
        self.error: BaseException | None = None
        self.sequence: SequenceOptions | None = None  # the native options, set by Scheduler.prepare()
        # set by the scheduler: the slot, prompt tokens reused from its KV, the steps it took part
        # in, when its prompt was decoded and when it finished, its tokens and text
        self.slot = -1
        # the next step decodes its prompt's last batch, whose last row gives its first token; in a
        # step that verified nothing (its prefill), n_prompt_step_tokens it gave
        self.prompt_pending = False
        self.n_prompt_step_tokens = 0
        self.n_cached = 0
        self.first_step = self.last_step = self.first_draft = 0
        self.t_admitted = self.prompt_seconds = self.t_done = 0.0
        self.result_tokens: list[int] = []
        self.token_probs: list[TokenProbs] = []  # the generated tokens' (SamplingParams.logprobs)
        self.text = ""
        # at its end: the session's statistics, the draft lengths of its steps, the controller,
        # and the native time of the steps it took part in (drafting, verifying, process())
        self.stats: MtpStats | None = None
        self.draft_lengths: np.ndarray = np.zeros(0, dtype=np.int32)
        self.controller: DraftController | None = None
        # per drafter: the generator's tallies at admission, then what they gained until the end;
        # whose drafts each of its steps verified, and the longest
        self.drafter_stats: dict[str, dict[str, Any]] = {}
        # per drafter, this sequence's own drafts alone (whatever else shared its steps)
        self.own_drafts: dict[str, dict[str, Any]] = {}
        self.step_drafters: list[str] = []
        self.step_draft_lengths: np.ndarray = np.zeros(0, dtype=np.int32)
        self.t_draft = self.t_verify = self.t_process = 0.0

    def cancel(self) -> None:
        """The caller went away: the engine stops the sequence before its next step."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def done(self) -> bool:
        return bool(self.finish_reason) or self.error is not None

    def emit(self, event: Event) -> None:
        """Hand the owner an event (overridden by the server's jobs: an asyncio queue)."""


@dataclass
class EngineStats:
    requests_finished: int = 0
    requests_cancelled: int = 0
    requests_failed: int = 0
    tokens_generated: int = 0
    prompt_tokens: int = 0  # prompt tokens asked for (cached ones included)
    cached_prompt_tokens: int = 0  # ... of them taken from a slot's kept KV, not decoded again
    steps: int = 0
    busy_slot_steps: int = 0  # over the steps: the sequences each one generated for
    recent: collections.deque[tuple[float, int]] = field(default_factory=lambda: collections.deque(maxlen=512))

    def busy_slots_per_step(self) -> float:
        """Sequences a step generated for, on average (llama-server's n_busy_slots_per_decode)."""
        return self.busy_slot_steps / self.steps if self.steps else 0.0

    def tokens_per_second(self, window: float = 10.0) -> float:
        """Tokens generated per second over the last `window` seconds (0 with fewer than two
        steps in it)."""
        now = time.perf_counter()
        # a copy first: the stepping thread appends while the server's /metrics reads
        # (deque.copy() runs in C, whole under the GIL; iterating the deque itself may not)
        points = [(t, n) for t, n in self.recent.copy() if now - t <= window]
        if len(points) < 2:
            return 0.0
        span = points[-1][0] - points[0][0]
        return sum(n for _, n in points[1:]) / span if span > 0 else 0.0

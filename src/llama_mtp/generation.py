"""What a generation returns (Generation) and how its text streams (Stream), for LLM and the
module functions alike.

The hot loop (draft -> verify -> decode -> process -> accept -> trim KV) runs in C++
(`_core.Generator.step`, GIL released), and so does the text: pieces are appended as tokens
are accepted, stop strings end a sequence there (it takes no more verify rows) and only final
text is handed out.
"""

from __future__ import annotations

import collections
import os
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from ._core import (
    ArgumentTypeError,
    Context,
    DraftController,
    Generator,
    InvalidArgumentError,
    Model,
    MtpStats,
    TokenProbs,
    build_info,
)
from ._scheduler import Event, Job, JobOptions, Scheduler

# llama.cpp's largest context (tokens per sequence) and its sequence limit
_MAX_CONTEXT = 1 << 24
_MAX_SEQUENCES: int = build_info()["max_parallel_sequences"]

__all__ = ["Generation", "Stream"]

TokenList = Sequence[int] | np.ndarray
Prompt = str | TokenList
Prompts = Sequence[str] | Sequence[Sequence[int]] | Sequence[np.ndarray]
ModelLike = Model | str | bytes | os.PathLike[str]
Piece = TypeVar("Piece", str, tuple[int, str])


@dataclass
class Generation:
    """The result of one prompt's generation."""

    tokens: list[int]
    text: str
    finish_reason: str  # "stop" (EOS or a stop string) or "length"
    stats: MtpStats | None  # None without MTP drafting
    n_prompt_tokens: int
    prompt_seconds: float
    generation_seconds: float
    n_steps: int  # target decodes (verify batches) of the generation loop
    # the draft length asked for at each step (0: plain decoding; empty without MTP), and
    # with n_draft_max="adaptive" the controller that chose them (acceptance, costs, speeds)
    draft_lengths: np.ndarray
    controller: DraftController | None
    # how the loop's native time split: drafting, verifying (target decode, sampling), process()
    draft_seconds: float
    verify_seconds: float
    process_seconds: float
    # prompt tokens taken from the KV an LLM's slot kept from an earlier call (not decoded again)
    n_cached_tokens: int = 0
    # per drafter ("mtp", "ngram"): what the steps it took part in verified and accepted (of all
    # their sequences: steps, drafts, draft_tokens, accepted_tokens, acceptance_rate,
    # accepted_at); and per step whose drafts were verified ("plain", "mtp", "ngram", "both")
    # and the longest
    drafter_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    step_drafters: list[str] = field(default_factory=list)
    step_draft_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    # tokens that came with the prompt (its last row's pick, as llama-completion's first token),
    # before generation_seconds began
    n_prompt_step_tokens: int = 0
    # SamplingParams(logprobs=k): each token's log-probability under the target's distribution
    # and its row's k most probable tokens (None: not asked for)
    logprobs: list[TokenProbs] | None = None
    prompt_tokens_per_s: float = field(init=False)
    # the loop's speed: the tokens after those that came with the prompt, over
    # generation_seconds (llama-completion's "eval time" counts the same decodes)
    tokens_per_s: float = field(init=False)

    def __post_init__(self) -> None:
        n_decoded = self.n_prompt_tokens - self.n_cached_tokens
        self.prompt_tokens_per_s = n_decoded / self.prompt_seconds if self.prompt_seconds > 0 else 0.0
        n_loop = len(self.tokens) - self.n_prompt_step_tokens
        self.tokens_per_s = n_loop / self.generation_seconds if self.generation_seconds > 0 else 0.0


def _prompt_list(prompt: object) -> tuple[bool, list[Prompt]]:
    """(batched, the prompts) of a prompt argument: one prompt (text or token ids) or a list of
    prompts, which are all text or all token-id lists (never a mix: which one was meant?)."""
    if isinstance(prompt, (str, np.ndarray)):
        return False, [prompt]
    if not isinstance(prompt, Sequence):
        raise ArgumentTypeError(f"prompt must be text, token ids or a list of prompts, not {type(prompt).__name__}")
    items = list(prompt)
    n_text = sum(isinstance(p, str) for p in items)
    n_ids = sum(isinstance(p, (list, tuple, np.ndarray)) for p in items)
    if n_text == 0 and n_ids == 0:
        return False, [prompt]  # token ids (each one is checked by the native loop)
    if len(items) in (n_text, n_ids):
        return True, items
    kinds = sorted({type(p).__name__ for p in items})
    raise ArgumentTypeError(f"a list of prompts must be all text or all token-id lists, got a mix of {', '.join(kinds)}")


def require_exact_support(model: Model) -> None:
    """exact=True: batch-invariant kernels exist in the local CPU backend only (patch 0005)."""
    elsewhere = sorted(
        {d["rpc_endpoint"] or d["name"] for d in model.devices if d["name"] != "CPU" and (d["layers"] or d["output"])}
    )
    if elsewhere:
        raise InvalidArgumentError(
            "exact=True needs every layer on the local CPU (only its kernels can be made batch-invariant); "
            f"this model runs layers on {', '.join(elsewhere)}: load it with n_gpu_layers=0 and no rpc_servers"
        )


def _open_model(model: ModelLike) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, (str, bytes, os.PathLike)):
        return Model(os.fsdecode(model))
    raise ArgumentTypeError(f"model must be a Model or a path, not {type(model).__name__}")


class StreamJob(Job):
    """A Python caller's request: its text pieces wait in a queue for the caller's iterator."""

    def __init__(self, tokens: TokenList, options: JobOptions, index: int) -> None:
        super().__init__(tokens, options)
        self.index = index
        self.pieces: collections.deque[str] = collections.deque()  # appended by the stepping thread

    def emit(self, event: Event) -> None:
        if event[0] == "text":
            self.pieces.append(event[1])


def _generation_of(job: StreamJob, t_iter: float) -> Generation:
    # generation time: from when its prompt was decoded (or the caller began to iterate, if
    # later) until it finished, the Python side included (what a caller experiences)
    return Generation(
        tokens=job.result_tokens,
        text=job.text,
        finish_reason=job.finish_reason or "length",
        stats=job.stats,
        n_prompt_tokens=len(job.tokens),
        prompt_seconds=job.prompt_seconds,
        generation_seconds=max(0.0, job.t_done - max(job.t_admitted, t_iter)),
        n_steps=job.last_step - job.first_step,
        draft_lengths=job.draft_lengths,
        controller=job.controller,
        draft_seconds=job.t_draft,
        verify_seconds=job.t_verify,
        process_seconds=job.t_process,
        n_cached_tokens=job.n_cached,
        drafter_stats=job.drafter_stats,
        logprobs=job.token_probs if job.options.sampling.logprobs is not None else None,
        step_drafters=job.step_drafters,
        step_draft_lengths=job.step_draft_lengths,
        n_prompt_step_tokens=job.n_prompt_step_tokens,
    )


def _cancel(jobs: list[StreamJob]) -> None:
    # may run on any thread, inside any other code (the garbage collector): it only sets the
    # jobs' cancel flags, which the stepping thread reads
    for job in jobs:
        job.cancel()


class Stream(Generic[Piece]):
    """Iterates over text pieces as they are accepted (str, or (index, str) for a list of
    prompts); `.result` holds the Generation(s) after. Joined, the pieces are the text: no piece
    holds an incomplete character or the start of what may become a stop string.

    Made by LLM.stream() (or llama_mtp.stream()): its prompts are already admitted, or queued
    while the LLM's slots are busy; iterating steps the LLM's generator (shared with the other
    callers' requests: one target batch per step)."""

    def __init__(
        self, scheduler: Scheduler, jobs: list[StreamJob], *, batched: bool, on_end: Callable[[], None] | None = None
    ) -> None:
        self._scheduler = scheduler
        self._jobs = jobs
        self._batched = batched
        self._on_end = on_end
        self.result: Generation | list[Generation] | None = None
        # dropped without being iterated to its end: its requests are cancelled (their slots
        # free at the next step), not generated to max_tokens for nobody
        self._cancel_when_dropped: weakref.finalize[[list[StreamJob]], Stream[Any]] = weakref.finalize(self, _cancel, jobs)

    @property
    def generator(self) -> Generator:
        """The underlying C++ loop (its target context, session and counters)."""
        return self._scheduler.generator_or_raise()

    @property
    def _target(self) -> Context:
        return self._scheduler.target

    def __iter__(self) -> Iterator[Piece]:
        return self._pieces(yield_text=True)  # type: ignore[return-value]

    def _ready(self) -> bool:
        return any(j.pieces for j in self._jobs) or all(j.done for j in self._jobs)

    def _pieces(self, yield_text: bool) -> Iterator[str | tuple[int, str]]:
        jobs, scheduler = self._jobs, self._scheduler
        t_iter = time.perf_counter()
        try:
            while True:
                scheduler.drive(self._ready if yield_text else (lambda: all(j.done for j in jobs)), own=jobs)
                for job in jobs:
                    while job.pieces:
                        piece = job.pieces.popleft()
                        if yield_text:
                            yield (job.index, piece) if self._batched else piece
                if all(j.done for j in jobs):
                    break
        finally:
            if not all(j.done for j in jobs):  # the caller stopped iterating (break, an error)
                scheduler.abandon(jobs)
        for job in jobs:
            if job.error is not None:
                raise job.error
        self._cancel_when_dropped.detach()
        results = [_generation_of(job, t_iter) for job in jobs]
        if self._on_end is not None:
            self._on_end()
        self.result = results if self._batched else results[0]

    def _run(self) -> Generation | list[Generation]:
        for _ in self._pieces(yield_text=False):
            pass
        assert self.result is not None
        return self.result

"""Continuous batching: one native Generator with a slot per parallel sequence, stepped by one
worker thread. Between steps it admits queued requests into free slots (their prompts are
prefilled while the others wait one step), drops finished and cancelled ones, and hands each
request its new text. Every step is one target batch for all sequences, with MTP drafting for
each (the draft length chosen per step when n_draft_max is "auto")."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .._core import Context, Generator, Grammar, InvalidArgumentError, Model, SequenceOptions
from ..generation import require_exact_support
from ..sizing import DraftLength, draft_ceiling, mtp_context_params


class QueueFullError(Exception):
    """The request queue is at its bound."""


class EngineStoppedError(Exception):
    """The engine is shutting down."""


@dataclass
class JobOptions:
    max_tokens: int
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    n_draft: int = -1  # -1: the engine's draft length, 0: no drafting, n: at most n
    grammar: Grammar | None = None
    ignore_eos: bool = False
    exact: bool = False  # batch-invariant decoding (README, "Exactness")


# what a job hands its request: ("text", str), ("done", finish_reason), ("error", Exception)
Event = tuple[str, Any]


class Job:
    """One request's sequence: its events arrive on an asyncio queue of the request's loop."""

    def __init__(self, tokens: list[int], options: JobOptions, loop: asyncio.AbstractEventLoop) -> None:
        self.tokens = tokens
        self.options = options
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self._loop = loop
        self._cancelled = threading.Event()
        self.n_generated = 0
        self.finish_reason = ""
        self.sequence: SequenceOptions | None = None  # the native options, set by BatchEngine.prepare()

    def cancel(self) -> None:
        """The client went away: the engine frees the sequence before its next step."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _emit(self, event: Event) -> None:
        try:
            self._loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the request's loop is closed: nobody listens any more
            pass


@dataclass
class EngineStats:
    requests_finished: int = 0
    requests_cancelled: int = 0
    requests_failed: int = 0
    tokens_generated: int = 0
    prompt_tokens: int = 0
    steps: int = 0
    recent: collections.deque[tuple[float, int]] = field(default_factory=lambda: collections.deque(maxlen=512))

    def tokens_per_second(self, window: float = 10.0) -> float:
        now = time.perf_counter()
        points = [(t, n) for t, n in self.recent if now - t <= window]
        if len(points) < 2:
            return 0.0
        span = points[-1][0] - points[0][0]
        return sum(n for _, n in points[1:]) / span if span > 0 else 0.0


class BatchEngine:
    """Serves generation requests from one model with continuous batching."""

    def __init__(self, model: Model, *, parallel: int = 4, ctx_per_sequence: int = 4096, mtp: bool = True,
                 n_draft_max: DraftLength = "auto", n_threads: int | None = None, max_queue: int = 64,
                 exact: bool = False) -> None:
        if parallel < 1 or max_queue < 0 or ctx_per_sequence < 64:
            raise ValueError("parallel >= 1, max_queue >= 0 and ctx_per_sequence >= 64 are needed")
        if exact:
            require_exact_support(model)
        self.model = model
        self.exact = exact  # the default of a request that does not say
        self.parallel = parallel
        self.max_queue = max_queue
        self.mtp = mtp and model.has_mtp
        self.n_draft_max = n_draft_max
        self.ceiling = draft_ceiling(n_draft_max) if self.mtp else 0
        self.ctx_per_sequence = ctx_per_sequence
        self._n_threads = n_threads
        self.stats = EngineStats()
        self._cv = threading.Condition()
        self._pending: collections.deque[Job] = collections.deque()
        self._jobs: dict[int, Job] = {}
        self._stopping = False
        self._open_generator()
        self._thread = threading.Thread(target=self._run, name="llama-mtp-engine", daemon=True)
        self._thread.start()

    def _open_generator(self) -> None:
        sizes = mtp_context_params(self.model, n_draft_max=self.ceiling or 1, n_seq=self.parallel,
                                   n_ctx=self.ctx_per_sequence, n_threads=self._n_threads)
        target_params = sizes.target()
        if not self.mtp:
            target_params["n_rs_seq"] = 0
        self.target = Context(self.model, **target_params)  # type: ignore[arg-type]
        self.draft = Context(self.model, **sizes.draft()) if self.mtp else None  # type: ignore[arg-type]
        self.generator = Generator.with_slots(self.target, self.draft, n_slots=self.parallel,
                                              n_draft_max=max(self.ceiling, 1),
                                              adaptive=self.mtp and self.n_draft_max == "auto")

    @property
    def n_ctx_per_sequence(self) -> int:
        return self.target.n_ctx // self.parallel

    @property
    def queue_length(self) -> int:
        with self._cv:
            return len(self._pending)

    @property
    def active(self) -> int:
        with self._cv:
            return len(self._jobs)

    def prepare(self, job: Job) -> None:
        """Validate a job's options as the native layer will take them (InvalidArgumentError
        when it refuses one; a grammar is parsed against the model's vocabulary), so that a bad
        request is refused before admission, whatever the queue holds. May take a while for a
        large grammar: call it off the event loop where a grammar is given."""
        if job.sequence is not None:
            return
        o = job.options
        if o.grammar is not None:
            # parsed where the sequence is added too; checking here makes a grammar this
            # vocabulary cannot take the request's fault at once instead of a queued failure
            Grammar.from_gbnf(self.model, o.grammar.gbnf)
        job.sequence = SequenceOptions(max_tokens=o.max_tokens, temperature=o.temperature, top_k=o.top_k,
                                       top_p=o.top_p, min_p=o.min_p, seed=o.seed, stop=o.stop,
                                       n_draft=o.n_draft if self.mtp else -1, grammar=o.grammar,
                                       ignore_eos=o.ignore_eos, exact=o.exact)

    def submit(self, job: Job) -> None:
        """Queue a job: validated first (prepare(): InvalidArgumentError for a bad option), then
        admitted; QueueFullError when max_queue jobs already wait for a slot."""
        self.prepare(job)
        with self._cv:
            if self._stopping:
                raise EngineStoppedError("the server is shutting down")
            free = max(0, self.parallel - len(self._jobs))
            if len(self._pending) >= self.max_queue + free:
                raise QueueFullError(f"{len(self._pending)} requests are queued (the bound is {self.max_queue})")
            self._pending.append(job)
            self._cv.notify()

    def wake(self) -> None:
        with self._cv:
            self._cv.notify()

    def close(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join()
        for job in list(self._pending) + list(self._jobs.values()):
            job._emit(("error", EngineStoppedError("the server is shutting down")))

    # --- the worker thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopping and not self._pending and not self._jobs:
                    self._cv.wait()
                if self._stopping:
                    return
                admit: list[Job] = []
                free = self.parallel - len(self._jobs)
                while self._pending and len(admit) < free:
                    admit.append(self._pending.popleft())
            try:
                self._admit(admit)
                self._step()
            except Exception as e:  # the generation failed: its requests fail, a new one starts
                self._fail_all(e)

    def _admit(self, jobs: list[Job]) -> None:
        """Prefill the new jobs together (one batch); a job whose options fail gets its error."""
        ready: list[tuple[Job, SequenceOptions]] = []
        for job in jobs:
            if job.cancelled:
                self._finish(job, "cancelled")
                continue
            options = job.sequence
            assert options is not None  # submit() prepared it
            ready.append((job, options))
        if not ready:
            return
        try:
            slots = self.generator.add_sequences([j.tokens for j, _ in ready], [o for _, o in ready],
                                                 join_next_step=True)
            admitted = list(zip(slots, (j for j, _ in ready), strict=True))
        except InvalidArgumentError:  # one of them (its grammar, say): find it, admit the others
            admitted = []
            for job, options in ready:
                try:
                    admitted.append((self.generator.add_sequences([job.tokens], [options], join_next_step=True)[0],
                                     job))
                except InvalidArgumentError as e:
                    self._reject(job, e)
        for slot, job in admitted:
            self.stats.prompt_tokens += len(job.tokens)
            with self._cv:
                self._jobs[slot] = job

    def _reject(self, job: Job, error: Exception) -> None:
        self.stats.requests_failed += 1
        job._emit(("error", error))

    def _step(self) -> None:
        gen = self.generator
        with self._cv:
            jobs = dict(self._jobs)
        for slot, job in jobs.items():
            if job.cancelled:
                gen.cancel(slot)
        if gen.active_slots:
            new_tokens = gen.step()
            self.stats.steps += 1
            n_new = sum(len(new_tokens[s]) for s in jobs)
            self.stats.tokens_generated += n_new
            self.stats.recent.append((time.perf_counter(), n_new))
        reasons = gen.finish_reasons
        all_tokens = gen.tokens
        for slot, job in jobs.items():
            text = gen.take_text(slot)
            job.n_generated = len(all_tokens[slot])
            if text:
                job._emit(("text", text))
            if reasons[slot]:
                gen.release(slot)
                with self._cv:
                    del self._jobs[slot]
                self._finish(job, reasons[slot])

    def _finish(self, job: Job, reason: str) -> None:
        job.finish_reason = reason
        if reason == "cancelled":
            self.stats.requests_cancelled += 1
        else:
            self.stats.requests_finished += 1
        job._emit(("done", reason))

    def _fail_all(self, error: Exception) -> None:
        with self._cv:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            self._reject(job, error)
        try:
            self._open_generator()
        except Exception as e:  # no generator to go on with: refuse new work, fail what waits
            with self._cv:
                self._stopping = True
                waiting = list(self._pending)
                self._pending.clear()
            for job in waiting:
                self._reject(job, EngineStoppedError(f"the engine could not restart: {e}"))

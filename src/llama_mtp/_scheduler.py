"""Continuous batching on one slotted native Generator, shared by every caller of an LLM (Python
threads and the server alike).

Whoever waits for a result steps the generator itself when no other thread is stepping it (a
leader/follower scheme): a lone caller runs the loop on its own thread, as a plain function call
would (Ctrl-C on the main thread reaches the decode), and concurrent callers share each step's
target batch instead of taking turns. Between steps the stepping thread admits queued requests
into free slots (a slot keeps its last sequence's KV, so a prompt that begins with it decodes only
the rest), drops cancelled ones and hands each request its new text.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import _cost_cache
from ._core import Context, ContextError, Generator, Grammar, InvalidArgumentError, Model, SequenceOptions
from ._jobs import EngineStats, EngineStoppedError, Event, Job, JobOptions, QueueFullError
from .drafters import drafter_stats_since
from .sizing import DraftLength, context_sizes, draft_ceiling

__all__ = ["EngineStats", "EngineStoppedError", "Event", "Job", "JobOptions", "QueueFullError", "Scheduler"]


class Scheduler:
    """One model's contexts and slotted Generator, stepped by whichever thread waits for it."""

    def __init__(self, model: Model, *, parallel: int, ctx_per_sequence: int, mtp: bool, n_draft_max: DraftLength,
                 n_threads: int | None, n_batch: int = 512, n_min: int = 0, p_min: float = 0.0,
                 max_queue: int = 64, exact: bool = False, ngram: str | None = None,
                 ngram_n_max: int = 16, ngram_size_n: int = 3) -> None:
        self.model = model
        self.ngram = ngram  # the n-gram drafter's name (None: no drafts from the text)
        self.ngram_n_max, self.ngram_size_n = ngram_n_max, ngram_size_n
        self.exact = exact  # the default of a request that does not say
        self.parallel = parallel
        self.max_queue = max_queue
        self.mtp = mtp
        self.n_draft_max = n_draft_max
        self.ceiling = draft_ceiling(n_draft_max) if mtp else 0
        self.ctx_per_sequence = ctx_per_sequence
        self._n_threads = n_threads
        self._n_batch = n_batch
        self._n_min, self._p_min = n_min, p_min
        self.stats = EngineStats()
        self._cv = threading.Condition()
        self._pending: collections.deque[Job] = collections.deque()
        self._jobs: dict[int, Job] = {}  # slot -> the job generating there
        self._finished: set[int] = set()  # slots whose sequence ended, released at the next admission
        self._stepping = False
        self._stopping = False
        # "auto" on one slot starts where the last generation with the same model, machine and
        # settings ended (_cost_cache), its contexts sized to the lengths that may pay by it
        self._cost_key: str | None = None
        self._prior: dict[str, Any] | None = None
        if mtp and n_draft_max == "auto" and parallel == 1 and _cost_cache.cost_cache_dir() is not None:
            self._cost_key = _cost_cache.cost_key(model, n_threads=n_threads, exact=exact, n_draft_max=self.ceiling)
            self._prior = _cost_cache.load(self._cost_key) if self._cost_key is not None else None
            self.ceiling = _cost_cache.lengths_in_use(self._prior, self.ceiling)
        self.generator: Generator | None = None
        self._open_generator()

    def _open_generator(self) -> None:
        longest = max(self.ceiling, self.ngram_n_max if self.ngram else 0)
        sizes = context_sizes(self.model, longest_draft=longest or 1, n_seq=self.parallel,
                              n_ctx=self.ctx_per_sequence, n_batch=self._n_batch, n_threads=self._n_threads)
        target_params = sizes.target()
        if not longest:
            target_params["n_rs_seq"] = 0
        self.target = Context(self.model, **target_params)  # type: ignore[arg-type]
        self.draft = Context(self.model, **sizes.draft()) if self.mtp else None  # type: ignore[arg-type]
        self.generator = Generator.with_slots(self.target, self.draft, n_slots=self.parallel,
                                              n_draft_max=max(self.ceiling, 1), adaptive=self.n_draft_max == "auto",
                                              n_min=self._n_min, p_min=self._p_min, ngram=self.ngram,
                                              ngram_n_max=self.ngram_n_max, ngram_size_n=self.ngram_size_n)
        self._finished.clear()
        if self._prior is not None:
            _cost_cache.start(self.generator, self._prior)

    def generator_or_raise(self) -> Generator:
        if self.generator is None:
            raise EngineStoppedError("this LLM is closed")
        return self.generator

    _gen = generator_or_raise

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
        request is refused before admission, whatever the queue holds."""
        if job.sequence is not None:
            return
        o = job.options
        if o.grammar is not None:
            # parsed where the sequence is added too; checking here makes a grammar this
            # vocabulary cannot take the request's fault at once instead of a queued failure
            Grammar.from_gbnf(self.model, o.grammar.gbnf)
        job.sequence = SequenceOptions(max_tokens=o.max_tokens, temperature=o.temperature, top_k=o.top_k,
                                       top_p=o.top_p, min_p=o.min_p, seed=o.seed, stop=o.stop,
                                       n_draft=o.n_draft if self.mtp else -1, ngram=o.ngram, grammar=o.grammar,
                                       ignore_eos=o.ignore_eos, exact=o.exact)

    def submit(self, jobs: Sequence[Job], *, bounded: bool = True, admit_now: bool = False) -> None:
        """Queue jobs, validated first (prepare()). bounded: QueueFullError when max_queue jobs
        already wait for a slot (the server's bound; a Python caller waits instead).
        admit_now: where no other thread is stepping and the slots are free, decode their
        prompts here and now, so that a bad prompt raises in the caller."""
        for job in jobs:
            self.prepare(job)
        with self._cv:
            if self._stopping or self.generator is None:
                raise EngineStoppedError("this LLM is closed" if self.generator is None else "the server is shutting down")
            free = max(0, self.parallel - len(self._jobs))
            if bounded and len(self._pending) + len(jobs) > self.max_queue + free:
                raise QueueFullError(f"{len(self._pending)} requests are queued (the bound is {self.max_queue})")
            eager = admit_now and not self._stepping and not self._pending and len(jobs) <= free
            if eager:
                self._stepping = True
            else:
                self._pending.extend(jobs)
                self._cv.notify_all()
        if eager:
            try:
                self._admit(list(jobs), raise_errors=True, join=bool(self._jobs))
            except BaseException:
                for job in jobs:
                    job.cancel()
                self._fail_if_broken()
                raise
            finally:
                self._end_turn()

    def wake(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def drive(self, until: Callable[[], bool], *, own: Sequence[Job] = ()) -> None:
        """Step the generator on this thread until until() holds (it is checked under the lock
        after every step), or wait while another thread steps. own: the caller's jobs, cancelled
        when this thread is interrupted (Ctrl-C) while waiting or between native calls."""
        try:
            while True:
                with self._cv:
                    while not until():
                        if self._stopping:
                            raise EngineStoppedError("this LLM is closed")
                        if not self._stepping and (self._pending or self._jobs):
                            break
                        self._cv.wait()
                    else:
                        return
                    self._stepping = True
                    free = self.parallel - len(self._jobs)
                    admit = [self._pending.popleft() for _ in range(min(free, len(self._pending)))]
                try:
                    self._admit(admit, raise_errors=False, join=True)
                    self._step()
                except Exception as e:  # the generation failed: its requests fail, a new one starts
                    self._fail_all(e)
                finally:
                    self._end_turn()
        except BaseException:  # KeyboardInterrupt, an EngineStoppedError: the caller stops waiting
            for job in own:
                job.cancel()
            with self._cv:
                if self._stepping:  # another thread's turn: it sees the cancellation
                    raise
                self._stepping = True
            try:
                self._fail_if_broken()
            finally:
                self._end_turn()
            raise

    def abandon(self, jobs: Sequence[Job]) -> None:
        """The caller stopped waiting for jobs (it broke out of a stream): cancel them, and free
        their slots now where no other thread is stepping (else that thread does, next step)."""
        for job in jobs:
            job.cancel()
        with self._cv:
            if self._stepping or self.generator is None:
                return
            self._stepping = True
            pending = [j for j in jobs if j in self._pending]
            for job in pending:
                self._pending.remove(job)
        try:
            for job in pending:
                self._finish(job, "cancelled")
            gen = self.generator
            mine = {slot: job for slot, job in self._jobs.items() if job in jobs}
            for slot in mine:
                gen.cancel(slot)
            self._collect(gen, mine)
            for slot in mine:  # nobody reads an abandoned sequence: its slot is free at once
                gen.release(slot)
                self._finished.discard(slot)
        finally:
            self._end_turn()

    def _fail_if_broken(self) -> None:
        """After an interrupted native call (its turn held): a generator that failed mid-decode
        is over, its requests fail and a new one takes its place."""
        gen = self.generator
        if gen is not None and gen.failure:
            self._fail_all(ContextError(f"the generation was interrupted ({gen.failure})"))

    def _end_turn(self) -> None:
        with self._cv:
            self._stepping = False
            self._cv.notify_all()

    # --- the stepping thread -----------------------------------------------------------------
    def _admit(self, jobs: list[Job], *, raise_errors: bool, join: bool) -> None:
        """Decode the new jobs' prompts together; a job whose prompt is refused gets its error.
        join: in the next step's batch, whose decode of each prompt's last token gives its first
        token (the server's time to first token); else now (a caller's eager admission: its
        generation time then starts after the prompt). The native layer prefills apart anyway
        where the prompts do not fit the step's batch or the target is recurrent/hybrid."""
        ready = [job for job in jobs if not self._drop_if_cancelled(job)]
        if not ready:
            return
        gen = self._gen()
        for slot in self._finished:  # their KV stays in the slot for a prompt that continues it
            gen.release(slot)
        self._finished.clear()
        t0 = time.perf_counter()
        try:
            self._place(ready, gen.add_sequences([j.tokens for j in ready], [j.sequence for j in ready],  # type: ignore[misc]
                                                 join_next_step=join), t0, join)
        except InvalidArgumentError:  # one of them (its prompt, its grammar): find it, admit the others
            if raise_errors and len(ready) == 1:
                raise
            for job in ready:
                try:
                    self._place([job], gen.add_sequences([job.tokens], [job.sequence],  # type: ignore[list-item]
                                                         join_next_step=join), time.perf_counter(), join)
                except InvalidArgumentError as e:
                    if raise_errors:
                        raise
                    self._reject(job, e)

    def _place(self, jobs: list[Job], slots: list[int], t0: float, joined: bool) -> None:
        gen = self._gen()
        now = time.perf_counter()
        cached = gen.n_cached
        joining = set(gen.joining_slots) if joined else set()  # not where the native layer prefilled apart
        n_drafts = gen.n_draft_lengths  # one entry per step with a follower of the adaptive length
        for slot, job in zip(slots, jobs, strict=True):
            job.slot, job.n_cached, job.joined = slot, cached[slot], slot in joining
            job.first_step = job.last_step = gen.n_steps
            job.first_draft = n_drafts
            job.drafter_stats = gen.drafter_stats
            job.t_admitted, job.prompt_seconds = now, now - t0
            job.t_draft, job.t_verify, job.t_process = -gen.t_draft, -gen.t_verify, -gen.t_process
            self.stats.prompt_tokens += len(job.tokens)
            self.stats.cached_prompt_tokens += job.n_cached
            with self._cv:
                self._jobs[slot] = job
        if any(gen.finish_reasons[s] for s in slots):  # max_tokens=0: done without a step
            self._collect(gen, {s: j for s, j in zip(slots, jobs, strict=True)})

    def _drop_if_cancelled(self, job: Job) -> bool:
        if job.cancelled:
            self._finish(job, "cancelled")
        return job.cancelled

    def _reject(self, job: Job, error: BaseException) -> None:
        self.stats.requests_failed += 1
        job.error = error
        job.emit(("error", error))

    def _step(self) -> None:
        gen = self._gen()
        with self._cv:
            jobs = dict(self._jobs)
        for slot, job in jobs.items():
            if job.cancelled:
                gen.cancel(slot)
        if gen.active_slots:
            t0 = time.perf_counter()
            new_tokens = gen.step()
            self.stats.steps += 1
            n_new = sum(len(new_tokens[s]) for s in jobs)
            self.stats.tokens_generated += n_new
            self.stats.recent.append((time.perf_counter(), n_new))
            for slot, job in jobs.items():
                job.n_generated += len(new_tokens[slot])
                if job.joined and job.first_step == gen.n_steps - 1:
                    job.prompt_seconds += time.perf_counter() - t0  # its prompt was decoded in this step
        self._collect(gen, jobs)

    def _collect(self, gen: Generator, jobs: dict[int, Job]) -> None:
        reasons = gen.finish_reasons
        all_tokens: list[list[int]] | None = None
        for slot, job in jobs.items():
            text = gen.take_text(slot)
            if text:
                job.emit(("text", text))
            if reasons[slot]:
                if all_tokens is None:
                    all_tokens = gen.tokens
                job.result_tokens, job.text = list(all_tokens[slot]), gen.text(slot)
                job.n_generated, job.last_step, job.t_done = len(job.result_tokens), gen.n_steps, time.perf_counter()
                job.t_draft += gen.t_draft
                job.t_verify += gen.t_verify
                job.t_process += gen.t_process
                session = gen.session
                job.stats = session.stats if session is not None else None
                job.draft_lengths = gen.draft_lengths_from(job.first_draft)
                job.controller = gen.controller
                job.drafter_stats = drafter_stats_since(gen.drafter_stats, job.drafter_stats)
                job.step_drafters = gen.step_drafters_from(job.first_step)
                job.step_draft_lengths = gen.step_draft_lengths_from(job.first_step)
                with self._cv:
                    del self._jobs[slot]
                    self._finished.add(slot)
                self._finish(job, reasons[slot])

    def _finish(self, job: Job, reason: str) -> None:
        if reason == "cancelled":
            self.stats.requests_cancelled += 1
        else:
            self.stats.requests_finished += 1
        job.finish_reason = reason
        job.emit(("done", reason))

    def _fail_all(self, error: BaseException) -> None:
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

    def save_costs(self) -> None:
        """Keep what the one-slot controller learned for the next LLM with the same settings."""
        gen = self.generator
        controller = gen.controller if gen is not None and self._cost_key is not None else None
        if self._cost_key is not None and controller is not None and controller.n_steps >= _cost_cache.MIN_STEPS:
            _cost_cache.save(self._cost_key, controller.state())

    def close(self) -> None:
        """Refuse new work, fail what waits, wait for the step in flight, free the contexts."""
        with self._cv:
            self._stopping = True
            waiting = list(self._pending) + list(self._jobs.values())
            self._pending.clear()
            self._jobs.clear()
            self._cv.notify_all()
            while self._stepping:
                self._cv.wait()
        for job in waiting:
            self._reject(job, EngineStoppedError("this LLM is closed"))
        if self.generator is None:
            return
        self.save_costs()
        self.generator = None  # its contexts are in use until it goes
        for ctx in (self.draft, self.target):
            if ctx is not None:
                try:
                    ctx.close()
                except ContextError:  # a Generator or view the caller still holds: freed with it
                    pass

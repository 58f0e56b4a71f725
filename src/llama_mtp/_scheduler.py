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
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from . import _cost_cache
from ._core import Context, ContextError, Generator, Grammar, Model, SequenceOptions
from ._interrupts import HeldInterrupts
from ._jobs import EngineStats, EngineStoppedError, Event, Job, JobOptions, QueueFullError
from ._stepping import SteppingThread, first_line, one_line
from .draft_vocab import draft_vocab_ids
from .drafters import Drafters
from .options import DraftConfig
from .sizing import context_sizes

__all__ = ["EngineStats", "EngineStoppedError", "Event", "Job", "JobOptions", "QueueFullError", "Scheduler"]


class Scheduler(SteppingThread):
    """One model's contexts and slotted Generator, stepped by whichever thread waits for it."""

    def __init__(
        self,
        model: Model,
        *,
        parallel: int,
        ctx_per_sequence: int,
        drafters: Drafters,
        draft: DraftConfig,
        n_threads: int | None,
        n_batch: int = 512,
        max_queue: int = 64,
    ) -> None:
        """draft: the LLM's DraftConfig, its n-gram sizes resolved for the model."""
        self.model = model
        self.draft_config = draft
        self.ngram = draft.ngram if drafters.ngram else None  # the n-gram drafter's name (None: no drafts from the text)
        self.ngram_n_max, self.ngram_size_n = int(draft.ngram_n_max or 1), int(draft.ngram_size_n or 1)
        self.exact = draft.exact  # the default of a request that does not say
        self.parallel = parallel
        self.max_queue = max_queue
        self.mtp = drafters.mtp
        self.n_draft_max = draft.n_draft_max
        self.ceiling = draft.longest_mtp_draft if self.mtp else 0
        self.ctx_per_sequence = ctx_per_sequence
        self._n_threads = n_threads
        self._n_batch = n_batch
        self._n_min, self._p_min = draft.n_min, draft.p_min
        self.stats = EngineStats()
        # entered through its lock (a C method), never through the Condition's own Python
        # __enter__, where a KeyboardInterrupt after the acquire would leave it held
        self._lock = threading.RLock()
        self._cv = threading.Condition(self._lock)
        self._pending: collections.deque[Job] = collections.deque()
        self._jobs: dict[int, Job] = {}  # slot -> the job generating there
        self._finished: set[int] = set()  # slots whose sequence ended, released at the next admission
        self._stepping: object | None = None  # the turn's token while a thread has the turn
        self._stopping = False
        # "adaptive" on one slot starts where the last generation with the same model, machine and
        # settings ended (_cost_cache), its contexts sized to the lengths that may pay by it
        self._cost_key: str | None = None
        self._prior: dict[str, Any] | None = None
        # the MTP head's draft vocabulary at the start (None: the whole)
        self.draft_vocab = draft_vocab_ids(model, draft.draft_vocab) if self.mtp else None
        self.draft_vocab_size = None if self.draft_vocab is None else int(self.draft_vocab.size)
        if self.mtp and draft.adaptive and parallel == 1 and _cost_cache.cost_cache_dir() is not None:
            self._cost_key = _cost_cache.cost_key(
                model,
                n_threads=n_threads,
                exact=self.exact,
                n_draft_max=self.ceiling,
                draft_vocab=self.draft_vocab_size,
            )
            self._prior = _cost_cache.load(self._cost_key) if self._cost_key is not None else None
            self.ceiling = _cost_cache.lengths_in_use(self._prior, self.ceiling)
        self.generator: Generator | None = None
        self._open_generator()

    def _open_generator(self) -> None:
        longest = max(self.ceiling, self.ngram_n_max if self.ngram else 0)
        sizes = context_sizes(
            self.model,
            longest_draft=longest or 1,
            n_seq=self.parallel,
            n_ctx=self.ctx_per_sequence,
            n_batch=self._n_batch,
            n_threads=self._n_threads,
        )
        target_params = sizes.target()
        if not longest:
            target_params["n_rs_seq"] = 0
        self.target = Context(self.model, **target_params)  # type: ignore[arg-type]
        self.draft = Context(self.model, **sizes.draft()) if self.mtp else None  # type: ignore[arg-type]
        if self.draft is not None and self.draft_vocab is not None:
            self.draft.set_draft_vocabulary(self.draft_vocab)
        self.generator = Generator.with_slots(
            self.target,
            self.draft,
            n_slots=self.parallel,
            n_draft_max=max(self.ceiling, 1),
            adaptive=self.draft_config.adaptive,
            n_min=self._n_min,
            p_min=self._p_min,
            ngram=self.ngram,
            ngram_n_max=self.ngram_n_max,
            ngram_size_n=self.ngram_size_n,
        )
        if self._n_threads is None:
            # the auto thread count: one per physical core at most, fewer while other processes
            # keep cores busy (ggml's spinning barriers then run far slower: ThreadController)
            self.generator.adapt_threads(True)
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
        with self._lock:
            return len(self._pending)

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._jobs)

    def busy_slots(self) -> dict[int, Job]:
        """The slots generating now and their jobs (a copy)."""
        with self._lock:
            return dict(self._jobs)

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
        s = o.sampling
        job.sequence = SequenceOptions(
            max_tokens=s.max_tokens,
            temperature=s.temperature,
            top_k=s.top_k,
            top_p=s.top_p,
            min_p=s.min_p,
            seed=o.seed,
            stop=list(o.stop),
            n_draft=o.n_draft if self.mtp else -1,
            ngram=o.ngram,
            grammar=o.grammar,
            ignore_eos=s.ignore_eos,
            exact=o.exact,
            sampled_drafts=o.sampled_drafts,
            logit_bias=list((s.logit_bias or {}).items()),
            n_probs=-1 if s.logprobs == 0 else s.logprobs or 0,
        )

    def submit(self, jobs: Sequence[Job], *, bounded: bool = True, admit_now: bool = False) -> None:
        """Queue jobs, validated first (prepare()). bounded: QueueFullError when max_queue jobs
        already wait for a slot (the server's bound; a Python caller waits instead).
        admit_now: where no other thread is stepping and the slots are free, decode their
        prompts here and now, so that a bad prompt raises in the caller."""
        for job in jobs:
            self.prepare(job)

        def decide(turn_free: bool) -> bool:  # under the lock: admit here and now, or queue them
            if self._stopping or self.generator is None:
                raise EngineStoppedError("this LLM is closed" if self.generator is None else "the server is shutting down")
            free = max(0, self.parallel - len(self._jobs))
            if bounded and len(self._pending) + len(jobs) > self.max_queue + free:
                raise QueueFullError(f"{len(self._pending)} requests are queued (the bound is {self.max_queue})")
            if admit_now and turn_free and not self._pending and len(jobs) <= free:
                return True
            self._pending.extend(jobs)
            self._cv.notify_all()
            return False

        def admit() -> None:
            try:
                self._heal(self._gen())
                self._admit(list(jobs), raise_errors=True, join=bool(self._jobs), own=jobs)
            except BaseException:
                for job in jobs:
                    job.cancel()
                self._fail_if_broken()
                raise

        self._in_turn(decide, admit)

    def wake(self) -> None:
        with self._lock:
            self._cv.notify_all()

    def drive(self, until: Callable[[], bool], *, own: Sequence[Job] = ()) -> None:
        """Step the generator on this thread until until() holds (it is checked under the lock
        after every step), or wait while another thread steps. own: the caller's jobs, cancelled
        when this thread is interrupted (Ctrl-C) while waiting or between native calls; a
        Ctrl-C during a step that holds other callers' sequences comes after that step, so that
        theirs go on."""
        held = HeldInterrupts()  # one for the whole call: each step's turn holds no handler swap
        with held:
            self._drive(until, own, held)

    def _drive(self, until: Callable[[], bool], own: Sequence[Job], held: HeldInterrupts) -> None:
        try:
            while True:
                with self._lock:
                    while not until():
                        if self._stopping:
                            raise EngineStoppedError("this LLM is closed")
                        if self._stepping is None and (self._pending or self._jobs):
                            break
                        self._cv.wait()  # a Ctrl-C meanwhile is held: raised once woken
                        held.raise_if_caught()
                    else:
                        return
                held.raise_if_caught()
                self._take_turn(own)
                held.raise_if_caught()
        except BaseException:  # KeyboardInterrupt, an EngineStoppedError: the caller stops waiting
            for job in own:
                job.cancel()
            # where no other thread has the turn (else it sees the cancellation): a generator
            # the interrupt broke is replaced
            self._in_turn(lambda turn_free: True, self._fail_if_broken)
            raise

    def _take_turn(self, own: Sequence[Job]) -> None:
        """One turn of this thread, where no other thread has one and there is work: admit what
        waits, step once."""
        self._in_turn(lambda turn_free: bool(self._pending or self._jobs), lambda: self._turn(own))

    def _turn(self, own: Sequence[Job]) -> None:
        """Every job taken for admission ends placed, still queued or failed, whatever
        interrupts the turn."""
        gen = self._gen()
        self._heal(gen)
        with self._lock:
            admit = list(itertools.islice(self._pending, max(0, self.parallel - len(self._jobs))))
        try:
            self._admit(admit, raise_errors=False, join=True, own=own)
        except Exception as e:  # their prefill failed: they fail, the generator restarts if broken
            for job in admit:
                self._fail_if_queued(job, e)
            self._fail_if_broken()
            return
        try:
            self._step(own)
        except Exception as e:
            if gen.failure:  # the generation failed: its requests fail, a new one starts
                self._fail_all(one_line(e))
            elif own:  # not the generation's: the caller's own requests end with it
                raise
            else:  # the server's driver has no request of its own: it must go on
                self._fail_all(ContextError(f"the engine failed ({type(e).__name__}: {first_line(e)})"))

    def abandon(self, jobs: Sequence[Job]) -> None:
        """The caller stopped waiting for jobs (it broke out of a stream): cancel them, and free
        their slots now where no other thread is stepping (else that thread does, next step)."""
        for job in jobs:
            job.cancel()

        def free_slots() -> None:
            for job in jobs:
                self._fail_if_queued(job, None)
            gen = self._gen()
            mine = {slot: job for slot, job in self._jobs.items() if job in jobs}
            for slot in mine:
                gen.cancel(slot)
            self._collect(gen, mine)
            for slot in mine:  # nobody reads an abandoned sequence: its slot is free at once
                gen.release(slot)
                self._finished.discard(slot)

        self._in_turn(lambda turn_free: self.generator is not None, free_slots)

    def _in_turn(self, decide: Callable[[bool], bool], body: Callable[[], None]) -> None:
        """Run body with the turn (the one thread that may touch the generator), where
        decide(turn_free), called under the lock, asks for it and no other thread has it.
        Ctrl-C on the main thread is held meanwhile. The turn is given back twice, the second
        time from a finally block of the first: an asynchronous exception in a worker thread
        that interrupts one give-back cannot leave the turn taken or the waiters asleep (the
        token makes the second a no-op)."""
        with HeldInterrupts():
            took: object | None = None
            try:
                with self._lock:
                    free = self._stepping is None
                    if not decide(free) or not free:
                        return
                    self._stepping = took = object()
                body()
            finally:
                if took is not None:
                    try:
                        self._give_back(took)
                    finally:
                        self._give_back(took)

    def _fail_if_broken(self) -> None:
        """After an interrupted native call (its turn held): a generator that failed mid-decode
        is over, its requests fail and a new one takes its place."""
        gen = self.generator
        if gen is not None and gen.failure:
            first = gen.failure.splitlines()[0] if gen.failure.strip() else "no reason given"
            self._fail_all(ContextError(f"the generation was interrupted ({first})"))

    def _give_back(self, turn: object) -> None:
        """End the turn `turn` (a no-op where it ended already) and wake the waiting threads."""
        with self._lock:
            if self._stepping is turn:
                self._stepping = None
            self._cv.notify_all()

    def save_costs(self) -> None:
        """Keep what the one-slot controller learned for the next LLM with the same settings."""
        gen = self.generator
        controller = gen.controller if gen is not None and self._cost_key is not None else None
        if self._cost_key is not None and controller is not None and controller.n_steps >= _cost_cache.MIN_STEPS:
            _cost_cache.save(self._cost_key, controller.state())

    def close(self) -> None:
        """Refuse new work, fail what waits, wait for the step in flight, free the contexts."""
        with self._lock:
            self._stopping = True
            waiting = list(self._pending) + list(self._jobs.values())
            self._pending.clear()
            self._jobs.clear()
            self._cv.notify_all()
            while self._stepping is not None:
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

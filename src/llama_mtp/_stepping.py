"""The stepping thread's work for the Scheduler: admitting queued jobs into the generator's
slots, stepping it, handing each job its text and its end, failing them when the generation
fails. Every move of a job between the queue, a slot and its end is ordered so that an
exception between two of its statements (an asynchronous one in a worker thread) leaves it
in one of the three, never in none: a job leaves the queue after it is placed, and its slot
after it is finished; _heal() then puts right what such an exception left."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Sequence

from ._core import ContextError, Generator, InvalidArgumentError
from ._jobs import EngineStats, EngineStoppedError, Job
from .drafters import drafter_stats_since


class SteppingThread:
    """The Scheduler's state that a turn changes, and the turn's steps (a base class of it)."""

    _lock: threading.RLock
    _pending: collections.deque[Job]
    _jobs: dict[int, Job]  # slot -> the job generating there
    _finished: set[int]  # slots whose sequence ended, released at the next admission
    _stopping: bool
    stats: EngineStats

    def _gen(self) -> Generator:
        raise NotImplementedError

    def _open_generator(self) -> None:
        raise NotImplementedError

    def _remove_pending(self, job: Job) -> bool:
        """Take job out of the queue; whether it was there."""
        with self._lock:
            try:
                self._pending.remove(job)
            except ValueError:
                return False
            return True

    def _heal(self, gen: Generator) -> None:
        """Put right what an exception between two statements of an earlier turn left (an
        asynchronous exception in a worker thread): a native slot in use that no job holds is
        freed, a job both placed and queued leaves the queue."""
        with self._lock:
            known = set(self._jobs) | self._finished
            placed = list(self._jobs.values())
        orphans = set(range(gen.n_slots)) - set(gen.free_slots) - known
        for slot in orphans:
            gen.cancel(slot)
            gen.release(slot)
        for job in placed:
            self._remove_pending(job)

    def _only_own(self, own: Sequence[Job], also: Sequence[Job] = ()) -> bool:
        """Whether every sequence in the generator (and those about to join it) is the caller's."""
        mine = {id(j) for j in own}
        with self._lock:
            theirs = [j for j in self._jobs.values() if id(j) not in mine]
        return not theirs and all(id(j) in mine for j in also)

    def _admit(self, jobs: list[Job], *, raise_errors: bool, join: bool, own: Sequence[Job] = ()) -> None:
        """Place the new jobs' prompts; a job whose prompt is refused gets its error. Each prompt
        is decoded as llama-completion decodes it: its last batch, whose last row gives its first
        token, goes into the next step (alone there when no sequence verifies, where its time
        counts as prompt time; join: beside the other sequences' verify rows too, the server's
        time to first token). The batches before it are decoded now; the native layer decodes
        all but the last token now where the last batch cannot join (no room in the step's
        batch; a recurrent/hybrid target, whose state before it is kept for a chat's next turn).
        A job leaves the queue when it is placed in a slot (or refused), not before."""
        ready = [job for job in jobs if not self._drop_if_cancelled(job)]
        if not ready:
            return
        gen = self._gen()
        while self._finished:  # their KV stays in the slot for a prompt that continues it
            gen.release(self._finished.pop())  # interrupted between: an orphan slot, _heal() frees it
        gen.set_interruptible(self._only_own(own, ready))
        t0 = time.perf_counter()
        try:
            self._place(
                ready,
                gen.add_sequences(
                    [j.tokens for j in ready],
                    [j.sequence for j in ready],  # type: ignore[misc]
                    join_next_step=join,
                ),
                t0,
            )
        except InvalidArgumentError:  # one of them (its prompt, its grammar): find it, admit the others
            if raise_errors and len(ready) == 1:
                raise
            for job in ready:
                try:
                    self._place(
                        [job],
                        gen.add_sequences(
                            [job.tokens],
                            [job.sequence],  # type: ignore[list-item]
                            join_next_step=join,
                        ),
                        time.perf_counter(),
                    )
                except InvalidArgumentError as e:
                    if raise_errors:
                        raise
                    self._fail_pending(job, e)

    def _place(self, jobs: list[Job], slots: list[int], t0: float) -> None:
        gen = self._gen()
        now = time.perf_counter()
        cached = gen.n_cached
        joining = set(gen.joining_slots)  # the next step decodes their prompt's last batch
        n_drafts = gen.n_draft_lengths  # one entry per step with a follower of the adaptive length
        for slot, job in zip(slots, jobs, strict=True):
            job.slot, job.n_cached, job.prompt_pending = slot, cached[slot], slot in joining
            job.first_step = job.last_step = gen.n_steps
            job.first_draft = n_drafts
            job.drafter_stats = gen.drafter_stats
            job.t_admitted, job.prompt_seconds = now, now - t0
            job.t_draft, job.t_verify, job.t_process = -gen.t_draft, -gen.t_verify, -gen.t_process
            self.stats.prompt_tokens += len(job.tokens)
            self.stats.cached_prompt_tokens += job.n_cached
            with self._lock:  # placed before it leaves the queue: interrupted between, _heal() sees both
                self._jobs[slot] = job
                self._remove_pending(job)
        if any(gen.finish_reasons[s] for s in slots):  # max_tokens=0: done without a step
            self._collect(gen, {s: j for s, j in zip(slots, jobs, strict=True)})

    def _drop_if_cancelled(self, job: Job) -> bool:
        if job.cancelled:
            self._fail_pending(job, None)
        return job.cancelled

    def _fail_if_queued(self, job: Job, error: BaseException | None) -> None:
        """_fail_pending(job, error) where job still waits in the queue (not where it was placed)."""
        with self._lock:
            queued = job in self._pending
        if queued:
            self._fail_pending(job, error)

    def _fail_pending(self, job: Job, error: BaseException | None) -> None:
        """A queued job ends (cancelled where error is None) and leaves the queue, in that
        order: interrupted between, it is ended twice, never lost."""
        if not job.done:
            if error is None:
                self._finish(job, "cancelled")
            else:
                self._reject(job, error)
        self._remove_pending(job)

    def _reject(self, job: Job, error: BaseException) -> None:
        self.stats.requests_failed += 1
        job.emit(("error", error))
        job.error = error

    def _step(self, own: Sequence[Job] = ()) -> None:
        gen = self._gen()
        with self._lock:
            jobs = dict(self._jobs)
        for slot, job in jobs.items():
            if job.cancelled:
                gen.cancel(slot)
        if gen.active_slots:
            gen.set_interruptible(self._only_own(own))
            t0 = time.perf_counter()
            steps_before = gen.n_steps
            new_tokens = gen.step()
            t1 = time.perf_counter()
            prompts_only = gen.n_steps == steps_before  # nothing verified: the new prompts' prefill
            self.stats.steps += not prompts_only
            self.stats.busy_slot_steps += 0 if prompts_only else len(jobs)
            n_new = sum(len(new_tokens[s]) for s in jobs)
            self.stats.tokens_generated += n_new
            self.stats.recent.append((t1, n_new))
            for slot, job in jobs.items():
                job.n_generated += len(new_tokens[slot])
                if job.prompt_pending:  # its prompt's last batch was decoded in this step
                    job.prompt_pending = False
                    job.prompt_seconds += t1 - t0
                    if prompts_only:  # its generation starts after it, as after a prefill in add()
                        job.t_admitted = t1
                        job.n_prompt_step_tokens = len(new_tokens[slot])
        self._collect(gen, jobs)

    def _collect(self, gen: Generator, jobs: dict[int, Job]) -> None:
        reasons = gen.finish_reasons
        all_tokens: list[list[int]] | None = None
        for slot, job in jobs.items():
            text = gen.take_text(slot)
            if job.options.sampling.logprobs is not None:
                job.token_probs += gen.take_probs(slot)
            if text:
                job.emit(("text", text))
            if reasons[slot] and job.done:  # finished by an earlier, interrupted collection
                self._release_job(slot)
            elif reasons[slot]:
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
                job.own_drafts = gen.sequence_drafter_stats(slot)
                job.step_drafters = gen.step_drafters_from(job.first_step)
                job.step_draft_lengths = gen.step_draft_lengths_from(job.first_step)
                # finished before it leaves its slot: interrupted between, the next collection
                # sees a finished job in a finished slot and only frees it
                self._finish(job, reasons[slot])
                self._release_job(slot)

    def _release_job(self, slot: int) -> None:
        with self._lock:
            self._jobs.pop(slot, None)
            self._finished.add(slot)

    def _finish(self, job: Job, reason: str) -> None:
        if reason == "cancelled":
            self.stats.requests_cancelled += 1
        else:
            self.stats.requests_finished += 1
        job.emit(("done", reason))  # before it reads as done: an owner that saw it done has its event
        job.finish_reason = reason

    def _fail_all(self, error: BaseException) -> None:
        """Every placed request fails with error; a new generator takes the failed one's place."""
        with self._lock:
            jobs = dict(self._jobs)
        for slot, job in jobs.items():  # each leaves its slot once it has its error
            if not job.done:
                self._reject(job, error)
            with self._lock:
                self._jobs.pop(slot, None)
        try:
            self._open_generator()
        except Exception as e:  # no generator to go on with: refuse new work, fail what waits
            with self._lock:
                self._stopping = True
                waiting = list(self._pending)
                self._pending.clear()
            for job in waiting:
                self._reject(job, EngineStoppedError(f"the engine could not restart: {e}"))


def one_line(error: Exception) -> Exception:
    """error, or a ContextError of its first line where its message spans several (a Python
    traceback carried through the native layer): each request that fails with it gets one line."""
    if "\n" not in str(error):
        return error
    one: Exception = ContextError(f"the generation failed ({type(error).__name__}: {first_line(error)})")
    return one


def first_line(error: BaseException) -> str:
    lines = str(error).splitlines()
    return lines[0] if lines else ""

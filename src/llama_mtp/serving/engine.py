"""The server's side of an LLM: its requests go to the LLM's scheduler (continuous batching on
one slotted Generator, a slot's KV kept for a prompt that continues it), stepped by a driver
thread so that the event loop never waits on a decode. Python callers of the same LLM share
those steps."""

from __future__ import annotations

import asyncio
import threading

from .._core import Model
from .._scheduler import EngineStats, EngineStoppedError, Event, JobOptions, QueueFullError
from .._scheduler import Job as _Job
from ..llm import LLM
from ..sizing import DraftLength

__all__ = ["BatchEngine", "EngineStoppedError", "Job", "JobOptions", "QueueFullError"]


class Job(_Job):
    """One request's sequence: its events arrive on an asyncio queue of the request's loop."""

    def __init__(self, tokens: list[int], options: JobOptions, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(tokens, options)
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self._loop = loop

    def emit(self, event: Event) -> None:
        try:
            self._loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the request's loop is closed: nobody listens any more
            pass


class BatchEngine:
    """Serves generation requests from an LLM (it owns the LLM and closes it)."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self._scheduler = llm._scheduler  # noqa: SLF001  # the one scheduler an LLM's callers share
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="llama-mtp-engine", daemon=True)
        self._thread.start()

    @property
    def model(self) -> Model:
        return self.llm.model

    @property
    def mtp(self) -> bool:
        return self.llm.mtp

    @property
    def exact(self) -> bool:
        return self._scheduler.exact

    @property
    def n_draft_max(self) -> DraftLength:
        return self._scheduler.n_draft_max

    @property
    def ceiling(self) -> int:
        return self._scheduler.ceiling

    @property
    def parallel(self) -> int:
        return self._scheduler.parallel

    @property
    def n_ctx_per_sequence(self) -> int:
        return self._scheduler.n_ctx_per_sequence

    @property
    def stats(self) -> EngineStats:
        return self._scheduler.stats

    @property
    def queue_length(self) -> int:
        return self._scheduler.queue_length

    @property
    def active(self) -> int:
        return self._scheduler.active

    def busy_slots(self) -> dict[int, _Job]:
        """The slots generating now and their jobs."""
        return self._scheduler.busy_slots()

    def prepare(self, job: Job) -> None:
        """Validate a job's options (InvalidArgumentError; a grammar is parsed against the
        model's vocabulary: call it off the event loop where a grammar is given)."""
        self._scheduler.prepare(job)

    def submit(self, job: Job) -> None:
        """Queue a job: validated first, then admitted by the driver; QueueFullError when
        max_queue jobs already wait for a slot."""
        self._scheduler.submit([job], bounded=True)

    def wake(self) -> None:
        self._scheduler.wake()

    def close(self) -> None:
        self._stopping = True
        self._scheduler.wake()
        self._thread.join()
        self.llm.close()

    def _run(self) -> None:
        try:
            self._scheduler.drive(lambda: self._stopping)
        except EngineStoppedError:  # the LLM was closed under it
            pass

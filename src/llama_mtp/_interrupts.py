"""Ctrl-C held back while the scheduler's bookkeeping runs.

Python raises KeyboardInterrupt on the main thread between any two calls, finally blocks and a
Condition's own code included: one arriving while a turn of the scheduler moves a request
between its queue and a slot, or while it gives the turn back, would lose the request or leave
every other thread waiting for a turn that never ends. Within `HeldInterrupts`, SIGINT on the
main thread is recorded instead and raised when the block ends, where no state is half-moved.
The native layer still stops a long decode at once where the scheduler lets it
(Generator.interruptible): the decode's abort is an error inside the block, the
KeyboardInterrupt comes at its end.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

_holding = False  # a block on the main thread holds SIGINT now (nested blocks are no-ops)


class HeldInterrupts:
    """A block during which Ctrl-C on the main thread is recorded, then raised at its end (or
    at raise_if_caught()).

    A no-op on other threads (Python delivers SIGINT to the main thread only), inside another
    such block, and where the program installed a SIGINT handler of its own (which may do
    anything at any point). One handler swap per block (a few microseconds): the scheduler
    holds one block per drive() call, not per step.
    """

    def __init__(self) -> None:
        self.caught = False
        self._previous: Any = None

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.caught = True

    def raise_if_caught(self) -> None:
        """Raise the KeyboardInterrupt a Ctrl-C during the block stands for, here and now."""
        if self.caught:
            self.caught = False
            raise KeyboardInterrupt

    def __enter__(self) -> HeldInterrupts:
        global _holding
        if not _holding and threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._record)
            if previous is signal.default_int_handler:
                self._previous, _holding = previous, True
            else:  # the program's own handler (or SIG_IGN): left to it
                signal.signal(signal.SIGINT, previous)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        global _holding
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous, _holding = None, False
        self.raise_if_caught()

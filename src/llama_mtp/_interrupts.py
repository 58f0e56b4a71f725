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


class HeldInterrupts:
    """A block during which Ctrl-C on the main thread is recorded, then raised at its end.

    A no-op on other threads (Python delivers SIGINT to the main thread only) and where the
    program installed a SIGINT handler of its own (which may do anything at any point).
    """

    def __init__(self) -> None:
        self.caught = False
        self._previous: Any = None

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.caught = True

    def __enter__(self) -> HeldInterrupts:
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._record)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if self.caught:
            self.caught = False
            raise KeyboardInterrupt

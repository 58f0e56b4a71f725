"""A `llama-mtp serve` subprocess on a free localhost port, for the server tests."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path


class ServerProcess:
    def __init__(self, model: Path, *args: str, startup_timeout: float = 120.0) -> None:
        cmd = [
            sys.executable,
            "-m",
            "llama_mtp.cli",
            "--log-level",
            "none",
            "serve",
            "-m",
            str(model),
            "--port",
            "0",
            "--threads",
            "2",
            *args,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise AssertionError(f"the server did not start: {''.join(self.output)}") from None
            if "listening on " in line:
                self.url = line.split("listening on ", 1)[1].strip()
                return
            if line == "":  # its output ended: it exited (or is exiting) without listening
                self.proc.wait(timeout=60)
                raise AssertionError(f"the server exited: {''.join(self.output)}")

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put("")

    def stop(self) -> bool:
        """Terminate it; True when it shut down cleanly (uvicorn finishes the requests, closes
        the engine, then re-raises SIGTERM by design: status -15, no traceback)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Windows has no SIGTERM: terminate() ends the process at once (status 1)
        graceful = self.proc.returncode in (0, -15) or sys.platform == "win32"
        return graceful and "Traceback" not in "".join(self.output)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Polls a condition that another process makes true (a bounded wait, not a sleep that
    assumes an order)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()

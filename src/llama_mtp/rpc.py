"""ggml's RPC backend: serve this machine's devices to clients that place layers on them.

A client loads with ``Model(path, rpc_servers=["host:port", ...])``; each worker runs
``llama-mtp rpc-server`` (upstream's server, not a new protocol). The protocol has no
authentication and no encryption: bind to 127.0.0.1 or a network only trusted machines reach.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO

from ._core import serve_rpc, set_rpc_timeouts

__all__ = ["LocalRpcServer", "run_rpc_server", "set_rpc_timeouts", "UNSAFE_HOST_WARNING"]

# upstream rpc-server's warning, word for word, for any host but 127.0.0.1
UNSAFE_HOST_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
WARNING: Host ('{host}') is != '127.0.0.1'
         Never expose the RPC server to an open network!
         This is an experimental feature and is not secure!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


def run_rpc_server(
    host: str = "127.0.0.1", port: int = 50052, *, n_threads: int | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> None:
    """Serve until the process is interrupted (Ctrl-C or SIGTERM) or the server fails.

    ggml's server loop blocks in native code, so it runs in a daemon thread while the main
    thread waits: Ctrl-C reaches Python at once and ends the process. Raises BackendError
    when the server cannot listen."""
    if host != "127.0.0.1":
        print(UNSAFE_HOST_WARNING.format(host=host), file=sys.stderr, flush=True)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            serve_rpc(host, port, n_threads=n_threads, cache_dir=cache_dir)
        except BaseException as e:  # reported by the main thread
            failure.append(e)

    worker = threading.Thread(target=serve, name="llama-mtp-rpc-server", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=0.5)  # a bounded wait keeps the main thread responsive to signals
    if failure:
        raise failure[0]


class LocalRpcServer:
    """``llama-mtp rpc-server`` as a child process on a free localhost port, for tests,
    benchmarks and trying RPC on one machine::

        with LocalRpcServer(n_threads=2) as worker:
            model = Model(path, rpc_servers=[worker.endpoint])

    Started on entry (once it accepts connections), killed on exit; kill() ends it at once,
    as a crashed worker would."""

    def __init__(self, *, n_threads: int | None = None, startup_timeout: float = 60.0) -> None:
        self.n_threads = n_threads
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None  # its stderr: a file, so that it never blocks on a full pipe

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> LocalRpcServer:
        for _ in range(5):  # another process may take the free port first
            self.port = _free_port()
            if self._log is not None:
                self._log.close()
            self._log = tempfile.TemporaryFile()
            self.process = subprocess.Popen(self._command(), stdout=subprocess.DEVNULL, stderr=self._log, env=self._env())
            if self._wait_until_listening():
                return self
        raise RuntimeError(f"llama-mtp rpc-server did not start: {self._stderr()}")

    def _command(self) -> list[str]:
        """The worker to run on self.port (benchmarks/ runs upstream's ggml-rpc-server this way)."""
        cmd = [sys.executable, "-m", "llama_mtp.cli", "rpc-server", "--port", str(self.port)]
        return cmd + (["--threads", str(self.n_threads)] if self.n_threads is not None else [])

    def _env(self) -> dict[str, str] | None:
        return None  # this process's environment

    def close(self) -> None:
        """kill(), and drop its log."""
        self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _wait_until_listening(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.01
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
                return True
            except OSError:
                time.sleep(delay)  # polling a port that is not open yet, with a deadline
                delay = min(delay * 2, 0.2)
        self.kill()
        return False

    def _stderr(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait()

    def __enter__(self) -> LocalRpcServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

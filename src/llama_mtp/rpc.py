"""ggml's RPC backend: serve this machine's devices to clients that place layers on them.

A client loads with ``Model(path, rpc_servers=["host:port", ...])``; each worker runs
``llama-mtp rpc-server`` (upstream's server, not a new protocol). The protocol has no
authentication and no encryption: bind to 127.0.0.1 or a network only trusted machines reach.
"""

from __future__ import annotations

import os
import sys
import threading

from ._core import serve_rpc

__all__ = ["run_rpc_server", "UNSAFE_HOST_WARNING"]

# upstream rpc-server's warning, word for word, for any host but 127.0.0.1
UNSAFE_HOST_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
WARNING: Host ('{host}') is != '127.0.0.1'
         Never expose the RPC server to an open network!
         This is an experimental feature and is not secure!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


def run_rpc_server(host: str = "127.0.0.1", port: int = 50052, *, n_threads: int | None = None,
                   cache_dir: str | os.PathLike[str] | None = None) -> None:
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

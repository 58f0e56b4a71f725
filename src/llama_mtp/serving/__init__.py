"""`llama-mtp serve`: an OpenAI-compatible HTTP server with continuous batching and MTP
drafting for every request (needs the `server` extra: starlette, uvicorn, prometheus_client)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from ..drafters import DEFAULT_NGRAM, Draft, NgramKind
from ..sizing import DraftLength


def serve(model_path: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8080, parallel: int = 4,
          ctx_size: int = 4096, mtp: bool = True, n_draft_max: DraftLength = "auto", n_threads: int | None = None,
          max_queue: int = 64, api_key: str | None = None, chat_template: str | None = None,
          model_id: str | None = None, log_level: str = "warning", n_gpu_layers: int | None = None,
          rpc_servers: list[str] | None = None, exact: bool = False, draft: Draft | None = None,
          ngram: NgramKind = DEFAULT_NGRAM) -> None:
    """Load the model and serve it until interrupted. Prints one line "listening on URL" once
    the socket is bound (port 0 picks a free port). draft, ngram: LLM()'s (requests may ask for
    less with their "draft" field). n_gpu_layers and rpc_servers go to Model(). exact: the default of a request
    without an "exact" field (batch-invariant decoding; README, "Exactness")."""
    import uvicorn

    from .._core import ChatTemplate, Model
    from ..llm import LLM
    from .app import create_app
    from .engine import BatchEngine

    model = Model(model_path, n_gpu_layers=n_gpu_layers, rpc_servers=rpc_servers)
    template = ChatTemplate(model, source=chat_template or "")
    # the same engine object as Python's: ctx_size KV cells per slot, a slot's KV kept for the
    # next request that begins with it
    llm = LLM(model, n_ctx=ctx_size * parallel, n_parallel=parallel, mtp=None if mtp else False,
              draft=draft, ngram=ngram, n_draft_max=n_draft_max, n_threads=n_threads, max_queue=max_queue,
              exact=exact)
    engine = BatchEngine(llm)
    app = create_app(engine, model_id=model_id or Path(model_path).name, template=template, api_key=api_key)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                            timeout_graceful_shutdown=5)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            for s in self.servers:
                for sock in s.sockets:
                    addr = sock.getsockname()
                    print(f"llama-mtp serve: listening on http://{addr[0]}:{addr[1]}", flush=True)

    if host not in ("127.0.0.1", "localhost", "::1") and api_key is None:
        print(f"llama-mtp serve: warning: listening on {host} without --api-key: anyone who reaches this "
              "port can use the model", file=sys.stderr, flush=True)
    Server(config).run()


__all__ = ["serve"]

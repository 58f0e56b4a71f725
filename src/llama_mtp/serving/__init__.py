"""`llama-mtp serve`: an OpenAI-compatible HTTP server with continuous batching and MTP
drafting for every request (needs the `server` extra: starlette, pydantic, uvicorn, prometheus_client)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from ..options import DraftConfig


def serve(
    model_path: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    parallel: int = 4,
    ctx_size: int | None = None,
    draft: DraftConfig | None = None,
    n_threads: int | None = None,
    max_queue: int = 64,
    api_key: str | None = None,
    chat_template: str | None = None,
    model_id: str | None = None,
    tags: str | None = None,
    log_level: str = "warning",
    n_gpu_layers: int | None = None,
    rpc_servers: list[str] | None = None,
    n_predict: int = -1,
    seed: int | None = None,
    cors_origins: str = "localhost",
    metrics: bool = True,
    slots: bool = True,
    verbose: bool = False,
    reasoning: str = "auto",
) -> None:
    """Load the model and serve it until interrupted.

    Prints the KV cells each sequence gets, then one line "listening on URL" once the socket
    is bound (port 0 picks a free port).

    Args:
        model_path: The GGUF file.
        host: The address to bind (127.0.0.1: this machine only), or several, comma-separated
            ("127.0.0.1,::1"), all on one port.
        port: The port (0: a free one).
        parallel: Sequences generated at once (slots).
        ctx_size: KV cells in all, split evenly across the `parallel` slots, as llama-server's
            `-c` (None: 4096 per slot).
        draft: The server's DraftConfig (None: "auto"); requests may ask for less with their
            "draft", "n_draft_max", "exact" and "sampled_drafts" fields.
        n_threads: CPU threads (None: the automatic count).
        max_queue: Requests waiting for a slot before a 503.
        api_key: Require `Authorization: Bearer KEY`.
        chat_template: Jinja source replacing the model's chat template.
        model_id: The model id /v1/models reports (None: the file's name), or several aliases,
            comma-separated (llama-server's --alias: the id is the first in sorted order).
        tags: Tags /v1/models reports, comma-separated (llama-server's --tags).
        log_level: uvicorn's log level.
        n_gpu_layers: Layers offloaded to GPU or RPC devices (`Model()`'s).
        rpc_servers: RPC servers to place layers on (`Model()`'s).
        n_predict: The tokens a request that gives no max_tokens/n_predict generates
            (llama-server's `-n`; -1: the room its sequence has).
        seed: The seed of requests that give none (llama-server's `--seed`; None: random).
        cors_origins: Web origins whose scripts may call the server: "localhost" (this
            machine's), "*" (any: llama-server's default) or a comma-separated list.
        metrics: Serve /metrics (False: it answers 501, as llama-server without --metrics).
        slots: Serve /slots, the sequence slots' state (False: 501, as llama-server's --no-slots).
        verbose: Chat responses carry `__verbose` with the prompt the model was given
            (llama-server's --verbose).
        reasoning: "off" renders chat templates without reasoning (enable_thinking false), as
            llama-server's --reasoning off; "on"/"auto": the template's own default. A request's
            chat_template_kwargs.enable_thinking overrides it.
    """
    import uvicorn

    from .._core import ChatTemplate, Model
    from ..llm import LLM
    from .engine import BatchEngine
    from .listen import bind_sockets, exposed, hosts_of
    from .routes import create_app

    model = Model(model_path, n_gpu_layers=n_gpu_layers, rpc_servers=rpc_servers)
    template = ChatTemplate(model, source=chat_template or "")
    # the same engine object as Python's: ctx_size KV cells split across the slots, a slot's KV
    # kept for the next request that begins with it
    n_ctx = 4096 * parallel if ctx_size is None else ctx_size
    llm = LLM(model, n_ctx=n_ctx, n_parallel=parallel, draft=draft, n_threads=n_threads, max_queue=max_queue)
    print(
        f"llama-mtp serve: {n_ctx} KV cells, {parallel} slot(s) of {llm.n_ctx_per_sequence} tokens each; drafting {llm.draft!r}",
        flush=True,
    )
    engine = BatchEngine(llm)
    app = create_app(
        engine,
        model_id=model_id or Path(model_path).name,
        tags=[t.strip() for t in (tags or "").split(",") if t.strip()],
        template=template,
        api_key=api_key,
        n_predict=n_predict,
        seed=seed,
        cors_origins=cors_origins,
        metrics=metrics,
        slots=slots,
        verbose=verbose,
        reasoning=reasoning,
    )
    # h11 writes header names as the app gives them (Content-Type, as llama-server); httptools
    # lowercases them (header_case.py says why that matters)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, timeout_graceful_shutdown=5, http="h11"
    )

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            for s in self.servers:
                for sock in s.sockets:
                    addr = sock.getsockname()
                    where = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
                    print(f"llama-mtp serve: listening on http://{where}:{addr[1]}", flush=True)

    hosts = hosts_of(host)
    for address in exposed(hosts) if api_key is None else []:
        print(
            f"llama-mtp serve: warning: {address} is reachable from other machines and there is no --api-key: "
            "anyone who reaches this port can use the model",
            file=sys.stderr,
            flush=True,
        )
    # one socket per address (--host a,b), bound here so that all share a port
    Server(config).run(sockets=None if len(hosts) == 1 else bind_sockets(hosts, port))


__all__ = ["serve"]

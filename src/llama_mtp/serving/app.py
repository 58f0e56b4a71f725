"""The server's plumbing on Starlette (ApiServer: authentication, errors as HTTP statuses,
bodies, running and streaming jobs) and its small endpoints: /v1/models, /health, /metrics.

Bad requests get 400 with the field named, a full queue 503, a missing or wrong API key 401:
OpenAI-style error bodies, never a 500 for bad input. No endpoint reads or writes files."""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from .. import __version__
from .._core import ChatPrompt, ChatTemplate, ChatTemplateError, InvalidArgumentError, LlamaError
from ..options import InvalidOptionError
from .engine import BatchEngine, EngineStoppedError, Job, JobOptions, QueueFullError
from .metrics import CONTENT_TYPE, ServerMetrics
from .requests import SURROGATE_ESCAPE, Sampling, check_text, logit_bias_of, object_body
from .responses import error_response
from .schema import ContextSizeError, RequestError

Handler = Callable[[Request], Awaitable[Response]]


MAX_BODY_BYTES = 16 << 20


class ClientGoneError(Exception):
    """The client disconnected before its reply was ready."""


class BodyTooLargeError(Exception):
    """The request body is over MAX_BODY_BYTES."""


class ApiServer:
    def __init__(self, engine: BatchEngine, *, model_id: str, template: ChatTemplate, api_key: str | None) -> None:
        self.engine = engine
        self.model = engine.model
        # llama-server's --alias a,b,c: every alias names the model, the id is the first in order
        self.aliases = sorted({a.strip() for a in model_id.split(",") if a.strip()}) or [model_id]
        self.model_id = self.aliases[0]
        self.tags: list[str] = []
        self.template = template
        self.api_key = api_key
        self.metrics = ServerMetrics(engine)
        self.created = int(time.time())
        self.render_lock = threading.Lock()  # one rendering at a time through the shared template
        # llama-server's -n and --seed: the tokens and the seed of a request that gives none
        self.n_predict: int = -1
        self.seed: int | None = None
        self.metrics_enabled = self.slots_enabled = True
        self.verbose = False  # llama-server's --verbose: responses carry `__verbose`
        self.enable_thinking = True  # serve --reasoning off: templates render without reasoning
        # OpenAI's system_fingerprint: this build and the server's settings that change outputs
        self.fingerprint = f"llama-mtp-{__version__}-{'exact' if engine.exact else 'fast'}"

    # --- plumbing -------------------------------------------------------------------------
    def route(self, endpoint: str, handler: Handler, *, auth: bool = True) -> Handler:
        async def wrapped(request: Request) -> Response:
            if auth and self.api_key is not None:
                # OpenAI's header, or Anthropic's (x-api-key), as llama-server takes both
                bearer = request.headers.get("authorization", "")
                given = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else request.headers.get("x-api-key")
                if given is None or not hmac.compare_digest(given.encode(), self.api_key.encode()):
                    response: Response = error_response(
                        401,
                        "invalid or missing API key (Authorization: Bearer KEY, or x-api-key: KEY)",
                        kind="authentication_error",
                        code="invalid_api_key",
                    )
                    self.metrics.count_request(endpoint, 401)
                    return response
            try:
                response = await handler(request)
            except ContextSizeError as e:
                extra = {"n_prompt_tokens": e.n_prompt_tokens, "n_ctx": e.n_ctx}
                response = error_response(400, str(e), kind="exceed_context_size_error", param=e.param, extra=extra)
            except RequestError as e:
                response = error_response(400, str(e), param=e.param)
            except (InvalidArgumentError, ChatTemplateError) as e:
                # the native layer refused a value, or the template could not render this
                # request's conversation: the request's fault either way
                response = error_response(400, str(e))
            except QueueFullError as e:
                response = error_response(503, f"server busy: {e}; retry later", kind="server_busy", code="queue_full")
            except EngineStoppedError as e:
                response = error_response(503, str(e), kind="server_shutting_down")
            except BodyTooLargeError as e:
                response = error_response(413, str(e))
            except ClientGoneError:
                response = error_response(499, "the client closed the request", kind="client_closed")
            except LlamaError as e:
                response = error_response(500, f"generation failed: {e}", kind="server_error")
            self.metrics.count_request(endpoint, response.status_code)
            return response

        return wrapped

    async def body_of(self, request: Request) -> Mapping[str, Any]:
        raw = bytearray()
        try:
            async for part in request.stream():
                raw += part
                if len(raw) > MAX_BODY_BYTES:
                    raise BodyTooLargeError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
        except ClientDisconnect as e:  # gone before its body ended (cut short, or a bad chunk)
            raise ClientGoneError from e
        try:
            body = object_body(json.loads(raw))
        except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, an int of 4,300+ digits
            raise RequestError(None, f"the request body is not valid JSON: {e}") from e
        if SURROGATE_ESCAPE.search(raw):  # a walk of the whole body: off the event loop
            await asyncio.get_running_loop().run_in_executor(None, check_text, body)
        return body

    def job_options(self, s: Sampling, n_prompt: int, prompt: ChatPrompt | None, *, choice: int = 0) -> JobOptions:
        """The request's options as the engine takes them: LLM.job_options(), the one conversion
        (choice i of a request's `n` is seeded `seed + i`)."""
        room = self.engine.n_ctx_per_sequence - n_prompt - 2
        if room < 1:
            raise ContextSizeError("messages" if prompt else "prompt", n_prompt, self.engine.n_ctx_per_sequence)
        asked = s.max_tokens if s.max_tokens is not None else self.n_predict if self.n_predict >= 0 else room
        max_tokens = min(asked, room)
        # a chat template's grammar (tools, response_format) over the request's own grammar field
        grammar = prompt.grammar if prompt is not None and prompt.grammar is not None else s.params.grammar
        seed = self.seed if s.params.seed is None else s.params.seed  # the server's --seed by default
        logit_bias = logit_bias_of(self.model, s.logit_bias)
        params = dataclasses.replace(s.params, max_tokens=max_tokens, grammar=grammar, seed=seed, logit_bias=logit_bias)
        llm = self.engine.llm
        fields = dict(s.draft)
        if fields.get("n_draft_max") == 0:  # no MTP drafts: the text's drafts alone, where the server has them
            del fields["n_draft_max"]
            fields["method"] = "ngram" if llm.drafters.ngram and fields.get("method") != "none" else "none"
        draft = dataclasses.replace(llm.draft_config, **fields) if fields else None
        try:
            return llm.job_options(params, draft, stop=prompt.stops if prompt is not None else (), index=choice)
        except InvalidOptionError as e:
            raise RequestError(e.field, str(e)) from e

    async def run_job(self, request: Request, job: Job) -> tuple[str, str]:
        """Wait for a job to finish (text, finish reason); a client that disconnects cancels it."""
        return (await self.run_jobs(request, [job]))[0]

    async def run_jobs(self, request: Request, jobs: list[Job]) -> list[tuple[str, str]]:
        """Run a request's jobs together and wait for them all: (text, finish reason) each; a
        client that disconnects cancels them all (one watcher of the connection)."""
        for job in jobs:
            self.engine.submit(job)

        async def disconnected() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass

        def cancel_all() -> None:
            for job in jobs:
                job.cancel()
            self.engine.wake()

        watcher = asyncio.ensure_future(disconnected())
        results: list[tuple[str, str]] = []
        try:
            for job in jobs:
                parts: list[str] = []
                while True:
                    getter = asyncio.ensure_future(job.events.get())
                    done, _ = await asyncio.wait({getter, watcher}, return_when=asyncio.FIRST_COMPLETED)
                    if getter not in done:
                        getter.cancel()
                        cancel_all()
                        raise ClientGoneError
                    kind, value = getter.result()
                    if kind == "text":
                        parts.append(value)
                    elif kind == "done":
                        results.append(("".join(parts), value))
                        break
                    else:
                        cancel_all()
                        raise value
        finally:
            watcher.cancel()
        return results

    async def stream_jobs(self, jobs: list[Job]) -> AsyncIterator[tuple[int, str, Any]]:
        """The events of a request's submitted jobs as they come, each with its job's index;
        leaving early cancels them all."""
        if len(jobs) == 1:
            async for kind, value in self.stream_job(jobs[0]):
                yield 0, kind, value
            return
        streams = [self.stream_job(job) for job in jobs]
        pending = {asyncio.ensure_future(anext(stream)): i for i, stream in enumerate(streams)}
        try:
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    i = pending.pop(future)
                    try:
                        kind, value = future.result()
                    except StopAsyncIteration:
                        continue
                    yield i, kind, value
                    if kind == "error":
                        return
                    pending[asyncio.ensure_future(anext(streams[i]))] = i
        finally:
            for future in pending:
                future.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for stream in streams:
                await stream.aclose()

    async def stream_job(self, job: Job) -> AsyncGenerator[tuple[str, Any], None]:
        """The events of a submitted job (submitted before the response began, so that a full
        queue is still a 503); leaving early (the client went away) cancels it. A failure after
        the response began comes as an "error" event (the status line is gone)."""
        try:
            while True:
                kind, value = await job.events.get()
                # text that queued up while the client was slower than generation goes as one chunk
                while kind == "text" and not job.events.empty():
                    nxt, more = job.events.get_nowait()
                    if nxt != "text":
                        yield kind, value
                        kind, value = nxt, more
                        break
                    value += more
                if kind == "error":
                    yield "error", value
                    return
                yield kind, value
                if kind == "done":
                    return
        finally:
            if not job.finish_reason:
                job.cancel()
                self.engine.wake()

    # --- endpoints -------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "active": self.engine.active, "queued": self.engine.queue_length})

    async def models(self, request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {
                        "id": self.model_id,
                        "object": "model",
                        "created": self.created,
                        "owned_by": "llama-mtp",
                        "aliases": self.aliases,
                        "tags": self.tags,
                        "meta": {
                            "mtp": self.engine.mtp,
                            "draft": self.engine.llm.draft,
                            "exact": self.engine.exact,
                            "n_draft_max": self.engine.n_draft_max,
                            "parallel": self.engine.parallel,
                            "n_ctx_per_sequence": self.engine.n_ctx_per_sequence,
                        },
                    }
                ],
            }
        )

    async def metrics_endpoint(self, request: Request) -> Response:
        if not self.metrics_enabled:  # llama-server without --metrics
            return error_response(501, "/metrics is off (serve --no-metrics)", kind="not_supported_error")
        headers = {"Process-Start-Time-Unix": str(self.created)}
        return Response(self.metrics.render(), media_type=CONTENT_TYPE, headers=headers)

"""The server's Starlette app: its routes (the OpenAI API, its unprefixed aliases and
llama-server's native API) over one ApiServer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._core import ChatTemplate
from . import anthropic, native, openai_api, responses_api
from .app import ApiServer
from .cors import CorsMiddleware
from .engine import BatchEngine
from .header_case import HeaderCaseMiddleware
from .openapi import openapi_document


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


def create_app(
    engine: BatchEngine,
    *,
    model_id: str,
    template: ChatTemplate,
    api_key: str | None = None,
    n_predict: int = -1,
    seed: int | None = None,
    cors_origins: str = "localhost",
    metrics: bool = True,
    slots: bool = True,
    verbose: bool = False,
    tags: list[str] | None = None,
    reasoning: str = "auto",
) -> Starlette:
    api = ApiServer(engine, model_id=model_id, template=template, api_key=api_key)
    api.n_predict, api.seed, api.metrics_enabled, api.slots_enabled = n_predict, seed, metrics, slots
    api.verbose = verbose
    api.tags = tags or []
    api.enable_thinking = reasoning != "off"

    def on(handler: Callable[[ApiServer, Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        return partial(handler, api)

    # (path, the endpoint its requests are counted under, handler, method): the OpenAI API and
    # its unprefixed aliases, llama-server's native API, Anthropic's and the Responses API
    endpoints = (
        ("/health", "/health", api.health, "GET"),
        ("/metrics", "/metrics", api.metrics_endpoint, "GET"),
        ("/openapi.json", "/openapi.json", openapi, "GET"),
        ("/v1/models", "/v1/models", api.models, "GET"),
        ("/models", "/v1/models", api.models, "GET"),
        ("/v1/completions", "/v1/completions", on(openai_api.completions), "POST"),
        ("/v1/chat/completions", "/v1/chat/completions", on(openai_api.chat_completions), "POST"),
        ("/chat/completions", "/v1/chat/completions", on(openai_api.chat_completions), "POST"),
        ("/v1/chat/completions/input_tokens", "/v1/chat/completions/input_tokens", on(openai_api.chat_input_tokens), "POST"),
        ("/chat/completions/input_tokens", "/chat/completions/input_tokens", on(openai_api.chat_input_tokens), "POST"),
        ("/completion", "/completion", on(native.completion), "POST"),
        ("/completions", "/completion", on(native.completion), "POST"),  # llama-server's: its native completion
        ("/tokenize", "/tokenize", on(native.tokenize), "POST"),
        ("/detokenize", "/detokenize", on(native.detokenize), "POST"),
        ("/apply-template", "/apply-template", on(native.apply_template), "POST"),
        ("/props", "/props", on(native.props), "GET"),
        ("/slots", "/slots", on(native.slots), "GET"),
        ("/v1/messages", "/v1/messages", on(anthropic.messages), "POST"),
        ("/v1/messages/count_tokens", "/v1/messages/count_tokens", on(anthropic.count_tokens), "POST"),
        ("/v1/responses", "/v1/responses", on(responses_api.responses), "POST"),
        ("/responses", "/responses", on(responses_api.responses), "POST"),
    )
    public = {"/health", "/openapi.json"}  # no API key needed
    routes = [
        Route(path, api.route(counted, handler, auth=counted not in public), methods=[method])
        for path, counted, handler, method in endpoints
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        engine.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(HeaderCaseMiddleware), Middleware(CorsMiddleware, origins=cors_origins)],
    )
    app.state.api = api
    return app

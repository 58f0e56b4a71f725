"""The server's Starlette app: its routes (the OpenAI API, its unprefixed aliases and
llama-server's native API) over one ApiServer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
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
    routes = [
        Route("/health", api.route("/health", api.health, auth=False), methods=["GET"]),
        Route("/metrics", api.route("/metrics", api.metrics_endpoint), methods=["GET"]),
        Route("/v1/models", api.route("/v1/models", api.models), methods=["GET"]),
        Route("/openapi.json", api.route("/openapi.json", openapi, auth=False), methods=["GET"]),
        Route("/v1/completions", api.route("/v1/completions", partial(openai_api.completions, api)), methods=["POST"]),
        Route(
            "/v1/chat/completions",
            api.route("/v1/chat/completions", partial(openai_api.chat_completions, api)),
            methods=["POST"],
        ),
        # llama-server's unprefixed OpenAI paths and its native API
        Route("/models", api.route("/v1/models", api.models), methods=["GET"]),
        # llama-server's /completions is its native completion, as /completion
        Route("/completions", api.route("/completion", partial(native.completion, api)), methods=["POST"]),
        Route(
            "/chat/completions",
            api.route("/v1/chat/completions", partial(openai_api.chat_completions, api)),
            methods=["POST"],
        ),
        *(
            Route(path, api.route(path, partial(handler, api)), methods=[method])
            for path, handler, method in (
                ("/completion", native.completion, "POST"),
                ("/tokenize", native.tokenize, "POST"),
                ("/detokenize", native.detokenize, "POST"),
                ("/apply-template", native.apply_template, "POST"),
                ("/props", native.props, "GET"),
                ("/slots", native.slots, "GET"),
                ("/v1/messages", anthropic.messages, "POST"),
                ("/v1/responses", responses_api.responses, "POST"),
                ("/responses", responses_api.responses, "POST"),
                ("/v1/chat/completions/input_tokens", openai_api.chat_input_tokens, "POST"),
                ("/chat/completions/input_tokens", openai_api.chat_input_tokens, "POST"),
                ("/v1/messages/count_tokens", anthropic.count_tokens, "POST"),
            )
        ),
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

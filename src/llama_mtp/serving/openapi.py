"""GET /openapi.json: the server's request schema (schema.py) as an OpenAPI 3.1 document."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from .. import __version__
from .schema import request_schemas

GET_PATHS = {
    "/health": "liveness and the engine's load",
    "/metrics": "Prometheus text: llama-mtp's and llama-server's (llamacpp:*) families",
    "/v1/models": "the one model served",
    "/models": "/v1/models (llama-server's alias)",
    "/props": "the server's settings (llama-server's)",
    "/slots": "each sequence slot (llama-server's)",
    "/openapi.json": "this document",
}
ERROR = {"description": "an OpenAI error body: {'error': {'message', 'type', 'param', 'code'}}"}


@cache
def openapi_document() -> dict[str, Any]:
    posts = request_schemas()
    schemas = sorted({m for m in posts.values()}, key=lambda m: m.__name__)
    refs, defs = models_json_schema([(m, "validation") for m in schemas], ref_template="#/components/schemas/{model}")
    paths: dict[str, Any] = {path: {"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}}
                             for path, summary in GET_PATHS.items()}  # fmt: skip
    for path, model in posts.items():
        paths[path] = {
            "post": {
                "summary": (model.__doc__ or path).strip().splitlines()[0],
                "requestBody": {"required": True, "content": {"application/json": {"schema": refs[(model, "validation")]}}},
                "responses": {
                    "200": {"description": "JSON, or server-sent events when 'stream' is true"},
                    "400": ERROR,
                    "401": ERROR,
                    "503": ERROR,
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "llama-mtp serve", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }

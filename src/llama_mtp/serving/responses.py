"""What the server's endpoints answer with: OpenAI's error body, server-sent events."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from .._core import InvalidArgumentError, Model
from .._jobs import Job


def error_response(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """OpenAI's error body (extra: a dialect's own fields beside them)."""
    error = {"message": message, "type": kind, "param": param, "code": code, **(extra or {})}
    return JSONResponse({"error": error}, status_code=status)


def error_body(error: Exception) -> dict[str, Any]:
    """A failure inside a stream, as the error event of OpenAI's streams."""
    kind = "invalid_request_error" if isinstance(error, InvalidArgumentError) else "server_error"
    return {"error": {"message": str(error), "type": kind, "param": None, "code": None}}


def sse(payload: Mapping[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def with_call_ids(message: dict[str, Any]) -> dict[str, Any]:
    for call in message.get("tool_calls") or []:
        if not call.get("id"):
            call["id"] = f"call_{secrets.token_hex(8)}"
    return message


def matched_stop(model: Model, job: Job) -> str | None:
    """The stop string that ended a finished job, if one did: its text stops before the stop
    string, which the generated tokens still hold."""
    stops = job.options.stop
    if not stops or not job.result_tokens:
        return None
    tail = model.detokenize(job.result_tokens)[len(job.text) :]
    found = [(tail.find(s), s) for s in stops if s in tail]
    return min(found)[1] if found else None

"""OpenAI request bodies, validated field by field: a bad field is a RequestError naming it
(HTTP 400), never an exception from deeper down."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._core import InvalidArgumentError
from ..options import SamplingParams
from ..sizing import AUTO_DRAFT_MAX

# the native types the integer fields end in: a value outside them is the request's fault (400),
# never an overflow deeper down (SeqConfig.seed is uint32; 2**32 - 1 is upstream's "random")
SEED_MAX = (1 << 32) - 1
MAX_TOKENS_MAX = 1 << 24  # int32 in SeqConfig, and far above any context
TOP_K_MAX = 1 << 20  # int32 in SamplerParams


class RequestError(InvalidArgumentError):
    """An invalid request: `param` names the field (OpenAI's error body carries it)."""

    def __init__(self, param: str | None, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class Sampling:
    """A request's generation fields: its SamplingParams (max_tokens None: the room its
    sequence has left), what it asks of drafting (DraftConfig fields over the server's) and
    how the answer is sent."""

    params: SamplingParams
    max_tokens: int | None
    draft: dict[str, Any]
    stream: bool = False
    include_usage: bool = False


def _number(body: Mapping[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    v = body.get(name, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise RequestError(name, f"'{name}' must be a number in [{lo}, {hi}]")
    return float(v)


def _integer(body: Mapping[str, Any], name: str, lo: int, hi: int) -> int | None:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise RequestError(name, f"'{name}' must be an integer in [{lo}, {hi}]")
    return int(v)


def _boolean(body: Mapping[str, Any], name: str, default: bool) -> bool:
    v = body.get(name, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise RequestError(name, f"'{name}' must be a boolean")
    return v


def sampling_of(body: Mapping[str, Any]) -> Sampling:
    """The generation fields shared by /v1/completions and /v1/chat/completions."""
    max_tokens = _integer(body, "max_completion_tokens", 0, MAX_TOKENS_MAX)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 0, MAX_TOKENS_MAX)
    _integer(body, "n", 1, 1)  # one choice per request
    stop_value = body.get("stop")
    if stop_value is None:
        stop: list[str] = []
    elif isinstance(stop_value, str):
        stop = [stop_value]
    elif isinstance(stop_value, list) and len(stop_value) <= 16 and all(isinstance(s, str) for s in stop_value):
        stop = list(stop_value)
    else:
        raise RequestError("stop", "'stop' must be a string or a list of at most 16 strings")
    if any(s == "" for s in stop):
        raise RequestError("stop", "stop strings must not be empty")
    draft = body.get("n_draft_max")
    if (
        draft is not None
        and draft not in ("auto", "adaptive")
        and (isinstance(draft, bool) or not isinstance(draft, int) or not 0 <= draft <= AUTO_DRAFT_MAX)
    ):
        raise RequestError("n_draft_max", f"'n_draft_max' must be \"adaptive\" or an integer in [0, {AUTO_DRAFT_MAX}]")
    drafter = body.get("draft")
    if drafter is not None and drafter not in ("auto", "mtp", "ngram", "none"):
        raise RequestError("draft", '\'draft\' must be "auto", "mtp", "ngram" or "none"')
    options = body.get("stream_options")
    if options is not None and not isinstance(options, Mapping):
        raise RequestError("stream_options", "'stream_options' must be an object")
    seed = _integer(body, "seed", 0, SEED_MAX)
    exact = body.get("exact")
    if exact is not None and not isinstance(exact, bool):
        raise RequestError("exact", "'exact' must be a boolean")
    sampled_drafts = body.get("sampled_drafts")
    if sampled_drafts is not None and not isinstance(sampled_drafts, bool):
        raise RequestError("sampled_drafts", "'sampled_drafts' must be a boolean")
    draft_fields: dict[str, Any] = {}
    if drafter is not None:
        draft_fields["method"] = drafter
    if not _boolean(body, "mtp", True):
        if drafter not in (None, "none"):
            raise RequestError("draft", f"'mtp': false means no drafting; it cannot go with 'draft': {drafter!r}")
        draft_fields["method"] = "none"
    if draft is not None and draft not in ("auto", "adaptive"):
        draft_fields["n_draft_max"] = draft
    if exact is not None:
        draft_fields["exact"] = exact
    if sampled_drafts is not None:
        draft_fields["sampled_drafts"] = sampled_drafts
    grammar, json_schema = body.get("grammar"), body.get("json_schema")
    if grammar is not None and not isinstance(grammar, str):
        raise RequestError("grammar", "'grammar' must be GBNF text")
    if json_schema is not None and not isinstance(json_schema, Mapping):
        raise RequestError("json_schema", "'json_schema' must be an object (a JSON schema)")
    if grammar and json_schema is not None:
        raise RequestError("grammar", "give 'grammar' or 'json_schema', not both")
    params = SamplingParams(
        max_tokens=0,  # set once the prompt's length is known (the room left when None)
        grammar=grammar or None,
        json_schema=json_schema,
        temperature=_number(body, "temperature", 0.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 1e-9, 1.0),
        top_k=int(_integer(body, "top_k", 0, TOP_K_MAX) or 0),
        min_p=_number(body, "min_p", 0.0, 0.0, 0.999),
        seed=seed,
        stop=stop,
        ignore_eos=_boolean(body, "ignore_eos", False),
    )
    return Sampling(
        params=params,
        max_tokens=max_tokens,
        draft=draft_fields,
        stream=_boolean(body, "stream", False),
        include_usage=bool(options and options.get("include_usage") is True),
    )


def object_body(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise RequestError(None, "the request body must be a JSON object")
    return body


# JSON's escape of a UTF-16 surrogate: only a body with one can hold a lone surrogate (raw
# UTF-8 cannot), so only such a body needs check_text()
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def check_text(body: Mapping[str, Any]) -> None:
    """Every string (and key) of a parsed body is text the native layer can take: JSON's
    "\\ud800" parses to a lone surrogate, which no UTF-8 holds (a RequestError naming where)."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:  # iterative: as deep as the JSON parser allowed; a path is made only where needed
        where, value = stack.pop()
        items: Iterable[tuple[Any, Any]] = value.items() if isinstance(value, Mapping) else enumerate(value)
        for k, v in items:
            if isinstance(k, str) and not _is_text(k):
                raise RequestError(where or None, "a key is not valid Unicode text (a lone surrogate)")
            if isinstance(v, (str, Mapping, list)):
                path = f"{where}[{k}]" if isinstance(k, int) else f"{where}.{k}" if where else k
                if not isinstance(v, str):
                    stack.append((path, v))
                elif not _is_text(v):
                    raise RequestError(path, f"'{path}' is not valid Unicode text (a lone surrogate)")


def _is_text(s: str) -> bool:
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def messages_of(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages", "'messages' must be a non-empty list")
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise RequestError(f"messages[{i}]", "each message must be an object with a 'role'")
        if m["role"] not in ("system", "developer", "user", "assistant", "tool"):
            raise RequestError(f"messages[{i}].role", f"unknown role {m['role']!r}")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise RequestError(f"messages[{i}].content", "'content' must be a string, a list of parts or null")
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, Mapping) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise RequestError(f"messages[{i}].content", "only text content parts are supported")
    return messages


def tools_of(body: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]] | None, str]:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise RequestError("tools", "'tools' must be a list")
        for i, t in enumerate(tools):
            fn = t.get("function") if isinstance(t, Mapping) else None
            if (
                not isinstance(t, Mapping)
                or t.get("type") != "function"
                or not isinstance(fn, Mapping)
                or not isinstance(fn.get("name"), str)
            ):
                raise RequestError(f"tools[{i}]", "each tool must be {'type': 'function', 'function': {'name': ...}}")
    choice = body.get("tool_choice", "auto")
    if choice is None:
        choice = "auto"
    if isinstance(choice, Mapping):
        raise RequestError("tool_choice", "naming one function in 'tool_choice' is not supported; use 'required'")
    if choice not in ("auto", "required", "none"):
        raise RequestError("tool_choice", "'tool_choice' must be 'auto', 'required' or 'none'")
    return (tools or None), choice


def response_format_of(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    rf = body.get("response_format")
    if rf is None:
        return None
    if not isinstance(rf, Mapping) or rf.get("type") not in ("text", "json_object", "json_schema"):
        raise RequestError("response_format", "'response_format.type' must be 'text', 'json_object' or 'json_schema'")
    if rf.get("type") == "json_schema":
        spec = rf.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("schema", {}), Mapping):
            raise RequestError("response_format.json_schema", "'json_schema' must be an object with a 'schema' object")
    return rf

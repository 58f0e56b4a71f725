"""Request bodies into the engine's options: the one conversion from the declared schema
(schema.py) to a request's SamplingParams and drafting fields, with the checks that span
fields; and the checks of raw JSON no schema expresses (a lone surrogate)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._core import Model
from ..options import SamplingParams
from .schema import ChatCompletionRequest, GenerationRequest, RequestError, SpeculationFields


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
    n: int = 1
    logit_bias: Any = None  # as the request gave it: text keys need the model (logit_bias_of)


def sampling_of(req: GenerationRequest, *, max_tokens: int | None = None) -> Sampling:
    """A validated request's generation fields as the engine takes them (max_tokens: the
    endpoint's own length field, over OpenAI's)."""
    if max_tokens is None:
        max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    draft_fields: dict[str, Any] = {}
    if req.draft is not None:
        draft_fields["method"] = req.draft
    if not req.mtp:
        if req.draft not in (None, "none"):
            raise RequestError("draft", f"'mtp': false means no drafting; it cannot go with 'draft': {req.draft!r}")
        draft_fields["method"] = "none"
    if isinstance(req.n_draft_max, int):
        draft_fields["n_draft_max"] = req.n_draft_max
    if req.exact is not None:
        draft_fields["exact"] = req.exact
    if req.sampled_drafts is not None:
        draft_fields["sampled_drafts"] = req.sampled_drafts
    if isinstance(req.logprobs, bool):
        logprobs = (req.top_logprobs or 0) if req.logprobs else None
    else:
        logprobs = req.logprobs
    if req.grammar and req.json_schema is not None:
        raise RequestError("grammar", "give 'grammar' or 'json_schema', not both")
    params = SamplingParams(
        max_tokens=0,  # set once the prompt's length is known (the room left when None)
        grammar=req.grammar or None,
        json_schema=req.json_schema,
        temperature=req.temperature,
        top_p=req.top_p,
        top_k=req.top_k,
        min_p=req.min_p,
        seed=req.seed,
        stop=stop,
        ignore_eos=req.ignore_eos,
        logprobs=logprobs,
    )
    return Sampling(
        params=params,
        max_tokens=max_tokens,
        draft=draft_fields,
        stream=req.stream,
        include_usage=req.stream_options is not None and req.stream_options.include_usage,
        n=req.n,
        logit_bias=req.logit_bias,
    )


def logit_bias_of(model: Model, given: Any) -> dict[int, float] | None:
    """A request's logit_bias as token id -> bias: OpenAI's {"id": bias} and llama-server's
    [[id or text, bias or false], ...] and {"text": bias}; a text biases each of its tokens,
    false bans (-inf)."""
    if not given:
        return None
    pairs = list(given.items()) if isinstance(given, Mapping) else [tuple(p) for p in given]
    out: dict[int, float] = {}
    for key, value in pairs:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if value is not False:
                raise RequestError("logit_bias", "a bias must be a number or false")
            bias = -math.inf
        else:
            bias = float(value)
        if isinstance(key, str) and key.lstrip("-").isdigit():
            key = int(key)
        if isinstance(key, str):
            ids = model.tokenize(key, add_special=False, parse_special=False).tolist()
        elif isinstance(key, int) and not isinstance(key, bool):
            ids = [key]
        else:
            raise RequestError("logit_bias", "a token must be an id or a text")
        for t in ids:
            if not 0 <= t < model.n_vocab:
                raise RequestError("logit_bias", f"token ids must be in [0, {model.n_vocab})")
            out[t] = out.get(t, 0.0) + bias
    return out


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


@dataclass
class ChatInputs:
    """What a chat request gives the template: messages, tools and formats as plain JSON."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    tool_choice: str
    response_format: dict[str, Any] | None
    parallel_tool_calls: bool
    prefill: str = ""  # the start of the reply, given by the request: the prompt ends with it
    add_generation_prompt: bool = True
    enable_thinking: bool | None = None  # None: the server's (serve --reasoning)
    template_kwargs: dict[str, Any] | None = None


def split_prefill(messages: list[dict[str, Any]], *, prefill: bool = True) -> tuple[list[dict[str, Any]], str]:
    """A conversation ending in an assistant message (no tool calls) is a reply to continue
    (llama-server's assistant prefill, vLLM's continue_final_message): the messages before it
    and its text (text parts joined by a blank line, as llama-server joins them)."""
    if len(messages) >= 2 and messages[-1]["role"] == messages[-2]["role"] == "assistant":
        raise RequestError("messages", "a conversation cannot end in two assistant messages")
    last = messages[-1] if messages else None
    if not prefill or last is None or last["role"] != "assistant" or last.get("tool_calls"):
        return messages, ""
    content = last.get("content") or ""
    text = content if isinstance(content, str) else "\n\n".join(str(p.get("text", "")) for p in content)
    return messages[:-1], text


def function_tool(name: str, description: str | None, parameters: dict[str, Any]) -> dict[str, Any]:
    """A function tool in OpenAI's chat form, the one the templates take (other dialects' tools
    become these)."""
    function = {"name": name, "description": description or "", "parameters": parameters}
    return {"type": "function", "function": function}


def only_tool(tools: list[dict[str, Any]] | None, name: str) -> list[dict[str, Any]]:
    """A tool choice that names one function: that tool alone (the caller makes it required);
    naming one the request does not give is its fault."""
    named = [t for t in tools or [] if t["function"]["name"] == name]
    if not named:
        raise RequestError("tool_choice", f"'tool_choice' names {name!r}, which 'tools' lacks")
    return named


def sampling_from(req: SpeculationFields, **generation: Any) -> Sampling:
    """Another dialect's request (Anthropic's, the Responses API's) as the shared generation
    fields: its own names mapped to OpenAI's by the caller, its speculation fields as they are
    (validated already, with the same bounds), through the one conversion, sampling_of()."""
    speculation = {k: getattr(req, k) for k in SpeculationFields.model_fields}
    return sampling_of(GenerationRequest.model_construct(**generation, **speculation))


def chat_inputs(req: ChatCompletionRequest) -> ChatInputs:
    """A validated chat request's template inputs; a named tool choice is that tool, required."""
    tools = [t.model_dump(exclude_unset=True) for t in req.tools] if req.tools else None
    choice = req.tool_choice
    if choice is None:
        tool_choice = "auto"
    elif isinstance(choice, str):
        tool_choice = choice
    else:
        tools, tool_choice = only_tool(tools, choice.function.name), "required"
    if req.add_generation_prompt and req.continue_final_message:
        raise RequestError("continue_final_message", "'continue_final_message' cannot go with 'add_generation_prompt'")
    messages, prefill = split_prefill(
        [m.model_dump(exclude_unset=True) for m in req.messages], prefill=req.continue_final_message is not False
    )
    return ChatInputs(
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        response_format=req.response_format.model_dump(by_alias=True, exclude_unset=True) if req.response_format else None,
        parallel_tool_calls=req.parallel_tool_calls,
        prefill=prefill,
        # a continued reply renders the conversation before it with the assistant turn opened
        add_generation_prompt=bool(prefill) or req.add_generation_prompt is not False,
        **thinking_of(req.chat_template_kwargs),
    )


def thinking_of(kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """ChatInputs' enable_thinking and template_kwargs from a request's chat_template_kwargs
    (vLLM's and llama-server's: {"enable_thinking": false} turns a model's reasoning off)."""
    rest = dict(kwargs or {})
    thinking = rest.pop("enable_thinking", None)
    if thinking is not None and not isinstance(thinking, bool):
        raise RequestError("chat_template_kwargs.enable_thinking", "'enable_thinking' must be a boolean")
    return {"enable_thinking": thinking, "template_kwargs": rest or None}

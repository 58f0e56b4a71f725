"""Chat with a model: its chat template rendered by upstream's jinja engine (as llama-server
renders it), tools and JSON-schema constrained replies through upstream's grammar sampler, and
the reply parsed back into an OpenAI assistant message (content, reasoning, tool calls).

MTP drafting stays on: the grammar constrains the verification, so drafted tokens the grammar
forbids are rejected like any other mismatch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._core import ChatPrompt, ChatTemplate, ChatTemplateError, InvalidArgumentError
from .generation import Generation, Stream

__all__ = ["ChatCompletion", "ChatStream", "ReplyContent", "parse_reply", "render_chat"]

Message = Mapping[str, Any]


@dataclass
class ChatCompletion:
    """The reply to a conversation."""

    message: dict[str, Any]  # an OpenAI assistant message: role, content, tool_calls, reasoning_content
    finish_reason: str  # "stop", "length" or "tool_calls"
    generation: Generation  # tokens, raw text, speeds, MTP statistics
    prompt: ChatPrompt

    @property
    def content(self) -> str:
        """The reply's text, without its reasoning and tool calls."""
        return str(self.message.get("content") or "")

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """The tool calls parsed from the reply, in OpenAI's form (empty when none)."""
        return list(self.message.get("tool_calls") or [])


def _json_schema_of(response_format: Mapping[str, Any] | None) -> str:
    """OpenAI's response_format ({"type": "json_schema", "json_schema": {"schema": ...}} or
    {"type": "json_object"}) as JSON schema text ("" : free text)."""
    if response_format is None:
        return ""
    kind = response_format.get("type")
    if kind == "text":
        return ""
    if kind == "json_object":
        return json.dumps(response_format.get("schema") or {"type": "object"})
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("schema", {}), Mapping):
            raise InvalidArgumentError("response_format.json_schema must be an object with a 'schema' object")
        return json.dumps(spec.get("schema") or {})
    raise InvalidArgumentError(f"response_format.type must be 'text', 'json_object' or 'json_schema', not {kind!r}")


def render_chat(
    template: ChatTemplate,
    messages: Sequence[Message],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: str = "auto",
    response_format: Mapping[str, Any] | None = None,
    parallel_tool_calls: bool = False,
    enable_thinking: bool = True,
    template_kwargs: Mapping[str, Any] | None = None,
    add_generation_prompt: bool = True,
) -> ChatPrompt:
    """The prompt of a conversation (OpenAI-format messages and tools) and how to read its reply
    (add_generation_prompt False: the conversation alone, without the assistant turn's opening)."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidArgumentError("messages must be a list of {'role': ..., 'content': ...} objects")
    if tool_choice not in ("auto", "required", "none"):
        raise InvalidArgumentError(f"tool_choice must be 'auto', 'required' or 'none', not {tool_choice!r}")
    try:
        messages_json = json.dumps(list(messages))
        tools_json = json.dumps(list(tools)) if tools else ""
        kwargs = {k: json.dumps(v) for k, v in (template_kwargs or {}).items()}
    except (TypeError, ValueError, RecursionError) as e:
        raise InvalidArgumentError(f"messages, tools and template_kwargs must be JSON-serializable: {e}") from e
    return template.apply(
        messages_json,
        tools_json=tools_json,
        tool_choice=tool_choice,
        json_schema=_json_schema_of(response_format),
        parallel_tool_calls=parallel_tool_calls,
        enable_thinking=enable_thinking,
        template_kwargs=kwargs,
        add_generation_prompt=add_generation_prompt,
    )


def parse_reply(prompt: ChatPrompt, text: str, *, partial: bool = False) -> dict[str, Any]:
    """The reply as an OpenAI assistant message; text the template's parser cannot read (a reply
    cut short, a model that ignored the format) comes back as plain content."""
    try:
        message: dict[str, Any] = json.loads(prompt.parse_reply(text, partial=partial))
    except ChatTemplateError:
        message = {"role": "assistant", "content": text}
    return message


def finish_reason_of(raw_reason: str, message: Mapping[str, Any]) -> str:
    return "tool_calls" if message.get("tool_calls") and raw_reason == "stop" else raw_reason


class ReplyContent:
    """A reply's content while it streams: feed() it the generated text piece by piece and get
    the new content (tool calls and reasoning parsed out); finish() gives the whole message."""

    def __init__(self, prompt: ChatPrompt) -> None:
        self.prompt = prompt
        self.text = ""
        self._sent = ""

    def feed(self, piece: str) -> str:
        self.text += piece
        if self.prompt.plain_content:  # nothing to parse out: the text is the content
            self._sent += piece
            return piece
        return self._advance(parse_reply(self.prompt, self.text, partial=True))

    def finish(self) -> tuple[dict[str, Any], str]:
        """(the reply as an OpenAI message, content not handed out yet)."""
        message = parse_reply(self.prompt, self.text)
        return message, self._advance(message)

    def _advance(self, message: Mapping[str, Any]) -> str:
        content = str(message.get("content") or "")
        if not (content.startswith(self._sent) and len(content) > len(self._sent)):
            return ""
        new, self._sent = content[len(self._sent) :], content
        return new


class ChatStream:
    """Iterates over the reply's content as it is generated (str pieces; tool calls and
    reasoning are parsed out, not streamed); `.result` holds the ChatCompletion after."""

    def __init__(self, prompt: ChatPrompt, inner: Stream[str]) -> None:
        self.prompt = prompt
        self._inner = inner
        self.result: ChatCompletion | None = None

    def __iter__(self) -> Iterator[str]:
        reply = ReplyContent(self.prompt)
        for piece in self._inner:
            new = reply.feed(piece)
            if new:
                yield new
        generation = self._inner.result
        assert isinstance(generation, Generation)
        message, new = reply.finish()  # the pieces joined are generation.text
        if new:
            yield new
        self.result = ChatCompletion(
            message=message,
            finish_reason=finish_reason_of(generation.finish_reason, message),
            generation=generation,
            prompt=self.prompt,
        )

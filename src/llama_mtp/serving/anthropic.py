"""Anthropic's Messages API over the chat pipeline: POST /v1/messages (JSON or Anthropic's
server-sent events) and /v1/messages/count_tokens. A request becomes OpenAI-format chat
messages (tool_use: tool calls, tool_result: tool messages, thinking: reasoning_content) and
goes through the same template, jobs and reply parser as /v1/chat/completions."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .._core import ChatPrompt
from ..chat import ReplyContent, parse_reply
from .app import ApiServer
from .engine import Job
from .openai_api import chat_jobs, render_inputs
from .requests import ChatInputs, function_tool, only_tool, sampling_from, split_prefill
from .responses import matched_stop
from .schema import RequestError, parse
from .schema_anthropic import (
    AnthropicCountRequest,
    AnthropicMessagesRequest,
    AnthropicText,
    AnthropicToolResult,
    AnthropicToolUse,
)


def chat_inputs_of(req: AnthropicCountRequest) -> ChatInputs:
    """The request as OpenAI-format chat inputs."""
    messages: list[dict[str, Any]] = []
    if req.system:
        text = req.system if isinstance(req.system, str) else "".join(b.text for b in req.system)
        messages.append({"role": "system", "content": text})
    for i, m in enumerate(req.messages):
        if isinstance(m.content, str):
            messages.append({"role": m.role, "content": m.content})
            continue
        text, reasoning, calls, results = "", "", [], []
        for block in m.content:
            if block.type == "text":
                text += block.text
            elif block.type == "thinking":
                reasoning += block.thinking
            elif isinstance(block, AnthropicToolUse):
                arguments = json.dumps(block.input)
                calls.append({"id": block.id, "type": "function", "function": {"name": block.name, "arguments": arguments}})
            elif isinstance(block, AnthropicToolResult):
                results.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": _result_text(block, i)})
            else:
                raise RequestError(f"messages[{i}].content", "image input is not supported by this server")
        messages += results  # the answers to the previous turn's tool calls come first
        message: dict[str, Any] = {"role": m.role, "content": text}
        if reasoning:
            message["reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = calls
        if text or reasoning or calls or not results:
            messages.append(message)
    tools = [function_tool(t.name, t.description, t.input_schema) for t in req.tools or []]
    choice = req.tool_choice
    tool_choice = (
        "auto" if choice is None else {"auto": "auto", "any": "required", "tool": "required", "none": "none"}[choice.type]
    )
    if choice is not None and choice.type == "tool":
        tools = only_tool(tools, choice.name or "")
    messages, prefill = split_prefill(messages)  # Anthropic's prefill: the reply starts with it
    return ChatInputs(messages, tools or None, tool_choice, None, parallel_tool_calls=True, prefill=prefill)


def _result_text(block: AnthropicToolResult, i: int) -> str:
    if block.content is None or isinstance(block.content, str):
        return block.content or ""
    if any(not isinstance(part, AnthropicText) for part in block.content):
        raise RequestError(f"messages[{i}].content", "image input is not supported by this server")
    return "".join(part.text for part in block.content if isinstance(part, AnthropicText))


def content_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A parsed reply (an OpenAI assistant message) as Anthropic content blocks."""
    blocks: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        blocks.append({"type": "thinking", "thinking": message["reasoning_content"], "signature": ""})
    if message.get("content") or not message.get("tool_calls"):
        blocks.append({"type": "text", "text": message.get("content") or ""})
    for call in message.get("tool_calls") or []:
        try:
            arguments = json.loads(call["function"].get("arguments") or "{}")
        except ValueError:
            arguments = {}
        blocks.append(
            {"type": "tool_use", "id": call.get("id") or f"toolu_{secrets.token_hex(12)}", "name": call["function"]["name"],
             "input": arguments if isinstance(arguments, dict) else {}}
        )  # fmt: skip
    return blocks


def stop_reason(api: ApiServer, job: Job, reason: str, blocks: list[dict[str, Any]]) -> tuple[str, str | None]:
    if any(b["type"] == "tool_use" for b in blocks):
        return "tool_use", None
    if reason == "length":
        return "max_tokens", None
    stop = matched_stop(api.model, job)
    return ("stop_sequence", stop) if stop is not None else ("end_turn", None)


def usage(job: Job) -> dict[str, int]:
    return {"input_tokens": len(job.tokens) - job.n_cached, "output_tokens": job.n_generated,
            "cache_read_input_tokens": job.n_cached, "cache_creation_input_tokens": 0}  # fmt: skip


def anthropic_sse(event: dict[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"


async def messages(api: ApiServer, request: Request) -> Response:
    """POST /v1/messages."""
    req = parse(AnthropicMessagesRequest, await api.body_of(request))
    s = sampling_from(
        req, max_tokens=req.max_tokens, stop=req.stop_sequences, temperature=req.temperature, top_p=req.top_p,
        top_k=req.top_k, stream=req.stream,
    )  # fmt: skip
    prompt, _, (job,) = await chat_jobs(api, chat_inputs_of(req), s)
    ident = f"msg_{secrets.token_hex(12)}"
    head = {"id": ident, "type": "message", "role": "assistant", "model": api.model_id}
    if not s.stream:
        ((text, reason),) = await api.run_jobs(request, [job])
        blocks = content_blocks(parse_reply(prompt, text))
        why, stop = stop_reason(api, job, reason, blocks)
        return JSONResponse({**head, "content": blocks, "stop_reason": why, "stop_sequence": stop, "usage": usage(job)})
    api.engine.submit(job)
    return StreamingResponse(_events(api, job, prompt, head), media_type="text/event-stream")


async def _events(api: ApiServer, job: Job, prompt: ChatPrompt, head: dict[str, Any]) -> AsyncIterator[str]:
    start_usage = {"input_tokens": len(job.tokens), "output_tokens": 0}
    yield anthropic_sse({"type": "message_start", "message": {**head, "content": [], "stop_reason": None,
                                                                "stop_sequence": None, "usage": start_usage}})  # fmt: skip
    reply = ReplyContent(prompt)
    text_open = False
    async for _, kind, value in api.stream_jobs([job]):
        if kind == "error":
            yield anthropic_sse({"type": "error", "error": {"type": "api_error", "message": str(value)}})
            return
        if kind == "text":
            new = reply.feed(value)
            if new:
                if not text_open:
                    text_open = True
                    yield anthropic_sse(
                        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
                    )
                yield anthropic_sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": new}})
            continue
        message, new = reply.finish()
        blocks = content_blocks(message)
        index = 0
        if new or not text_open and any(b["type"] == "text" for b in blocks):
            if not text_open:
                text_open = True
                yield anthropic_sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
            yield anthropic_sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": new}})
        if text_open:
            yield anthropic_sse({"type": "content_block_stop", "index": 0})
            index = 1
        for block in (b for b in blocks if b["type"] == "tool_use"):
            start = {**block, "input": {}}
            yield anthropic_sse({"type": "content_block_start", "index": index, "content_block": start})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            yield anthropic_sse({"type": "content_block_delta", "index": index, "delta": delta})
            yield anthropic_sse({"type": "content_block_stop", "index": index})
            index += 1
        why, stop = stop_reason(api, job, value, blocks)
        yield anthropic_sse({"type": "message_delta", "delta": {"stop_reason": why, "stop_sequence": stop},
                             "usage": {"output_tokens": job.n_generated}})  # fmt: skip
        yield anthropic_sse({"type": "message_stop"})


async def count_tokens(api: ApiServer, request: Request) -> Response:
    """POST /v1/messages/count_tokens: the prompt's tokens, as /v1/messages would render it."""
    _, _, tokens = await render_inputs(api, chat_inputs_of(parse(AnthropicCountRequest, await api.body_of(request))))
    return JSONResponse({"input_tokens": len(tokens)})

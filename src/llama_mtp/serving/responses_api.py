"""OpenAI's Responses API over the chat pipeline: POST /v1/responses as JSON or as its typed
events (response.created ... response.completed). The input items become OpenAI-format chat
messages (function_call: tool calls, function_call_output: tool messages) and go through the
same template, jobs and reply parser as /v1/chat/completions."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .._core import ChatPrompt
from ..chat import ReplyContent, parse_reply
from .app import ApiServer
from .engine import Job
from .openai_api import chat_jobs
from .requests import ChatInputs, function_tool, only_tool, sampling_from, split_prefill
from .schema import parse
from .schema_responses import ResponsesFunctionCall, ResponsesFunctionCallOutput, ResponsesRequest
from .timings import report_of


def chat_inputs_of(req: ResponsesRequest) -> ChatInputs:
    """The request's instructions and input items as OpenAI-format chat inputs."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": req.instructions}] if req.instructions else []
    items = [{"role": "user", "content": req.input}] if isinstance(req.input, str) else req.input
    for item in items:
        if isinstance(item, dict):
            messages.append(item)
        elif isinstance(item, ResponsesFunctionCall):
            call = {"id": item.call_id, "type": "function", "function": {"name": item.name, "arguments": item.arguments}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and not last.get("content") and "tool_calls" in last:
                last["tool_calls"].append(call)  # one assistant turn calling several tools
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif isinstance(item, ResponsesFunctionCallOutput):
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
        else:
            text = item.content if isinstance(item.content, str) else "".join(p.text for p in item.content)
            messages.append({"role": item.role, "content": text})
    tools = [function_tool(t.name, t.description, t.parameters or {"type": "object"}) for t in req.tools or []]
    choice = req.tool_choice
    if choice is None or isinstance(choice, str):
        tool_choice = choice or "auto"
    else:
        tools, tool_choice = only_tool(tools, choice.name), "required"
    messages, prefill = split_prefill(messages)
    return ChatInputs(messages, tools or None, tool_choice, None, req.parallel_tool_calls, prefill=prefill)


def output_items(message: dict[str, Any], msg_id: str) -> list[dict[str, Any]]:
    """A parsed reply as the Responses API's output items."""
    items: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        items.append({"type": "reasoning", "id": f"rs_{secrets.token_hex(12)}", "summary": [],
                      "content": [{"type": "reasoning_text", "text": message["reasoning_content"]}]})  # fmt: skip
    if message.get("content") or not message.get("tool_calls"):
        items.append(text_item(msg_id, message.get("content") or "", "completed"))
    for call in message.get("tool_calls") or []:
        items.append({"type": "function_call", "id": f"fc_{secrets.token_hex(12)}", "status": "completed",
                      "call_id": call.get("id") or f"call_{secrets.token_hex(8)}", "name": call["function"]["name"],
                      "arguments": call["function"].get("arguments") or "{}"})  # fmt: skip
    return items


def text_item(msg_id: str, text: str | None, status: str) -> dict[str, Any]:
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": []}]
    return {"type": "message", "id": msg_id, "status": status, "role": "assistant", "content": content}


def usage(job: Job) -> dict[str, Any]:
    return {"input_tokens": len(job.tokens), "output_tokens": job.n_generated,
            "total_tokens": len(job.tokens) + job.n_generated,
            "input_tokens_details": {"cached_tokens": job.n_cached},
            "output_tokens_details": {"reasoning_tokens": 0}}  # fmt: skip


class ResponseObject:
    """The response object as it evolves: created, in progress, completed."""

    def __init__(self, api: ApiServer, req: ResponsesRequest) -> None:
        choice = req.tool_choice
        tool_choice = choice.model_dump() if choice is not None and not isinstance(choice, str) else choice or "auto"
        self.head = {"id": f"resp_{secrets.token_hex(12)}", "object": "response", "created_at": int(time.time()),
                     "model": api.model_id, "instructions": req.instructions, "max_output_tokens": req.max_output_tokens,
                     "temperature": req.temperature, "top_p": req.top_p, "tool_choice": tool_choice,
                     "tools": [t.model_dump(exclude_unset=True) for t in req.tools or []],
                     "parallel_tool_calls": req.parallel_tool_calls, "metadata": req.metadata or {}}  # fmt: skip

    def body(self, status: str, output: list[dict[str, Any]], job: Job | None, reason: str = "") -> dict[str, Any]:
        out = {**self.head, "status": status, "output": output, "error": None,
               "incomplete_details": {"reason": "max_output_tokens"} if reason == "length" else None}  # fmt: skip
        if job is not None:
            out["usage"] = usage(job)
        return out


async def responses(api: ApiServer, request: Request) -> Response:
    """POST /v1/responses."""
    req = parse(ResponsesRequest, await api.body_of(request))
    s = sampling_from(
        req,
        max_tokens=req.max_output_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        top_k=req.top_k,
        stream=req.stream,
    )
    prompt, _, (job,) = await chat_jobs(api, chat_inputs_of(req), s)
    resp, msg_id = ResponseObject(api, req), f"msg_{secrets.token_hex(12)}"
    if not s.stream:
        ((text, reason),) = await api.run_jobs(request, [job])
        items = output_items(parse_reply(prompt, text), msg_id)
        status = "incomplete" if reason == "length" else "completed"
        return JSONResponse({**resp.body(status, items, job, reason), **report_of(job)})
    api.engine.submit(job)
    events = _events(api, job, prompt, resp, msg_id, per_token=req.timings_per_token)
    return StreamingResponse(events, media_type="text/event-stream")


async def _events(
    api: ApiServer, job: Job, prompt: ChatPrompt, resp: ResponseObject, msg_id: str, *, per_token: bool
) -> AsyncIterator[str]:
    n = 0

    def event(kind: str, **fields: Any) -> str:
        nonlocal n
        n += 1
        return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': n - 1, **fields})}\n\n"

    yield event("response.created", response=resp.body("in_progress", [], None))
    yield event("response.in_progress", response=resp.body("in_progress", [], None))
    reply, text, opened = ReplyContent(prompt), "", False
    where = {"item_id": msg_id, "output_index": 0, "content_index": 0}
    async for _, kind, value in api.stream_jobs([job]):
        if kind == "error":
            yield event("error", code="server_error", message=str(value), param=None)
            return
        new = reply.feed(value) if kind == "text" else ""
        if kind != "text":
            message, new = reply.finish()
        if new and not opened:
            opened = True
            yield event("response.output_item.added", output_index=0, item=text_item(msg_id, None, "in_progress"))
            part = {"type": "output_text", "text": "", "annotations": []}
            yield event("response.content_part.added", **where, part=part)
        if new:
            text += new
            yield event("response.output_text.delta", **where, delta=new, **(report_of(job) if per_token else {}))
        if kind == "text":
            continue
        items = output_items(message, msg_id)
        if opened:
            yield event("response.output_text.done", **where, text=text)
            yield event("response.content_part.done", **where, part={"type": "output_text", "text": text, "annotations": []})
            yield event("response.output_item.done", output_index=0, item=text_item(msg_id, text, "completed"))
        for i, item in enumerate(it for it in items if it["type"] == "function_call"):
            index = i + int(opened)
            yield event("response.output_item.added", output_index=index, item={**item, "arguments": "", "status": "in_progress"})
            yield event("response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=item["arguments"])
            yield event(
                "response.function_call_arguments.done", item_id=item["id"], output_index=index, arguments=item["arguments"]
            )
            yield event("response.output_item.done", output_index=index, item=item)
        status = "incomplete" if value == "length" else "completed"
        final = resp.body(status, items, job, value)
        yield event(f"response.{status}", response=final, **report_of(job))

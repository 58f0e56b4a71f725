"""The OpenAI API: /v1/completions and /v1/chat/completions (JSON or server-sent events), with
`n` choices (a sequence each, run together), `usage` (with the prompt's cached tokens) and
per-request `timings`."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .._core import ChatPrompt
from ..chat import ReplyContent, finish_reason_of, parse_reply, render_chat
from .app import ApiServer
from .engine import Job
from .logprobs import ProbsCursor, chat_logprobs, completion_logprobs
from .requests import ChatInputs, Sampling, chat_inputs, sampling_of
from .responses import error_body, sse, with_call_ids
from .schema import ChatCompletionRequest, CompletionRequest, RequestError, parse
from .timings import report_of


def usage(jobs: list[Job]) -> dict[str, Any]:
    """OpenAI's usage of a request's choices (one prompt, counted once)."""
    prompt, generated = len(jobs[0].tokens), sum(j.n_generated for j in jobs)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": generated,
        "total_tokens": prompt + generated,
        "prompt_tokens_details": {"cached_tokens": jobs[0].n_cached},
    }


def envelope(api: ApiServer, prefix: str, kind: str) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """OpenAI's body around a response's choices: one id and creation time for all its chunks."""
    ident, created = f"{prefix}-{secrets.token_hex(12)}", int(time.time())

    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": ident, "object": kind, "created": created, "model": api.model_id,
                "system_fingerprint": api.fingerprint, "choices": choices}  # fmt: skip

    return chunk


def make_jobs(api: ApiServer, tokens: list[int], s: Sampling, prompt: ChatPrompt | None) -> list[Job]:
    """The request's `n` choices: a job each, choice i seeded `seed + i` when a seed is given."""
    loop = asyncio.get_running_loop()
    return [Job(tokens, api.job_options(s, len(tokens), prompt, choice=i), loop) for i in range(s.n)]


async def completions(api: ApiServer, request: Request) -> Response:
    """POST /v1/completions."""
    req = parse(CompletionRequest, await api.body_of(request))
    s = sampling_of(req)
    if isinstance(req.prompt, str):
        tokens: list[int] = api.model.tokenize(req.prompt, add_special=True).tolist()
    else:
        if max(req.prompt) >= api.model.n_vocab:
            raise RequestError("prompt", f"token ids must be in [0, {api.model.n_vocab})")
        tokens = list(req.prompt)
    echo = (req.prompt if isinstance(req.prompt, str) else api.model.detokenize(tokens)) if req.echo else ""
    jobs = make_jobs(api, tokens, s, None)
    chunk = envelope(api, "cmpl", "text_completion")

    wants_probs = s.params.logprobs is not None
    cursor = ProbsCursor(jobs)

    def choice(i: int, text: str, finish: str | None, offset: int = 0) -> dict[str, Any]:
        probs = completion_logprobs(api.model, cursor.take(i), offset) if wants_probs else None
        return {"index": i, "text": text, "finish_reason": finish, "logprobs": probs}

    if not s.stream:
        answers = await api.run_jobs(request, jobs)
        out = chunk([choice(i, echo + text, reason, len(echo)) for i, (text, reason) in enumerate(answers)])
        return JSONResponse({**out, "usage": usage(jobs), **report_of(jobs[0])})
    for job in jobs:
        api.engine.submit(job)

    async def events() -> AsyncIterator[str]:
        started: set[int] = set()
        async for i, kind, value in api.stream_jobs(jobs):
            if kind == "error":
                yield sse(error_body(value))
                break
            prefix = echo if i not in started else ""
            started.add(i)
            if kind == "text":
                yield sse(chunk([choice(i, prefix + value, None, len(prefix))]))
            else:
                yield sse({**chunk([choice(i, prefix, value, len(prefix))]), **report_of(jobs[i])})
        if s.include_usage:
            yield sse({**chunk([]), "usage": usage(jobs), **report_of(jobs[0])})
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def render_inputs(api: ApiServer, inputs: ChatInputs) -> tuple[ChatPrompt, str, list[int]]:
    """A request's chat prompt, rendered off the event loop (it may take a while): the
    template's prompt object, the text the model is given (a prefill at its end) and its tokens."""

    def render() -> ChatPrompt:
        with api.render_lock:
            return render_chat(
                api.template,
                inputs.messages,
                tools=inputs.tools,
                tool_choice=inputs.tool_choice,
                response_format=inputs.response_format,
                parallel_tool_calls=inputs.parallel_tool_calls,
                add_generation_prompt=inputs.add_generation_prompt,
                enable_thinking=api.enable_thinking if inputs.enable_thinking is None else inputs.enable_thinking,
                template_kwargs=inputs.template_kwargs,
            )

    prompt = await asyncio.get_running_loop().run_in_executor(None, render)
    text = prompt.prompt + inputs.prefill
    return prompt, text, api.model.tokenize(text, add_special=True, parse_special=True).tolist()


async def chat_jobs(api: ApiServer, inputs: ChatInputs, s: Sampling) -> tuple[ChatPrompt, str, list[Job]]:
    """A chat request's prompt, the text the model is given, and its `n` jobs, ready to submit
    (any grammar already parsed)."""
    loop = asyncio.get_running_loop()
    prompt, text, tokens = await render_inputs(api, inputs)
    jobs = make_jobs(api, tokens, s, prompt)
    if prompt.grammar is not None:  # parsed against the vocabulary before admission, off the loop
        for job in jobs:
            await loop.run_in_executor(None, api.engine.prepare, job)
    return prompt, text, jobs


async def chat_completions(api: ApiServer, request: Request) -> Response:
    """POST /v1/chat/completions."""
    req = parse(ChatCompletionRequest, await api.body_of(request))
    s = sampling_of(req)
    prompt, prompt_text, jobs = await chat_jobs(api, chat_inputs(req), s)
    chunk = envelope(api, "chatcmpl", "chat.completion.chunk")

    wants_probs = s.params.logprobs is not None
    cursor = ProbsCursor(jobs)

    def delta(i: int, d: dict[str, Any], finish: str | None) -> dict[str, Any]:
        # the tokens of this delta's content (a stream's role and final chunks carry none)
        probs = chat_logprobs(api.model, cursor.take(i)) if wants_probs and d.get("content") else None
        return {"index": i, "delta": d, "finish_reason": finish, "logprobs": probs}

    if not s.stream:
        answers = await api.run_jobs(request, jobs)
        choices = []
        for i, (text, reason) in enumerate(answers):
            message = with_call_ids(parse_reply(prompt, text))
            probs = chat_logprobs(api.model, jobs[i].token_probs) if wants_probs else None
            choices.append({"index": i, "message": message, "finish_reason": finish_reason_of(reason, message),
                            "logprobs": probs})  # fmt: skip
        out = {**chunk(choices), "object": "chat.completion", "usage": usage(jobs), **report_of(jobs[0])}
        if api.verbose or req.verbose:  # llama-server's: what the model was given
            out["__verbose"] = {"prompt": prompt_text}
        return JSONResponse(out)
    for job in jobs:
        api.engine.submit(job)

    async def events() -> AsyncIterator[str]:
        for i in range(len(jobs)):
            yield sse(chunk([delta(i, {"role": "assistant", "content": None}, None)]))
        replies = [ReplyContent(prompt) for _ in jobs]
        async for i, kind, value in api.stream_jobs(jobs):
            if kind == "error":
                yield sse(error_body(value))
                break
            if kind == "text":
                new = replies[i].feed(value)
                if new:
                    yield sse(chunk([delta(i, {"content": new}, None)]))
                continue
            message, new = replies[i].finish()
            message = with_call_ids(message)
            if new:
                yield sse(chunk([delta(i, {"content": new}, None)]))
            calls = message.get("tool_calls") or []
            if calls:
                yield sse(chunk([delta(i, {"tool_calls": [{"index": k, **c} for k, c in enumerate(calls)]}, None)]))
            yield sse({**chunk([delta(i, {}, finish_reason_of(value, message))]), **report_of(jobs[i])})
        if s.include_usage:  # the usage chunk carries the timings too, as llama-server's
            yield sse({**chunk([]), "usage": usage(jobs), **report_of(jobs[0])})
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def chat_input_tokens(api: ApiServer, request: Request) -> Response:
    """POST /v1/chat/completions/input_tokens: the prompt's tokens, as the chat would render it."""
    inputs = chat_inputs(parse(ChatCompletionRequest, await api.body_of(request)))
    _, _, tokens = await render_inputs(api, inputs)
    return JSONResponse({"input_tokens": len(tokens)})

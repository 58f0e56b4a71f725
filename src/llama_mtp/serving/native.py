"""llama-server's native API beside the OpenAI one: /completion, /tokenize, /detokenize,
/apply-template and /props, with the fields llama.cpp's own server tests read. The requests
are declared in the same schema and go through the same conversion (sampling_of) into the engine's options
(ApiServer.job_options, LLM.job_options()) as the OpenAI endpoints."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .._core import TokenProbs
from ..draft_vocab import eog_tokens
from .app import ApiServer
from .engine import Job
from .logprobs import ProbsCursor, native_probabilities, pieces_match, token_piece
from .openai_api import render_inputs
from .requests import ChatInputs, Sampling, sampling_of, thinking_of
from .responses import error_body, error_response, matched_stop, sse
from .schema import (
    ApplyTemplateRequest,
    DetokenizeRequest,
    NativeCompletionRequest,
    NativePromptObject,
    RequestError,
    TokenizeRequest,
    parse,
)
from .timings import report_of


def native_prompts(api: ApiServer, prompt: Any) -> list[list[int]]:
    """llama-server's prompts: a list holding no number is several prompts (each a string, token
    ids, or both mixed); anything else is one."""
    if isinstance(prompt, list) and prompt and not any(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
        return [native_prompt(api, p) for p in prompt]
    return [native_prompt(api, prompt)]


def _text_of(prompt: NativePromptObject) -> str:
    if prompt.multimodal_data:
        raise RequestError("prompt", "multimodal input is not supported by this server (it reads text alone)")
    return prompt.prompt_string


def native_prompt(api: ApiServer, prompt: Any) -> list[int]:
    """llama-server's prompt: text, token ids, or a list mixing both (joined in order; the text
    parts tokenized without special tokens but the first, which gets the model's BOS)."""
    n_vocab = api.model.n_vocab
    if isinstance(prompt, NativePromptObject):
        prompt = _text_of(prompt)
    if isinstance(prompt, str):
        prompt = [prompt]
    if not isinstance(prompt, list) or not prompt:
        raise RequestError("prompt", "'prompt' must be a non-empty string, a list of token ids, or a list of both")
    tokens: list[int] = []
    for i, part in enumerate(prompt):
        if isinstance(part, str):
            tokens += api.model.tokenize(part, add_special=i == 0, parse_special=True).tolist()
        elif isinstance(part, int) and not isinstance(part, bool) and 0 <= part < n_vocab:
            tokens.append(part)
        else:
            raise RequestError("prompt", f"'prompt' items must be strings or token ids in [0, {n_vocab})")
    if not tokens:
        raise RequestError("prompt", "'prompt' must not be empty")
    return tokens


def _stop_type(api: ApiServer, job: Job, reason: str) -> str:
    if reason == "length":
        return "limit"
    return "word" if matched_stop(api.model, job) is not None else "eos"


def _settings(api: ApiServer, job: Job, stream: bool) -> dict[str, Any]:
    s = job.options.sampling
    bias = dict(s.logit_bias or {})
    if s.ignore_eos:  # llama-server lists ignore_eos's bans among the biases
        bias.update(dict.fromkeys(eog_tokens(api.model), -math.inf))
    return {
        "n_predict": s.max_tokens,
        "seed": job.options.seed,
        "temperature": s.temperature,
        "top_k": s.top_k,
        "top_p": s.top_p,
        "min_p": s.min_p,
        "stop": list(job.options.stop),
        "ignore_eos": s.ignore_eos,
        "stream": stream,
        "n_probs": s.logprobs or 0,
        # llama-server's shape: [{"token", "bias"}], -inf (a ban) as null
        "logit_bias": [{"token": t, "bias": None if b == -math.inf else b} for t, b in sorted(bias.items())],
    }


async def completion(api: ApiServer, request: Request) -> Response:
    """POST /completion: llama-server's text completion (content, stop, stop_type, timings, ...)."""
    req = parse(NativeCompletionRequest, await api.body_of(request))
    prompts = native_prompts(api, req.prompt)
    return_tokens = req.return_tokens
    # n_predict -1 is llama-server's "until the context is full": the room the sequence has
    s = sampling_of(req, max_tokens=req.n_predict if req.n_predict not in (None, -1) else None)
    if req.n_probs > 0:  # llama-server's n_probs: the tokens' log-probabilities and that many candidates
        s.params = dataclasses.replace(s.params, logprobs=req.n_probs)
    loop = asyncio.get_running_loop()
    if len(prompts) > 1:
        if s.stream:
            raise RequestError("stream", "streaming several prompts in one request is not supported")
        jobs = [Job(p, api.job_options(s, len(p), None), loop) for p in prompts]
        answers = await api.run_jobs(request, jobs)
        return JSONResponse(
            [
                summary(api, job, p, i, text, reason, s, return_tokens)
                for i, (job, p, (text, reason)) in enumerate(zip(jobs, prompts, answers, strict=True))
            ]
        )
    tokens = prompts[0]
    job = Job(tokens, api.job_options(s, len(tokens), None), loop)

    def final(text: str, reason: str) -> dict[str, Any]:
        return summary(api, job, tokens, 0, text, reason, s, return_tokens)

    if not s.stream:
        text, reason = await api.run_job(request, job)
        return JSONResponse(final(text, reason))
    api.engine.submit(job)
    cursor = ProbsCursor([job])

    def partial(text: str, probs: list[TokenProbs]) -> str:
        out = {"index": 0, "content": text, "tokens": [p.token for p in probs], "stop": False, "id_slot": job.slot}
        if req.n_probs > 0:
            out["completion_probabilities"] = native_probabilities(api.model, probs)
        return sse(out)

    async def events() -> AsyncIterator[str]:
        async for kind, value in api.stream_job(job):
            if kind == "error":
                yield sse(error_body(value))
                return
            if kind != "text":
                yield sse(final("", value))
                continue
            probs = cursor.take(0)
            if pieces_match(api.model, probs, value):  # a chunk per token, as llama-server streams
                for p in probs:
                    yield partial(token_piece(api.model, p.token), [p])
            else:
                yield partial(value, probs)

    return StreamingResponse(events(), media_type="text/event-stream")


def summary(
    api: ApiServer, job: Job, tokens: list[int], index: int, text: str, reason: str, s: Sampling, return_tokens: bool
) -> dict[str, Any]:
    """A finished /completion's answer (a stream's last chunk has it with empty content)."""
    return {
        "index": index,
        "content": text,
        "tokens": list(job.result_tokens) if return_tokens else [],
        "id_slot": job.slot,
        "stop": True,
        "model": api.model_id,
        "tokens_predicted": job.n_generated,
        "tokens_evaluated": len(tokens),
        "tokens_cached": job.n_cached,
        "generation_settings": _settings(api, job, s.stream),
        "has_new_line": "\n" in job.text,
        "truncated": False,
        "stop_type": _stop_type(api, job, reason),
        "stopping_word": matched_stop(api.model, job) or "",
        **report_of(job),
        **({"completion_probabilities": native_probabilities(api.model, job.token_probs)} if s.params.logprobs else {}),
    }


async def tokenize(api: ApiServer, request: Request) -> Response:
    """POST /tokenize: {"content", "add_special", "parse_special", "with_pieces"} -> {"tokens"}."""
    req = parse(TokenizeRequest, await api.body_of(request))
    ids = api.model.tokenize(req.content, add_special=req.add_special, parse_special=req.parse_special).tolist()
    if not req.with_pieces:
        return JSONResponse({"tokens": ids})
    return JSONResponse({"tokens": [{"id": t, "piece": api.model.token_to_piece(t)} for t in ids]})


async def detokenize(api: ApiServer, request: Request) -> Response:
    """POST /detokenize: {"tokens": [...]} -> {"content"}."""
    ids = parse(DetokenizeRequest, await api.body_of(request)).tokens
    n_vocab = api.model.n_vocab
    if any(t >= n_vocab for t in ids):
        raise RequestError("tokens", f"'tokens' must be token ids in [0, {n_vocab})")
    return JSONResponse({"content": api.model.detokenize(ids) if ids else ""})


async def apply_template(api: ApiServer, request: Request) -> Response:
    """POST /apply-template: the chat prompt the messages render to, as /chat/completions would."""
    req = parse(ApplyTemplateRequest, await api.body_of(request))
    inputs = ChatInputs(
        messages=[m.model_dump(exclude_unset=True) for m in req.messages],
        tools=[t.model_dump(exclude_unset=True) for t in req.tools] if req.tools else None,
        tool_choice="auto",
        response_format=None,
        parallel_tool_calls=False,
        add_generation_prompt=req.add_generation_prompt,
        **thinking_of(req.chat_template_kwargs),
    )
    _, text, _ = await render_inputs(api, inputs)
    return JSONResponse({"prompt": text})


async def props(api: ApiServer, request: Request) -> Response:
    """GET /props: the server's settings, as llama-server reports them."""
    engine = api.engine
    return JSONResponse(
        {
            "default_generation_settings": {
                "n_ctx": engine.n_ctx_per_sequence,
                "params": {
                    "n_predict": api.n_predict,
                    "seed": api.seed if api.seed is not None else 0xFFFFFFFF,
                    "temperature": 0.0,
                    "top_k": 0,
                    "top_p": 1.0,
                    "min_p": 0.0,
                },
                "speculative": {"draft": engine.llm.draft, "n_draft_max": engine.n_draft_max, "mtp": engine.mtp},
            },
            "total_slots": engine.parallel,
            "model_alias": api.model_id,
            "model_path": engine.model.path,
            "chat_template": api.template.source,
            "modalities": {"vision": False, "audio": False},
            "build_info": "llama-mtp",
        }
    )


async def slots(api: ApiServer, request: Request) -> Response:
    """GET /slots: each sequence slot, as llama-server lists them (501 with serve --no-slots)."""
    if not api.slots_enabled:
        return error_response(501, "/slots is off (serve --no-slots)", kind="not_supported_error")
    busy = api.engine.busy_slots()
    return JSONResponse(
        [
            {
                "id": i,
                "n_ctx": api.engine.n_ctx_per_sequence,
                "is_processing": i in busy,
                "n_prompt_tokens": len(busy[i].tokens) if i in busy else 0,
                "n_decoded": busy[i].n_generated if i in busy else 0,
            }
            for i in range(api.engine.parallel)
        ]
    )

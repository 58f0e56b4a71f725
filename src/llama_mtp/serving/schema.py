"""The server's request schema: every endpoint's body declared once, with its bounds and a
description (pydantic v2, strict: JSON's types, no coercion); /openapi.json publishes it.
`parse()` turns a failing body into a RequestError naming the field (HTTP 400). Fields other
servers send that are not declared here are ignored, as OpenAI's and llama-server's do."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._core import InvalidArgumentError
from ..sizing import AUTO_DRAFT_MAX

# the native types the integer fields end in: a value outside them is the request's fault (400),
# never an overflow deeper down (SeqConfig.seed is uint32; 2**32 - 1 is upstream's "random")
SEED_MAX = (1 << 32) - 1
MAX_TOKENS_MAX = 1 << 24  # int32 in SeqConfig, and far above any context
TOP_K_MAX = 1 << 20  # int32 in SamplerParams
N_CHOICES_MAX = 16  # choices of one request (`n`): each is a sequence of its own
N_PROBS_MAX = 100  # candidates reported per token (llama-server's n_probs, OpenAI's top_logprobs: 20)
TOKEN_ID_MAX = (1 << 31) - 1  # the model's own vocabulary size is checked where the model is known


class RequestError(InvalidArgumentError):
    """An invalid request: `param` names the field (OpenAI's error body carries it)."""

    def __init__(self, param: str | None, message: str) -> None:
        super().__init__(message)
        self.param = param


class ContextSizeError(RequestError):
    """A prompt longer than a sequence holds (llama-server's exceed_context_size_error)."""

    def __init__(self, param: str, n_prompt_tokens: int, n_ctx: int) -> None:
        message = f"the request ({n_prompt_tokens} prompt tokens) exceeds the available context size ({n_ctx} per sequence)"
        super().__init__(param, message)
        self.n_prompt_tokens = n_prompt_tokens
        self.n_ctx = n_ctx


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


TokenId = Annotated[int, Field(ge=0, le=TOKEN_ID_MAX)]
StopString = Annotated[str, Field(min_length=1)]


class StreamOptions(Body):
    include_usage: bool = Field(False, description="a last chunk with the request's token counts")


class SpeculationFields(Body):
    """What a request asks of speculation (DraftConfig's fields over the server's)."""

    draft: Literal["auto", "mtp", "ngram", "none"] | None = Field(None, description="the drafter")
    mtp: bool = Field(True, description="false: no drafting (draft 'none')")
    n_draft_max: Literal["auto", "adaptive"] | Annotated[int, Field(ge=0, le=AUTO_DRAFT_MAX)] | None = Field(
        None, description="tokens drafted per step; 'adaptive' (the default) chooses by measured costs"
    )
    exact: bool | None = Field(None, description="every token verified alone (bit-identical to plain decoding)")
    sampled_drafts: bool | None = Field(None, description="MTP drafts sampled, verified by rejection sampling")


class GenerationRequest(SpeculationFields):
    """The generation fields every completion endpoint shares."""

    model: str | None = Field(None, description="any name: the server serves one model")
    max_tokens: int | None = Field(None, ge=0, le=MAX_TOKENS_MAX, description="tokens to generate at most")
    max_completion_tokens: int | None = Field(None, ge=0, le=MAX_TOKENS_MAX, description="max_tokens' newer name")
    n: int = Field(1, ge=1, le=N_CHOICES_MAX, description="choices, each sampled as a sequence of its own")
    stop: StopString | Annotated[list[StopString], Field(max_length=16)] | None = Field(
        None, description="stop strings, not included in the text"
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, allow_inf_nan=False, description="0: greedy")
    top_p: float = Field(1.0, ge=1e-9, le=1.0, allow_inf_nan=False)
    top_k: int = Field(0, ge=0, le=TOP_K_MAX, description="0: the whole vocabulary")
    min_p: float = Field(0.0, ge=0.0, le=0.999, allow_inf_nan=False)
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="fixes a sampled text; the server's --seed if none")
    ignore_eos: bool = Field(False, description="generate past end-of-generation tokens")
    logit_bias: (
        dict[str, float | Literal[False]]
        | list[Annotated[list[TokenId | str | float | Literal[False]], Field(min_length=2, max_length=2)]]
        | None
    ) = Field(None, description="token id (or text: each of its tokens) -> bias added to its logit; false bans it")
    logprobs: bool | Annotated[int, Field(ge=0, le=N_PROBS_MAX)] | None = Field(
        None, description="chat: true for each token's logprob; completions: that many candidates per token"
    )
    top_logprobs: int | None = Field(None, ge=0, le=20, description="chat: candidates per token with logprobs")
    stream: bool = Field(False, description="server-sent events")
    stream_options: StreamOptions | None = None
    grammar: str | None = Field(None, description="GBNF the text must match")
    json_schema: dict[str, Any] | None = Field(None, description="a JSON schema the text must match")


class CompletionRequest(GenerationRequest):
    """POST /v1/completions."""

    prompt: Annotated[str, Field(min_length=1)] | Annotated[list[TokenId], Field(min_length=1)] = Field(
        description="text, or token ids"
    )
    echo: bool = Field(False, description="the prompt's text before the completion")


NativePromptPart = str | TokenId


class NativePromptObject(Body):
    """llama-server's prompt object: text, and media (refused: this server reads text alone)."""

    prompt_string: str
    multimodal_data: list[str] | str | None = None


class NativeCompletionRequest(GenerationRequest):
    """POST /completion (llama-server's native completion)."""

    prompt: str | NativePromptObject | list[NativePromptPart | list[NativePromptPart] | NativePromptObject] = Field(
        description="text, token ids, a list mixing both, a prompt object, or a list of such prompts (answered in a list)"
    )
    n_predict: int | None = Field(None, ge=-1, le=MAX_TOKENS_MAX, description="tokens at most; -1: until the context")
    n_probs: int = Field(0, ge=0, le=N_PROBS_MAX, description="the most probable candidates of every token")
    return_tokens: bool = Field(False, description="the generated token ids")
    cache_prompt: bool = Field(True, description="reuse a matching prefix (always done)")


class TextPart(Body):
    type: Literal["text"]
    text: str


class ChatMessage(Body):
    model_config = ConfigDict(strict=True, extra="allow")  # tool_calls, name, reasoning_content: the template's
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None


class FunctionSpec(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(Body):
    type: Literal["function"]
    function: FunctionSpec


class NamedFunction(Body):
    name: str


class NamedToolChoice(Body):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    name: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema", description="json_object's schema (llama-server's)")


class ChatCompletionRequest(GenerationRequest):
    """POST /v1/chat/completions."""

    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "required", "none"] | NamedToolChoice | None = None
    parallel_tool_calls: bool = False
    response_format: ResponseFormat | None = None
    continue_final_message: bool | None = Field(
        None, description="continue a final assistant message (the default when the conversation ends in one)"
    )
    add_generation_prompt: bool | None = Field(None, description="not with continue_final_message")
    verbose: bool = Field(False, description="the rendered prompt in the response's __verbose (llama-server's)")
    chat_template_kwargs: dict[str, Any] | None = Field(
        None, description='the template\'s variables ({"enable_thinking": false} turns reasoning off)'
    )


class ApplyTemplateRequest(Body):
    """POST /apply-template."""

    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    tools: list[Tool] | None = None
    add_generation_prompt: bool = True
    chat_template_kwargs: dict[str, Any] | None = None


class TokenizeRequest(Body):
    """POST /tokenize."""

    content: str = ""
    add_special: bool = False
    parse_special: bool = True
    with_pieces: bool = False


class DetokenizeRequest(Body):
    """POST /detokenize."""

    tokens: list[TokenId] = Field(default_factory=list)


Request = TypeVar("Request", bound=Body)
# pydantic's union members in an error's location ('str', 'list[int]', 'literal[...]', model names)
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|[A-Z]\w*)$|[\[(-]")


def parse(schema: type[Request], body: Mapping[str, Any]) -> Request:
    """The body validated against its schema; the first bad field is a RequestError naming it."""
    try:
        return schema.model_validate(body)
    except ValidationError as e:
        raise _request_error(e) from None


def _where(loc: tuple[int | str, ...]) -> list[int | str]:
    return [p for p in loc if isinstance(p, int) or not _UNION_MEMBER.search(p)]


def _request_error(e: ValidationError) -> RequestError:
    errors = e.errors(include_url=False)
    first = _where(errors[0]["loc"])
    field = first[0] if first else None
    # a union's members fail one by one: the field is where they all failed
    same = [_where(err["loc"]) for err in errors if _where(err["loc"])[:1] == first[:1]]
    common = same[0]
    for path in same[1:]:
        n = 0
        while n < min(len(common), len(path)) and common[n] == path[n]:
            n += 1
        common = common[:n]
    param = _path(common) if field is not None else None
    reasons = "; or ".join(dict.fromkeys(err["msg"] for err in errors if _where(err["loc"])[:1] == first[:1]))
    return RequestError(param, f"'{param}': {reasons}" if param else reasons)


def _path(parts: list[int | str]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}" if out else str(p)
    return out


def request_schemas() -> dict[str, type[Body]]:
    """Each POST endpoint's body schema (the OpenAPI document's request bodies)."""
    from .schema_anthropic import AnthropicCountRequest, AnthropicMessagesRequest
    from .schema_responses import ResponsesRequest

    chat = ChatCompletionRequest
    return {
        "/v1/completions": CompletionRequest,
        "/v1/chat/completions": chat,
        "/completions": NativeCompletionRequest,
        "/chat/completions": chat,
        "/completion": NativeCompletionRequest,
        "/tokenize": TokenizeRequest,
        "/detokenize": DetokenizeRequest,
        "/apply-template": ApplyTemplateRequest,
        "/v1/messages": AnthropicMessagesRequest,
        "/v1/messages/count_tokens": AnthropicCountRequest,
        "/v1/responses": ResponsesRequest,
        "/responses": ResponsesRequest,
        "/v1/chat/completions/input_tokens": chat,
        "/chat/completions/input_tokens": chat,
    }

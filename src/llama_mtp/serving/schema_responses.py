"""The request schema of OpenAI's Responses API (/v1/responses): declared as schema.py declares
the others, with the same bounds. Input items other than messages and function calls (files,
images, web search) are refused: this server reads text."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from .schema import MAX_TOKENS_MAX, TOP_K_MAX, Body, SpeculationFields


class ResponsesText(Body):
    model_config = ConfigDict(strict=True, extra="allow")  # annotations, logprobs of earlier output
    type: Literal["input_text", "output_text", "text"]
    text: str


class ResponsesMessage(Body):
    model_config = ConfigDict(strict=True, extra="allow")  # id, status of earlier output
    type: Literal["message"] = "message"
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ResponsesText]


class ResponsesFunctionCall(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str


class ResponsesFunctionCallOutput(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    type: Literal["function_call_output"]
    call_id: str
    output: str


class ResponsesTool(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ResponsesNamedTool(Body):
    type: Literal["function"]
    name: str


class ResponsesRequest(SpeculationFields):
    """POST /v1/responses (OpenAI's Responses API)."""

    model: str | None = None
    input: str | list[ResponsesMessage | ResponsesFunctionCall | ResponsesFunctionCallOutput] = Field(
        description="text (a user message), or the conversation's items"
    )
    instructions: str | None = Field(None, description="a system message before the input")
    max_output_tokens: int | None = Field(None, ge=0, le=MAX_TOKENS_MAX)
    temperature: float = Field(0.0, ge=0.0, le=2.0, allow_inf_nan=False)
    top_p: float = Field(1.0, ge=1e-9, le=1.0, allow_inf_nan=False)
    top_k: int = Field(0, ge=0, le=TOP_K_MAX)
    stream: bool = False
    tools: list[ResponsesTool] | None = None
    tool_choice: Literal["auto", "required", "none"] | ResponsesNamedTool | None = None
    parallel_tool_calls: bool = True
    metadata: dict[str, Any] | None = None
    timings_per_token: bool = Field(False, description="timings with every text delta (llama-server's)")

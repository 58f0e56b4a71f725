"""The request schema of Anthropic's Messages API (/v1/messages, /v1/messages/count_tokens):
declared as schema.py declares the others, with the same bounds."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from .schema import MAX_TOKENS_MAX, TOP_K_MAX, Body, SpeculationFields, StopString


class AnthropicText(Body):
    type: Literal["text"]
    text: str


class AnthropicImage(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    type: Literal["image"]


class AnthropicToolUse(Body):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class AnthropicToolResult(Body):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[Annotated[AnthropicText | AnthropicImage, Field(discriminator="type")]] | None = None
    is_error: bool = False


class AnthropicThinking(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    type: Literal["thinking"]
    thinking: str


AnthropicBlock = Annotated[
    AnthropicText | AnthropicImage | AnthropicToolUse | AnthropicToolResult | AnthropicThinking,
    Field(discriminator="type"),
]


class AnthropicMessage(Body):
    role: Literal["user", "assistant"]
    content: str | list[AnthropicBlock]


class AnthropicTool(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    name: str
    description: str | None = None
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class AnthropicToolChoice(Body):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None


class AnthropicCountRequest(Body):
    """POST /v1/messages/count_tokens (Anthropic's token counting)."""

    model: str | None = None
    messages: list[AnthropicMessage]
    system: str | list[AnthropicText] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: AnthropicToolChoice | None = None


class AnthropicMessagesRequest(AnthropicCountRequest, SpeculationFields):
    """POST /v1/messages (Anthropic's Messages API)."""

    max_tokens: int | None = Field(None, ge=0, le=MAX_TOKENS_MAX, description="tokens to generate at most")
    stop_sequences: Annotated[list[StopString], Field(max_length=16)] | None = None
    temperature: float = Field(0.0, ge=0.0, le=2.0, allow_inf_nan=False)
    top_p: float = Field(1.0, ge=1e-9, le=1.0, allow_inf_nan=False)
    top_k: int = Field(0, ge=0, le=TOP_K_MAX)
    stream: bool = False
    metadata: dict[str, Any] | None = None

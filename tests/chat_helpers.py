"""Tiny chat models for the chat, template and server tests."""

from __future__ import annotations

from pathlib import Path

from llama_mtp.testing import TINY_CHAT_TEMPLATE, tiny_model_spec, tiny_mtp_model

TOOL_CALL_ID = 1024 - 2  # "<tool_call>" in a chat model's vocabulary (testing.CHAT_TOKENS)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
            "required": ["city"],
        },
    },
}

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "minimum": 0, "maximum": 9}},
    "required": ["ok", "n"],
}


def tool_calling_seed() -> int:
    """A seed whose model starts every reply with "<tool_call>" (its greedy first word)."""
    return next(s for s in range(10_000) if tiny_model_spec(seed=s).start == TOOL_CALL_ID)


def chat_model_path(model_dir: Path, *, kind: str = "dense", tool_calling: bool = False) -> Path:
    seed = tool_calling_seed() if tool_calling else 0
    return tiny_mtp_model(
        model_dir / f"chat-{kind}-{seed}.gguf",
        kind=kind,  # type: ignore[arg-type]
        seed=seed,
        chat_template=TINY_CHAT_TEMPLATE,
    )

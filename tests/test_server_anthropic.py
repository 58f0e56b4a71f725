"""Anthropic's Messages API (src/llama_mtp/serving/anthropic.py): /v1/messages as JSON and as
Anthropic's events, tool use and tool results, thinking in the history, count_tokens; the same
text as /v1/chat/completions for the same conversation. Raw requests, as Anthropic's SDK
makes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from chat_helpers import WEATHER_TOOL, chat_model_path
from server_helpers import ServerProcess

import llama_mtp
from llama_mtp.serving.anthropic import chat_inputs_of
from llama_mtp.serving.header_case import conventional
from llama_mtp.serving.schema import RequestError, parse
from llama_mtp.serving.schema_anthropic import AnthropicMessagesRequest

HELLO = [{"role": "user", "content": "Say hello"}]
TOOL = {
    "name": WEATHER_TOOL["function"]["name"],
    "description": "The weather of a city",
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chat_model_path(tmp_path_factory.mktemp("anthropic"), tool_calling=True)


@pytest.fixture(scope="module")
def h(model_path: Path) -> Iterator[httpx.Client]:
    s = ServerProcess(model_path, "-np", "2", "-c", "4096", "--alias", "tiny")
    with httpx.Client(base_url=s.url, timeout=120) as client:
        yield client
    assert s.stop(), "".join(s.output)


def events(h: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    with h.stream("POST", "/v1/messages", json={**body, "stream": True}) as r:
        assert r.status_code == 200
        lines = list(r.iter_lines())
    kinds = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    data = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert kinds == [d["type"] for d in data]  # each event named as its data says
    return data


def test_a_message_is_the_chat_completions_text(h: httpx.Client) -> None:
    r = h.post("/v1/messages", json={"model": "x", "max_tokens": 24, "messages": HELLO, "system": "Be brief."})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "message" and out["role"] == "assistant" and out["id"].startswith("msg_")
    assert "timings" not in out
    chat = h.post(
        "/v1/chat/completions", json={"max_tokens": 24, "messages": [{"role": "system", "content": "Be brief."}, *HELLO]}
    )
    assert out["content"] == [{"type": "text", "text": chat.json()["choices"][0]["message"]["content"]}]
    reason = chat.json()["choices"][0]["finish_reason"]
    assert out["stop_reason"] == {"length": "max_tokens", "stop": "end_turn"}[reason]
    usage = out["usage"]
    assert usage["input_tokens"] + usage["cache_read_input_tokens"] == chat.json()["usage"]["prompt_tokens"]
    assert usage["output_tokens"] == chat.json()["usage"]["completion_tokens"]


def test_the_stream_has_anthropics_events_and_the_same_text(h: httpx.Client) -> None:
    body = {"max_tokens": 20, "messages": HELLO}
    whole = h.post("/v1/messages", json=body).json()
    data = events(h, body)
    kinds = [d["type"] for d in data]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert data[0]["message"]["content"] == [] and data[0]["message"]["usage"]["input_tokens"] > 0
    text = "".join(d["delta"]["text"] for d in data if d["type"] == "content_block_delta")
    assert text == whole["content"][0]["text"]
    assert [d["index"] for d in data if d["type"] == "content_block_start"] == [0]
    assert data[-2]["delta"]["stop_reason"] == whole["stop_reason"]
    assert data[-2]["usage"]["output_tokens"] == whole["usage"]["output_tokens"]


def test_tool_use_comes_back_as_tool_use_blocks(h: httpx.Client) -> None:
    body = {"max_tokens": 64, "messages": [{"role": "user", "content": "Weather?"}], "tools": [TOOL],
            "tool_choice": {"type": "tool", "name": TOOL["name"]}}  # fmt: skip
    out = h.post("/v1/messages", json=body).json()
    uses = [b for b in out["content"] if b["type"] == "tool_use"]
    assert uses and out["stop_reason"] == "tool_use"
    assert all(u["name"] == TOOL["name"] and isinstance(u["input"], dict) and u["id"] for u in uses)
    streamed = events(h, body)
    starts = [d for d in streamed if d["type"] == "content_block_start"]
    assert [s["index"] for s in starts] == list(range(len(starts)))
    assert [s["content_block"]["name"] for s in starts if s["content_block"]["type"] == "tool_use"] == [u["name"] for u in uses]
    stops = [d["index"] for d in streamed if d["type"] == "content_block_stop"]
    assert stops == [s["index"] for s in starts]


def test_history_blocks_become_chat_messages() -> None:
    req = parse(
        AnthropicMessagesRequest,
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "I should look it up."},
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "sunny"}]},
                    {"type": "text", "text": "And tomorrow?"},
                ]},
            ],
        },
    )  # fmt: skip
    m = chat_inputs_of(req).messages
    assert m[1]["reasoning_content"] == "I should look it up."
    assert m[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert m[2] == {"role": "tool", "tool_call_id": "t1", "content": "sunny"}
    assert m[3] == {"role": "user", "content": "And tomorrow?"}
    image = {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "AA=="}}]}
    with pytest.raises(RequestError) as e:
        chat_inputs_of(parse(AnthropicMessagesRequest, {"messages": [image]}))
    assert e.value.param == "messages[0].content" and "image input is not supported" in str(e.value)


def test_count_tokens_counts_the_rendered_prompt(h: httpx.Client, model_path: Path) -> None:
    r = h.post("/v1/messages/count_tokens", json={"messages": HELLO})
    assert r.status_code == 200 and set(r.json()) == {"input_tokens"}
    prompt_tokens = h.post("/v1/chat/completions", json={"max_tokens": 1, "messages": HELLO}).json()["usage"]["prompt_tokens"]
    assert r.json()["input_tokens"] == prompt_tokens
    longer = h.post("/v1/messages/count_tokens", json={"messages": HELLO, "system": "You are a helpful assistant."})
    assert longer.json()["input_tokens"] > prompt_tokens
    assert llama_mtp.Model(model_path).n_vocab > 0


def test_bad_bodies_name_the_field(h: httpx.Client) -> None:
    for body, param in [
        ({"max_tokens": 4}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": HELLO, "max_tokens": -1}, "max_tokens"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages[0].content"),
    ]:
        r = h.post("/v1/messages", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text


def test_header_names_go_out_in_their_conventional_case(h: httpx.Client) -> None:
    assert conventional(b"access-control-allow-origin") == b"Access-Control-Allow-Origin"
    r = h.get("/health")
    assert "Content-Type" in [k.decode() for k, _ in r.headers.raw]

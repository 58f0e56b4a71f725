"""OpenAI's Responses API (src/llama_mtp/serving/responses_api.py) with the openai client: the
same text as /v1/chat/completions for the same conversation, streamed as typed events, function
calls out and their outputs back in, usage and timings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from chat_helpers import WEATHER_TOOL, chat_model_path
from server_helpers import ServerProcess

from llama_mtp.serving.responses_api import chat_inputs_of
from llama_mtp.serving.schema import RequestError, parse
from llama_mtp.serving.schema_responses import ResponsesRequest

CONVERSATION = [{"role": "system", "content": "Book"}, {"role": "user", "content": "What is the best book"}]
TOOL = {"type": "function", **WEATHER_TOOL["function"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = ServerProcess(chat_model_path(tmp_path_factory.mktemp("responses"), tool_calling=True), "-np", "2", "--alias", "tiny")
    yield s
    assert s.stop(), "".join(s.output)


@pytest.fixture()
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=120)


def chat_text(server: ServerProcess, messages: list[dict[str, Any]], n: int) -> dict[str, Any]:
    r = httpx.post(server.url + "/v1/chat/completions", json={"messages": messages, "max_tokens": n}, timeout=120)
    return dict(r.json())


def test_a_response_is_the_chat_text(server: ServerProcess, client: openai.OpenAI) -> None:
    res = client.responses.create(model="tiny", input=CONVERSATION, max_output_tokens=8)  # type: ignore[arg-type]
    chat = chat_text(server, CONVERSATION, 8)
    assert res.id.startswith("resp_") and res.output[0].id.startswith("msg_")  # type: ignore[union-attr]
    assert res.output_text == chat["choices"][0]["message"]["content"]
    assert res.usage is not None and res.usage.output_tokens == chat["usage"]["completion_tokens"]
    assert res.status == ("incomplete" if chat["choices"][0]["finish_reason"] == "length" else "completed")
    instructed = client.responses.create(model="tiny", instructions="Book", input="What is the best book", max_output_tokens=8)
    assert instructed.output_text == res.output_text  # instructions: the system message


def test_the_stream_spells_the_same_text(client: openai.OpenAI) -> None:
    whole = client.responses.create(model="tiny", input=CONVERSATION, max_output_tokens=10)  # type: ignore[arg-type]
    text, kinds, msg_id, completed = "", [], "", None
    for event in client.responses.create(model="tiny", input=CONVERSATION, max_output_tokens=10, stream=True):  # type: ignore[arg-type]
        kinds.append(event.type)
        if event.type == "response.output_item.added":
            msg_id = event.item.id  # type: ignore[assignment]
        if event.type == "response.output_text.delta":
            assert event.item_id == msg_id
            text += event.delta
        if event.type in ("response.completed", "response.incomplete"):
            completed = event.response
    assert kinds[:2] == ["response.created", "response.in_progress"] and completed is not None
    assert text == completed.output_text == whole.output_text


def test_timings_per_token_and_sequence_numbers(server: ServerProcess) -> None:
    body = {"input": "This is a test", "max_output_tokens": 6, "stream": True, "timings_per_token": True}
    with httpx.stream("POST", server.url + "/responses", json=body, timeout=120) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert deltas and all("predicted_per_second" in e["timings"] for e in deltas)
    assert "timings" in events[-1] and events[-1]["response"]["usage"]["output_tokens"] == 6


def test_function_calls_out_and_outputs_back_in(client: openai.OpenAI) -> None:
    res = client.responses.create(
        model="tiny", input="Weather in Paris?", tools=[TOOL], tool_choice={"type": "function", "name": TOOL["name"]},  # type: ignore[list-item,arg-type]
        max_output_tokens=64,
    )  # fmt: skip
    calls = [o for o in res.output if o.type == "function_call"]
    assert calls and all(c.name == TOOL["name"] and json.loads(c.arguments) is not None for c in calls)  # type: ignore[union-attr]
    back = [{"type": "function_call", "call_id": "c1", "name": TOOL["name"], "arguments": '{"city": "Paris"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"}]  # fmt: skip
    req = parse(ResponsesRequest, {"input": [{"role": "user", "content": "Weather?"}, *back]})
    messages = chat_inputs_of(req).messages
    assert messages[1]["tool_calls"][0]["id"] == "c1" and messages[2] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "sunny",
    }
    assert client.responses.create(model="tiny", input=[{"role": "user", "content": "Weather?"}, *back], max_output_tokens=4)  # type: ignore[list-item]


def test_bad_input_names_the_field(server: ServerProcess) -> None:
    for body, param in [({}, "input"), ({"input": "x", "max_output_tokens": -1}, "max_output_tokens"),
                        ({"input": [{"type": "input_image", "image_url": "x"}]}, "input")]:  # fmt: skip
        r = httpx.post(server.url + "/v1/responses", json=body, timeout=60)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    with pytest.raises(RequestError):
        chat_inputs_of(
            parse(ResponsesRequest, {"input": "x", "tools": [TOOL], "tool_choice": {"type": "function", "name": "nope"}})
        )

"""llama_mtp.chat() / chat_stream(): the template's prompt, the grammar's constraint with MTP
drafting on, and the reply parsed into an OpenAI message."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from chat_helpers import ANSWER_SCHEMA, WEATHER_TOOL, chat_model_path

import llama_mtp

HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(scope="module", params=["dense", "hybrid"])
def chat_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> llama_mtp.Model:
    return llama_mtp.Model(chat_model_path(tmp_path_factory.mktemp("chat"), kind=request.param))


@pytest.fixture(scope="module")
def tool_model(tmp_path_factory: pytest.TempPathFactory) -> llama_mtp.Model:
    return llama_mtp.Model(chat_model_path(tmp_path_factory.mktemp("tools"), tool_calling=True))


def test_chat_is_generate_on_the_rendered_prompt(chat_model: llama_mtp.Model) -> None:
    reply = llama_mtp.chat(chat_model, HELLO, max_tokens=24)
    prompt = llama_mtp.ChatTemplate(chat_model).apply(json.dumps(HELLO)).prompt
    assert reply.prompt.prompt == prompt
    direct = llama_mtp.generate(chat_model, prompt, max_tokens=24, draft="none", parse_special=True)
    assert reply.generation.tokens == direct.tokens
    assert reply.message["role"] == "assistant" and reply.content == direct.text
    assert reply.finish_reason == direct.finish_reason and reply.tool_calls == []
    assert reply.generation.stats is not None  # MTP drafted


def test_streamed_pieces_are_the_content(chat_model: llama_mtp.Model) -> None:
    s = llama_mtp.chat_stream(chat_model, HELLO, max_tokens=30)
    pieces = list(s)
    assert s.result is not None and len(pieces) > 1
    assert "".join(pieces) == s.result.content


@pytest.mark.parametrize("n_draft_max", [3, "adaptive"])
def test_json_schema_replies_follow_the_schema_with_mtp(chat_model: llama_mtp.Model, n_draft_max: int | str) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA}}
    drafted = llama_mtp.chat(chat_model, HELLO, response_format=fmt, max_tokens=200, n_draft_max=n_draft_max)
    plain = llama_mtp.chat(chat_model, HELLO, response_format=fmt, max_tokens=200, draft="none")
    assert drafted.generation.tokens == plain.generation.tokens
    assert drafted.finish_reason == "stop"
    answer = json.loads(drafted.content)
    assert isinstance(answer["ok"], bool) and 0 <= answer["n"] <= 9
    sampled = llama_mtp.chat(chat_model, HELLO, response_format=fmt, max_tokens=200, temperature=1.0, seed=11)
    assert set(json.loads(sampled.content)) >= {"ok", "n"}
    # any object: the tiny model never closes its first key, but the grammar holds it to JSON
    obj = llama_mtp.chat(chat_model, HELLO, response_format={"type": "json_object"}, max_tokens=40)
    assert obj.prompt.grammar is not None and obj.prompt.grammar.kind == "output_format"
    assert re.match(r'\s*(```json)?\s*\{\s*"', obj.generation.text), obj.generation.text


def test_a_tool_call_round_trip(tool_model: llama_mtp.Model) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = llama_mtp.chat(tool_model, messages, tools=[WEATHER_TOOL], max_tokens=120)
    assert first.tool_calls, first.generation.text
    call = first.tool_calls[0]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"])["city"] in ("Paris", "Rome")
    plain = llama_mtp.chat(tool_model, messages, tools=[WEATHER_TOOL], max_tokens=120, draft="none")
    assert plain.generation.tokens == first.generation.tokens
    # the call and its result go back into the conversation, rendered by the template
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [{**call, "id": "call_1"}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 24 C"},
    ]
    second = llama_mtp.chat(tool_model, messages, tools=[WEATHER_TOOL], tool_choice="none", max_tokens=16)
    rendered = second.prompt.prompt
    assert '<tool_call>{"name": "get_weather", "arguments": {"city": ' in rendered
    assert "<tool_response>\nsunny, 24 C\n</tool_response>" in rendered
    assert rendered.endswith("<|im_start|>assistant\n") and second.finish_reason in ("stop", "length")


def test_bad_arguments_raise_typed_errors(chat_model: llama_mtp.Model, tmp_path: Path) -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.chat(chat_model, "not a list", max_tokens=4)  # type: ignore[arg-type]
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.chat(chat_model, [{"content": "no role"}], max_tokens=4)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.chat(chat_model, HELLO, tool_choice="sometimes", max_tokens=4)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.chat(chat_model, HELLO, response_format={"type": "xml"}, max_tokens=4)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.chat(chat_model, [{"role": "user", "content": object()}], max_tokens=4)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.chat(chat_model, HELLO, chat_template="{% if %}", max_tokens=4)
    with pytest.raises(llama_mtp.ModelNotFoundError):
        llama_mtp.chat(tmp_path / "missing.gguf", HELLO)


def test_a_template_override_and_extra_stops(chat_model: llama_mtp.Model) -> None:
    reply = llama_mtp.chat(
        chat_model, HELLO, chat_template="{% for m in messages %}Q: {{ m.content }}\nA:{% endfor %}", max_tokens=12
    )
    assert reply.prompt.prompt == "Q: Hello there\nA:"
    full = llama_mtp.chat(chat_model, HELLO, max_tokens=12)
    word = full.content.split()[3]
    cut = llama_mtp.chat(chat_model, HELLO, max_tokens=12, stop=word)
    assert cut.finish_reason == "stop" and word not in cut.content

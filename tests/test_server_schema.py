"""The declared request schema (src/llama_mtp/serving/schema.py) and its one conversion
(requests.py): what validates converts into options the engine takes; what does not is a
RequestError naming the field; /openapi.json publishes the same models."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llama_mtp import LlamaError
from llama_mtp.serving.openapi import openapi_document
from llama_mtp.serving.requests import chat_inputs, sampling_of
from llama_mtp.serving.schema import (
    SEED_MAX,
    ChatCompletionRequest,
    CompletionRequest,
    NativeCompletionRequest,
    RequestError,
    parse,
    request_schemas,
)
from llama_mtp.sizing import AUTO_DRAFT_MAX

USER = [{"role": "user", "content": "hi"}]

finite = st.floats(allow_nan=False, allow_infinity=False)
generation_fields = st.fixed_dictionaries(
    {},
    optional={
        "max_tokens": st.integers(0, 1 << 24),
        "n": st.integers(1, 16),
        "stop": st.one_of(st.text(min_size=1), st.lists(st.text(min_size=1), max_size=16)),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(1e-9, 1),
        "top_k": st.integers(0, 1 << 20),
        "min_p": st.floats(0, 0.999),
        "seed": st.integers(0, SEED_MAX),
        "ignore_eos": st.booleans(),
        "stream": st.booleans(),
        "draft": st.sampled_from(["auto", "mtp", "ngram", "none"]),
        "n_draft_max": st.one_of(st.sampled_from(["auto", "adaptive"]), st.integers(0, AUTO_DRAFT_MAX)),
        "exact": st.booleans(),
        "unknown_field": st.integers(),  # other servers' fields are ignored
    },
)


@given(generation_fields)
def test_every_valid_body_converts_into_engine_options(fields: dict[str, Any]) -> None:
    s = sampling_of(parse(CompletionRequest, {"prompt": "x", **fields}))
    assert s.params.temperature == fields.get("temperature", 0.0) and s.n == fields.get("n", 1)
    stop = fields.get("stop", [])
    assert s.params.stops == ((stop,) if isinstance(stop, str) else tuple(stop))
    assert s.max_tokens == fields.get("max_tokens")
    if isinstance(fields.get("n_draft_max"), int):
        assert s.draft["n_draft_max"] == fields["n_draft_max"]


BAD_FIELDS = [
    ("temperature", -0.1),
    ("temperature", math.nan),
    ("temperature", "0.5"),  # strict: JSON's types, no coercion
    ("top_k", True),
    ("seed", SEED_MAX + 1),
    ("max_tokens", 1.5),
    ("n", 0),
    ("stop", [""]),
    ("stop", ["a"] * 17),
    ("stream", "yes"),
    ("draft", "eagle"),
    ("n_draft_max", 99),
    ("model", 3),
    ("logit_bias", [[1]]),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
def test_a_bad_field_is_a_request_error_naming_it(field: str, value: object) -> None:
    with pytest.raises(RequestError) as e:
        parse(CompletionRequest, {"prompt": "x", field: value})
    assert e.value.param is not None and e.value.param.split("[")[0].split(".")[0] == field
    assert str(e.value).startswith(f"'{e.value.param}'")
    assert isinstance(e.value, LlamaError)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": [1, -2]}, "prompt"),  # a union fails member by member: the field is named
        ({"prompt": [1, "a"]}, "prompt"),
    ],
)
def test_prompts_name_the_prompt(body: dict[str, Any], param: str) -> None:
    with pytest.raises(RequestError) as e:
        parse(CompletionRequest, body)
    assert e.value.param == param


def test_cross_field_rules_name_a_field() -> None:
    with pytest.raises(RequestError) as e:
        sampling_of(parse(CompletionRequest, {"prompt": "x", "draft": "ngram", "mtp": False}))
    assert e.value.param == "draft"
    with pytest.raises(RequestError) as e:
        sampling_of(parse(CompletionRequest, {"prompt": "x", "grammar": 'root ::= "a"', "json_schema": {}}))
    assert e.value.param == "grammar"


def test_native_prompts_and_n_predict() -> None:
    req = parse(NativeCompletionRequest, {"prompt": ["a", 3, ["b", 4]], "n_predict": -1})
    assert req.prompt == ["a", 3, ["b", 4]] and req.n_predict == -1
    with pytest.raises(RequestError) as e:
        parse(NativeCompletionRequest, {"prompt": "x", "n_predict": -2})
    assert e.value.param == "n_predict"


def test_chat_messages_keep_the_fields_templates_read() -> None:
    call = {"type": "function", "id": "1", "function": {"name": "f", "arguments": "{}"}}
    messages = [*USER, {"role": "assistant", "content": None, "tool_calls": [call]}, {"role": "tool", "content": "4"}]
    inputs = chat_inputs(parse(ChatCompletionRequest, {"messages": messages}))
    assert inputs.messages == messages  # as given: nothing added, nothing dropped
    with pytest.raises(RequestError) as e:
        parse(ChatCompletionRequest, {"messages": [{"role": "wizard", "content": "x"}]})
    assert e.value.param == "messages[0].role"
    with pytest.raises(RequestError) as e:
        parse(ChatCompletionRequest, {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})
    assert e.value.param == "messages[0].content"


def test_a_named_tool_choice_is_that_tool_required() -> None:
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in ("a", "b")]
    named = {"type": "function", "function": {"name": "b"}}
    inputs = chat_inputs(parse(ChatCompletionRequest, {"messages": USER, "tools": tools, "tool_choice": named}))
    assert inputs.tool_choice == "required" and inputs.tools == [tools[1]]
    missing = {"type": "function", "function": {"name": "c"}}
    with pytest.raises(RequestError) as e:
        chat_inputs(parse(ChatCompletionRequest, {"messages": USER, "tools": tools, "tool_choice": missing}))
    assert e.value.param == "tool_choice"


def test_response_format_keeps_its_schema_key() -> None:
    spec = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer"}}}
    assert chat_inputs(parse(ChatCompletionRequest, {"messages": USER, "response_format": spec})).response_format == spec


def test_openapi_declares_every_post_endpoint_with_its_schema() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.")
    schemas = doc["components"]["schemas"]
    for path, model in request_schemas().items():
        ref = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        name = ref.rsplit("/", 1)[1]
        assert name == model.__name__ and name in schemas
        declared = schemas[name]["properties"]
        assert set(declared) == {f.alias or n for n, f in model.model_fields.items()}
    temperature = schemas["CompletionRequest"]["properties"]["temperature"]
    assert temperature["minimum"] == 0 and temperature["maximum"] == 2 and temperature["description"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
known_fields = st.sampled_from(
    ["prompt", "messages", "max_tokens", "n", "stop", "temperature", "logit_bias", "logprobs", "tools", "tool_choice",
     "response_format", "input", "system", "n_predict", "n_probs", "tokens", "content", "stream_options", "draft"]
)  # fmt: skip


@given(st.dictionaries(known_fields | st.text(max_size=6), json_values, max_size=6), st.sampled_from(sorted(request_schemas())))
def test_any_json_body_validates_or_names_its_fault(body: dict[str, Any], path: str) -> None:
    # whatever a client sends: a validated request, or a RequestError with a message (a 400)
    schema = request_schemas()[path]
    try:
        req = parse(schema, body)
    except RequestError as e:
        assert str(e) and (e.param is None or e.param.split("[")[0].split(".")[0] in body or e.param in schema.model_fields)
        return
    if isinstance(req, CompletionRequest | ChatCompletionRequest | NativeCompletionRequest):
        try:
            s = sampling_of(req)
        except RequestError as e:
            assert e.param in ("draft", "grammar")
            return
        assert s.n >= 1

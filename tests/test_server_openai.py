"""The OpenAI endpoints (src/llama_mtp/serving/openai_api.py) beyond one greedy choice: `n`
choices run together (seeded seed + i), `echo`, `system_fingerprint`, the prompt's cached
tokens in `usage`, a named tool choice; and /openapi.json, with the openai client and raw
requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from chat_helpers import WEATHER_TOOL, chat_model_path
from server_helpers import ServerProcess, wait_until

import llama_mtp
from llama_mtp import ChatTemplate
from llama_mtp.chat import render_chat
from llama_mtp.serving.schema import request_schemas

PROMPT = "The quick brown fox"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chat_model_path(tmp_path_factory.mktemp("oai"), tool_calling=True)


@pytest.fixture(scope="module")
def model(model_path: Path) -> llama_mtp.Model:
    return llama_mtp.Model(model_path)


@pytest.fixture(scope="module")
def server(model_path: Path) -> Iterator[ServerProcess]:
    s = ServerProcess(model_path, "-np", "4", "-c", "4096", "--alias", "tiny")
    yield s
    assert s.stop(), "".join(s.output)


@pytest.fixture()
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=120)


def test_n_choices_are_seeded_seed_plus_i(client: openai.OpenAI, model: llama_mtp.Model) -> None:
    out = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=12, n=3, temperature=1.0, seed=7)
    assert [c.index for c in out.choices] == [0, 1, 2]
    for c in out.choices:
        alone = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=12, temperature=1.0, seed=7 + c.index)
        assert c.text == alone.choices[0].text
    assert out.usage is not None and out.usage.prompt_tokens == len(model.tokenize(PROMPT))
    greedy = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=8, n=2)
    assert greedy.choices[0].text == greedy.choices[1].text == llama_mtp.generate(model, PROMPT, max_tokens=8).text
    assert greedy.usage is not None and greedy.usage.completion_tokens == 16


def test_n_chat_choices_stream_each_under_its_index(client: openai.OpenAI) -> None:
    messages: list[dict[str, str]] = [{"role": "user", "content": "Say something"}]
    whole = client.chat.completions.create(model="tiny", messages=messages, max_tokens=10, n=2)  # type: ignore[arg-type]
    texts = ["", ""]
    finished = set()
    for chunk in client.chat.completions.create(model="tiny", messages=messages, max_tokens=10, n=2, stream=True):  # type: ignore[arg-type]
        for c in chunk.choices:
            texts[c.index] += c.delta.content or ""
            if c.finish_reason:
                finished.add(c.index)
    assert finished == {0, 1}
    assert texts == [c.message.content for c in whole.choices]


def test_echo_fingerprint_and_cached_tokens(client: openai.OpenAI, model: llama_mtp.Model) -> None:
    first = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=4, echo=True)
    assert first.choices[0].text.startswith(PROMPT)
    assert first.system_fingerprint and first.system_fingerprint.startswith("llama-mtp-")
    again = client.completions.create(model="tiny", prompt=PROMPT + " jumps", max_tokens=4)
    details = again.usage.prompt_tokens_details if again.usage else None
    assert details is not None and details.cached_tokens is not None
    assert 0 < details.cached_tokens < len(model.tokenize(PROMPT + " jumps"))  # the shared prefix, reused


def test_a_named_tool_choice_calls_that_tool(client: openai.OpenAI) -> None:
    other = {"type": "function", "function": {"name": "other_tool", "parameters": {"type": "object", "properties": {}}}}
    out = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[other, WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": WEATHER_TOOL["function"]["name"]}},
        max_tokens=64,
    )
    calls = out.choices[0].message.tool_calls or []
    assert calls and all(c.function.name == WEATHER_TOOL["function"]["name"] for c in calls)  # type: ignore[union-attr]


def test_openapi_json_is_served(server: ServerProcess) -> None:
    r = httpx.get(server.url + "/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    for path in request_schemas():
        assert "requestBody" in doc["paths"][path]["post"]
    # a body that the schema calls invalid is what the endpoint refuses, naming the same field
    bad = httpx.post(server.url + "/v1/completions", json={"prompt": "x", "top_p": 0})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "top_p"
    assert json.dumps(doc)  # plain JSON all through


def test_a_final_assistant_message_is_continued(model_path: Path, model: llama_mtp.Model) -> None:
    user = [{"role": "system", "content": "Book"}, {"role": "user", "content": "What is the best book"}]
    rendered = render_chat(ChatTemplate(model), user).prompt
    s = ServerProcess(model_path, "--verbose")
    try:
        with httpx.Client(base_url=s.url, timeout=120) as h:
            for prefill, text in (
                ("Whill", "Whill"),
                ([{"type": "text", "text": "Wh"}, {"type": "text", "text": "ill"}], "Wh\n\nill"),
            ):
                messages = [*user, {"role": "assistant", "content": prefill}]
                for extra in (
                    {},
                    {"continue_final_message": True},
                    {"continue_final_message": True, "add_generation_prompt": False},
                ):
                    out = h.post("/chat/completions", json={"messages": messages, "max_tokens": 6, **extra}).json()
                    assert out["__verbose"]["prompt"] == rendered + text
                    alone = llama_mtp.generate(model, rendered + text, max_tokens=6, parse_special=True)  # the reply continues it
                    assert out["choices"][0]["message"]["content"] == alone.text
            refused = [
                {"messages": [*user, {"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]},
                {"messages": messages, "continue_final_message": True, "add_generation_prompt": True},
            ]
            for body in refused:
                assert h.post("/chat/completions", json=body).status_code == 400
            assert (
                "__verbose"
                not in httpx.post(s.url + "/chat/completions", json={"messages": user, "max_tokens": 1}).json()["choices"][0]
            )
    finally:
        assert s.stop(), "".join(s.output)


def test_chat_logprobs_come_from_the_target_and_spell_the_content(client: openai.OpenAI) -> None:
    messages: list[dict[str, str]] = [{"role": "user", "content": "What is the best book"}]
    out = client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, logprobs=True, top_logprobs=3)  # type: ignore[arg-type]
    content = out.choices[0].logprobs.content if out.choices[0].logprobs else None
    assert content and "".join(t.token for t in content) == out.choices[0].message.content
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 3 and t.bytes for t in content)
    spelled = ""
    stream = client.chat.completions.create(
        model="tiny",
        messages=messages,
        max_tokens=8,
        logprobs=True,
        top_logprobs=3,
        stream=True,  # type: ignore[arg-type]
    )
    for i, chunk in enumerate(stream):
        for c in chunk.choices:
            if i == 0:
                assert c.delta.role == "assistant" and c.delta.content is None
            elif c.delta.content:
                assert c.logprobs is not None and c.logprobs.content
                spelled += "".join(t.token for t in c.logprobs.content)
    assert spelled == out.choices[0].message.content


def test_completion_logprobs_and_native_n_probs(server: ServerProcess, client: openai.OpenAI, model: llama_mtp.Model) -> None:
    out = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=6, logprobs=2)
    lp = out.choices[0].logprobs
    assert lp is not None and lp.tokens and "".join(lp.tokens) == out.choices[0].text
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
    assert lp.top_logprobs is not None and all(len(t) == 2 for t in lp.top_logprobs)
    expected = llama_mtp.generate(model, PROMPT, max_tokens=6, logprobs=2).logprobs
    assert expected is not None and lp.token_logprobs == pytest.approx([p.logprob for p in expected], abs=2e-3)
    with httpx.Client(base_url=server.url, timeout=120) as h:
        whole = h.post("/completion", json={"prompt": PROMPT, "n_probs": 3, "n_predict": 5}).json()
        probs = whole["completion_probabilities"]
        assert [p["id"] for p in probs] == llama_mtp.generate(model, PROMPT, max_tokens=5).tokens
        assert all(len(p["top_logprobs"]) == 3 and p["logprob"] <= 0 for p in probs)
        with h.stream("POST", "/completion", json={"prompt": PROMPT, "n_probs": 3, "n_predict": 5, "stream": True}) as r:
            chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
        partial = [c for c in chunks if not c["stop"]]
        assert [len(c["completion_probabilities"]) for c in partial] == [1] * 5  # a chunk per token
        assert "".join(c["content"] for c in partial) == whole["content"]


def test_logit_bias_in_every_form(server: ServerProcess, client: openai.OpenAI, model: llama_mtp.Model) -> None:
    first = llama_mtp.generate(model, PROMPT, max_tokens=1, logprobs=2).logprobs
    assert first is not None
    top, runner_up = first[0].top_ids
    openai_form = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=1, logit_bias={str(top): -100})
    assert openai_form.choices[0].text == model.token_to_piece(runner_up)
    piece = model.token_to_piece(top)
    with httpx.Client(base_url=server.url, timeout=120) as h:
        for bias in ([[top, False]], [[piece, -100]], {piece: False}):
            out = h.post("/completion", json={"prompt": PROMPT, "n_predict": 1, "logit_bias": bias, "return_tokens": True})
            assert out.json()["tokens"] == [runner_up], bias
        settings = h.post("/completion", json={"prompt": PROMPT, "n_predict": 1, "ignore_eos": True}).json()
        banned = settings["generation_settings"]["logit_bias"]
        assert banned and all(b["bias"] is None and model.is_eog(b["token"]) for b in banned)
        plain = h.post("/completion", json={"prompt": PROMPT, "n_predict": 1}).json()
        assert plain["generation_settings"]["logit_bias"] == []
        bad = h.post("/completion", json={"prompt": PROMPT, "logit_bias": [[model.n_vocab, 1]]})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "logit_bias"


def test_llama_server_extras_of_chat(server: ServerProcess) -> None:
    messages = [{"role": "system", "content": "Book"}, {"role": "user", "content": "What is the best book"}]
    with httpx.Client(base_url=server.url, timeout=120) as h:
        too_long = h.post("/chat/completions", json={"messages": messages * 200})
        error = too_long.json()["error"]
        assert too_long.status_code == 400 and error["type"] == "exceed_context_size_error"
        assert error["n_ctx"] == 1024 and error["n_prompt_tokens"] > 1024  # -c 4096 over -np 4
        counted = h.post("/chat/completions/input_tokens", json={"messages": messages}).json()["input_tokens"]
        answer = h.post("/chat/completions", json={"messages": messages, "max_tokens": 2, "verbose": True}).json()
        assert answer["usage"]["prompt_tokens"] == counted and "Book" in answer["__verbose"]["prompt"]
        assert "__verbose" not in h.post("/chat/completions", json={"messages": messages, "max_tokens": 2}).json()
        body = {"messages": messages, "max_tokens": 3, "stream": True, "stream_options": {"include_usage": True}}
        with h.stream("POST", "/chat/completions", json=body) as r:
            chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
        assert chunks[-1]["choices"] == [] and chunks[-1]["timings"]["predicted_n"] == chunks[-1]["usage"]["completion_tokens"]


def test_a_client_leaving_an_n_stream_cancels_every_choice(server: ServerProcess) -> None:
    body = {"prompt": "Never read to the end", "max_tokens": 900, "n": 3, "stream": True, "ignore_eos": True}
    with httpx.Client(base_url=server.url, timeout=120) as h, h.stream("POST", "/v1/completions", json=body) as r:
        assert next(line for line in r.iter_lines() if line.startswith("data: "))
    # all three sequences go at the engine's next steps, long before 900 tokens each
    assert wait_until(lambda: httpx.get(server.url + "/health").json()["active"] == 0)
    done = httpx.post(server.url + "/v1/completions", json={"prompt": PROMPT, "max_tokens": 4, "n": 4}, timeout=120)
    assert done.status_code == 200 and len(done.json()["choices"]) == 4  # and the slots came back

"""llama-server's dialect (src/llama_mtp/serving/native.py and the unprefixed OpenAI paths):
/completion with n_predict, text, token and mixed prompts, streaming, grammar and json_schema;
/tokenize, /detokenize, /apply-template, /props; /completions, /chat/completions and /models
as the /v1 ones. Raw requests, as llama.cpp's own server tests make them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from chat_helpers import chat_model_path
from server_helpers import ServerProcess

import llama_mtp

PROMPT = "I believe the meaning of life is"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chat_model_path(tmp_path_factory.mktemp("native"))


@pytest.fixture(scope="module")
def model(model_path: Path) -> llama_mtp.Model:
    return llama_mtp.Model(model_path)


@pytest.fixture(scope="module")
def h(model_path: Path) -> Iterator[httpx.Client]:
    s = ServerProcess(model_path, "-np", "2", "-c", "2048", "--alias", "tiny")
    with httpx.Client(base_url=s.url, timeout=120) as client:
        yield client
    assert s.stop(), "".join(s.output)


def post(h: httpx.Client, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    r = h.post(path, json=body)
    assert r.status_code == status, r.text
    return dict(r.json())


def test_completion_answers_as_llama_server(h: httpx.Client, model: llama_mtp.Model) -> None:
    out = post(h, "/completion", {"prompt": PROMPT, "n_predict": 8})
    assert out["content"] == llama_mtp.generate(model, PROMPT, max_tokens=8).text
    assert out["stop"] is True and out["stop_type"] == "limit" and out["truncated"] is False
    assert out["timings"]["predicted_n"] == out["tokens_predicted"] == 8
    assert out["timings"]["prompt_n"] + out["timings"]["cache_n"] == out["tokens_evaluated"] == len(model.tokenize(PROMPT))
    assert isinstance(out["has_new_line"], bool) and out["tokens"] == []
    assert out["generation_settings"]["n_predict"] == 8
    with_tokens = post(h, "/completion", {"prompt": PROMPT, "n_predict": 8, "return_tokens": True})
    assert with_tokens["tokens"] == llama_mtp.generate(model, PROMPT, max_tokens=8).tokens


def test_token_and_mixed_prompts_are_the_texts_tokens(h: httpx.Client, model: llama_mtp.Model) -> None:
    text = post(h, "/completion", {"prompt": PROMPT, "n_predict": 6})["content"]
    ids = model.tokenize(PROMPT).tolist()
    assert post(h, "/completion", {"prompt": ids, "n_predict": 6})["content"] == text
    head, tail = PROMPT.split(" the ", 1)
    mixed = [head, *model.tokenize(" the " + tail, add_special=False).tolist()]
    assert post(h, "/completion", {"prompt": mixed, "n_predict": 6})["tokens_evaluated"] > len(head.split())
    post(h, "/completion", {"prompt": [1, "x", 10**9]}, 400)
    post(h, "/completion", {"prompt": []}, 400)


def test_a_completion_stream_ends_with_the_summary(h: httpx.Client) -> None:
    whole = post(h, "/completion", {"prompt": PROMPT, "n_predict": 12})
    with h.stream("POST", "/completion", json={"prompt": PROMPT, "n_predict": 12, "stream": True}) as r:
        chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert all(isinstance(c["stop"], bool) for c in chunks)
    assert [c["stop"] for c in chunks].count(True) == 1 and chunks[-1]["stop"]
    assert "".join(c["content"] for c in chunks) == whole["content"]
    assert chunks[-1]["timings"]["predicted_n"] == 12 and chunks[-1]["stop_type"] == "limit"


def test_grammar_and_json_schema_constrain_the_output(h: httpx.Client) -> None:
    for _ in range(2):
        out = post(h, "/completion", {"prompt": PROMPT, "n_predict": 8, "grammar": 'root ::= "yes" | "no"'})
        assert out["content"] in ("yes", "no")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    out = post(h, "/completion", {"prompt": PROMPT, "n_predict": 32, "json_schema": schema})
    assert isinstance(json.loads(out["content"])["a"], int)
    v1 = post(h, "/v1/completions", {"prompt": PROMPT, "max_tokens": 8, "grammar": 'root ::= "yes" | "no"'})
    assert v1["choices"][0]["text"] in ("yes", "no")
    post(h, "/completion", {"prompt": PROMPT, "grammar": "root ::= ("}, 400)  # not GBNF: refused, not ignored
    post(h, "/completion", {"prompt": PROMPT, "grammar": 5}, 400)
    post(h, "/completion", {"prompt": PROMPT, "json_schema": "{}"}, 400)


def test_tokenize_and_detokenize_round_trip(h: httpx.Client, model: llama_mtp.Model) -> None:
    ids = post(h, "/tokenize", {"content": PROMPT})["tokens"]
    assert ids == model.tokenize(PROMPT, add_special=False, parse_special=True).tolist()
    assert post(h, "/detokenize", {"tokens": ids})["content"] == PROMPT
    pieces = post(h, "/tokenize", {"content": PROMPT, "with_pieces": True})["tokens"]
    assert [p["id"] for p in pieces] == ids and "".join(p["piece"] for p in pieces) == PROMPT
    assert post(h, "/tokenize", {"content": PROMPT, "add_special": True})["tokens"][1:] == ids or model.bos < 0
    post(h, "/tokenize", {"content": 3}, 400)
    post(h, "/detokenize", {"tokens": [10**9]}, 400)


def test_apply_template_and_props(h: httpx.Client) -> None:
    prompt = post(h, "/apply-template", {"messages": [{"role": "user", "content": "Hello there"}]})["prompt"]
    assert "Hello there" in prompt
    props = h.get("/props").json()
    assert props["total_slots"] == 2 and props["default_generation_settings"]["n_ctx"] == 1024
    assert props["model_alias"] == "tiny" and isinstance(props["chat_template"], str)


def test_the_unprefixed_paths_are_llama_servers(h: httpx.Client) -> None:
    assert h.get("/models").json()["data"][0]["id"] == h.get("/v1/models").json()["data"][0]["id"] == "tiny"
    # /completions is llama-server's native completion (as /completion), /v1/completions OpenAI's
    a = post(h, "/completions", {"prompt": PROMPT, "n_predict": 6})["content"]
    assert a == post(h, "/v1/completions", {"prompt": PROMPT, "max_tokens": 6})["choices"][0]["text"]
    messages = [{"role": "user", "content": "Hi"}]
    b = post(h, "/chat/completions", {"messages": messages, "max_tokens": 6})["choices"][0]["message"]["content"]
    assert b == post(h, "/v1/chat/completions", {"messages": messages, "max_tokens": 6})["choices"][0]["message"]["content"]


def test_serve_n_predict_and_seed_are_the_defaults_of_requests(model_path: Path) -> None:
    s = ServerProcess(model_path, "-np", "1", "-c", "1024", "-n", "5", "--seed", "7")
    try:
        with httpx.Client(base_url=s.url, timeout=120) as h:
            assert post(h, "/completion", {"prompt": PROMPT})["tokens_predicted"] == 5
            assert post(h, "/completion", {"prompt": PROMPT, "n_predict": 20})["tokens_predicted"] == 20
            assert post(h, "/completion", {"prompt": PROMPT, "n_predict": 3})["tokens_predicted"] == 3
            assert post(h, "/v1/completions", {"prompt": PROMPT})["usage"]["completion_tokens"] == 5
            params = h.get("/props").json()["default_generation_settings"]["params"]
            assert (params["n_predict"], params["seed"]) == (5, 7)
            sampled = {"prompt": PROMPT, "temperature": 1.0}
            assert post(h, "/completion", sampled)["content"] == post(h, "/completion", {**sampled, "seed": 7})["content"]
    finally:
        assert s.stop(), "".join(s.output)


def test_several_prompts_in_one_request_answer_in_a_list(h: httpx.Client, model: llama_mtp.Model) -> None:
    ids = model.tokenize(PROMPT).tolist()
    one = post(h, "/completion", {"prompt": PROMPT, "n_predict": 6})["content"]
    r = h.post("/completion", json={"prompt": [ids, PROMPT, "Another prompt"], "n_predict": 6})
    assert r.status_code == 200, r.text
    answers = r.json()
    assert isinstance(answers, list) and [a["index"] for a in answers] == [0, 1, 2]
    assert answers[0]["content"] == answers[1]["content"] == one
    assert answers[2]["tokens_predicted"] == 6
    assert h.post("/completion", json={"prompt": [PROMPT, PROMPT], "stream": True}).status_code == 400
    assert h.post("/completion", json={"prompt": [PROMPT, [10**9]]}).status_code == 400


def test_slots_lists_each_slot_and_no_slots_turns_it_off(h: httpx.Client, model_path: Path) -> None:
    slots = h.get("/slots").json()
    assert [s["id"] for s in slots] == [0, 1] and all(s["n_ctx"] == 1024 for s in slots)
    assert all("params" not in s and s["is_processing"] is False for s in slots)
    s = ServerProcess(model_path, "-np", "1", "-c", "512", "--no-slots")
    try:
        with httpx.Client(base_url=s.url, timeout=60) as off:
            r = off.get("/slots")
            assert r.status_code == 501 and "error" in r.json()
    finally:
        assert s.stop()


def test_prompt_objects_are_their_text_and_media_is_refused(h: httpx.Client) -> None:
    text = post(h, "/completion", {"prompt": PROMPT, "n_predict": 6})["content"]
    assert post(h, "/completion", {"prompt": {"prompt_string": PROMPT}, "n_predict": 6})["content"] == text
    both = h.post("/completion", json={"prompt": [{"prompt_string": PROMPT}, PROMPT], "n_predict": 6}).json()
    assert [b["content"] for b in both] == [text, text]
    media = {"prompt_string": PROMPT + " <__media__>", "multimodal_data": "iVBORw0KGgo="}
    r = h.post("/completion", json={"prompt": media})
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt"


def test_several_addresses_aliases_and_tags(model_path: Path) -> None:
    # llama-server's --host a,b (one port for both) and --alias a,b,c / --tags x,y
    s = ServerProcess(model_path, "-np", "1", "--host", "127.0.0.1,127.0.0.2", "--alias", "tiny,fim,code", "--tags", "chat,small")
    try:
        port = s.url.rsplit(":", 1)[1]
        for host in ("127.0.0.1", "127.0.0.2"):
            assert httpx.get(f"http://{host}:{port}/health", timeout=60).status_code == 200
        (m,) = httpx.get(s.url + "/models", timeout=60).json()["data"]
        assert m["id"] == "code" and set(m["aliases"]) == {"tiny", "fim", "code"} and m["tags"] == ["chat", "small"]
    finally:
        assert s.stop(), "".join(s.output)
    with pytest.raises(AssertionError, match="exited"):  # an address it cannot bind: a clean exit, no hang
        ServerProcess(model_path, "--host", "127.0.0.1,192.0.2.1")


THINKING_TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
    "{% if tools %}<|tools|>{{ tools | length }}{% endif %}"
    "{% if add_generation_prompt %}<|assistant|>{% if enable_thinking is defined and not enable_thinking %}"
    "<think></think>{% endif %}{% endif %}"
)


def test_serve_takes_a_built_in_template_name(model_path: Path) -> None:
    s = ServerProcess(model_path, "-np", "1", "--chat-template", "chatml")
    try:
        with httpx.Client(base_url=s.url, timeout=60) as h:
            prompt = post(h, "/apply-template", {"messages": [{"role": "user", "content": "Hi"}]})["prompt"]
            assert prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    finally:
        assert s.stop(), "".join(s.output)


def test_apply_template_options_and_serve_reasoning(model_path: Path, tmp_path: Path) -> None:
    template = tmp_path / "thinking.jinja"
    template.write_text(THINKING_TEMPLATE)
    user = [{"role": "user", "content": "What is today?"}]
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    on = ServerProcess(model_path, "-np", "1", "--chat-template-file", str(template))
    off = ServerProcess(model_path, "-np", "1", "--chat-template-file", str(template), "--reasoning", "off")
    try:
        with httpx.Client(base_url=on.url, timeout=60) as h:
            assert post(h, "/apply-template", {"messages": user})["prompt"].endswith("<|assistant|>")
            bare = post(h, "/apply-template", {"messages": user, "add_generation_prompt": False})["prompt"]
            assert bare.endswith("What is today?")
            no_think = {"messages": user, "chat_template_kwargs": {"enable_thinking": False}}
            assert post(h, "/apply-template", no_think)["prompt"].endswith("<think></think>")
            assert "<|tools|>1" in post(h, "/apply-template", {"messages": user, "tools": [tool]})["prompt"]
            counted = post(h, "/chat/completions/input_tokens", no_think)["input_tokens"]
            assert counted > post(h, "/chat/completions/input_tokens", {"messages": user})["input_tokens"]
        with httpx.Client(base_url=off.url, timeout=60) as h:
            assert post(h, "/apply-template", {"messages": user})["prompt"].endswith("<think></think>")
            thinking = {"messages": user, "chat_template_kwargs": {"enable_thinking": True}}
            assert post(h, "/apply-template", thinking)["prompt"].endswith("<|assistant|>")  # the request's own wins
    finally:
        assert on.stop(), "".join(on.output)
        assert off.stop(), "".join(off.output)

"""`llama-mtp serve` (llama_mtp.serving) with the official openai client against a server the
test starts on a free localhost port: completions, chat, streaming, concurrency, disconnects,
bad requests, the API key, limits and metrics. Greedy output through the server is
token-identical to llama_mtp.generate()/chat(), alone and while other requests run."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from chat_helpers import ANSWER_SCHEMA, WEATHER_TOOL, chat_model_path
from server_helpers import ServerProcess, wait_until

import llama_mtp

KEY = "test-key-123"
CTX = 1024


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chat_model_path(tmp_path_factory.mktemp("srv"), tool_calling=True)


@pytest.fixture(scope="module")
def model(model_path: Path) -> llama_mtp.Model:
    return llama_mtp.Model(model_path)


@pytest.fixture(scope="module")
def server(model_path: Path) -> Iterator[ServerProcess]:
    s = ServerProcess(model_path, "-np", "4", "-c", str(4 * CTX), "--api-key", KEY, "--max-queue", "32", "--alias", "tiny")
    yield s
    assert s.stop(), "".join(s.output)  # a clean shutdown on SIGTERM


@pytest.fixture()
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=120)


def http(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)


def alone(model: llama_mtp.Model, prompt: str, n: int) -> llama_mtp.Generation:
    return llama_mtp.generate(model, prompt, max_tokens=n)


def metric(server: ServerProcess, name: str) -> float:
    text = http(server).get("/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_it_binds_localhost_and_lists_the_model(server: ServerProcess, client: openai.OpenAI) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert httpx.get(server.url + "/health").json()["status"] == "ok"  # no key needed
    (m,) = client.models.list().data
    assert m.id == "tiny" and m.owned_by == "llama-mtp"


def test_the_api_key_is_required(server: ServerProcess) -> None:
    wrong = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    r = httpx.post(server.url + "/v1/completions", json={"prompt": "x"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    # Anthropic's header takes the key too (llama-server's); a wrong one is refused alike
    body = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 2}
    assert httpx.post(server.url + "/v1/messages", json=body, headers={"x-api-key": KEY}, timeout=60).status_code == 200
    assert httpx.post(server.url + "/v1/messages", json=body, headers={"x-api-key": "wrong"}).status_code == 401
    assert httpx.post(server.url + "/v1/messages", json=body, headers={"Authorization": KEY}).status_code == 401


def test_completion_is_token_identical_to_generate(client: openai.OpenAI, model: llama_mtp.Model) -> None:
    r = client.completions.create(model="tiny", prompt="Once upon a time", max_tokens=48)
    expected = alone(model, "Once upon a time", 48)
    assert r.choices[0].text == expected.text and r.choices[0].finish_reason == expected.finish_reason
    assert r.usage is not None and r.usage.completion_tokens == len(expected.tokens)
    assert r.usage.prompt_tokens == len(model.tokenize("Once upon a time"))
    for extra in (
        {"mtp": False},
        {"n_draft_max": 2},
        {"n_draft_max": "adaptive"},
        {"n_draft_max": "auto"},
        {"draft": "ngram"},
        {"draft": "mtp"},
        {"draft": "none"},
    ):  # per-request drafters
        again = client.completions.create(model="tiny", prompt="Once upon a time", max_tokens=48, extra_body=extra)
        assert again.choices[0].text == expected.text, extra


def test_chat_is_token_identical_to_chat(client: openai.OpenAI, model: llama_mtp.Model) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story."}]
    r = client.chat.completions.create(model="tiny", messages=messages, max_tokens=40)  # type: ignore[arg-type]
    expected = llama_mtp.chat(model, messages, max_tokens=40)
    assert r.choices[0].message.content == expected.content and r.choices[0].message.role == "assistant"
    assert r.usage is not None and r.usage.completion_tokens == len(expected.generation.tokens)


def test_streaming_completion_and_chat(client: openai.OpenAI, model: llama_mtp.Model) -> None:
    chunks = list(client.completions.create(model="tiny", prompt="Streams", max_tokens=30, stream=True))
    # text that queued up while the client read goes out together: the pieces join to the text
    assert "".join(c.choices[0].text for c in chunks) == alone(model, "Streams", 30).text
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["length"]
    messages = [{"role": "user", "content": "Hi"}]
    chunks = list(
        client.chat.completions.create(
            model="tiny",
            messages=messages,
            max_tokens=20,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == llama_mtp.chat(model, messages, max_tokens=20).content
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["length"] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 20


def test_eight_concurrent_requests_each_get_their_own_text(client: openai.OpenAI, model: llama_mtp.Model) -> None:
    jobs = [(f"Concurrent prompt number {i}", 20 + 7 * i) for i in range(8)]  # 8 requests, 4 slots: some queue

    def one(job: tuple[str, int]) -> str:
        return client.completions.create(model="tiny", prompt=job[0], max_tokens=job[1]).choices[0].text

    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(one, jobs))
    for (prompt, n), text in zip(jobs, texts, strict=True):
        assert text == alone(model, prompt, n).text, prompt


def test_identical_while_another_request_streams(server: ServerProcess, client: openai.OpenAI, model: llama_mtp.Model) -> None:
    started, release = threading.Event(), threading.Event()
    received: list[str] = []

    def long_stream() -> None:
        for chunk in client.completions.create(model="tiny", prompt="A long story", max_tokens=300, stream=True):
            received.append(chunk.choices[0].text)
            started.set()
            if len(received) == 3:
                release.wait(60)

    t = threading.Thread(target=long_stream)
    t.start()
    assert started.wait(60)
    r = client.completions.create(model="tiny", prompt="Meanwhile", max_tokens=40)
    release.set()
    t.join(120)
    assert r.choices[0].text == alone(model, "Meanwhile", 40).text
    assert "".join(received) == alone(model, "A long story", 300).text


def test_a_client_that_disconnects_frees_its_sequence(server: ServerProcess) -> None:
    cancelled = metric(server, 'llama_mtp_sequences_total{outcome="cancelled"}')
    generated = metric(server, "llama_mtp_generated_tokens_total")
    with (
        http(server) as h,
        h.stream(
            "POST",
            "/v1/completions",
            json={"prompt": "Never read to the end", "max_tokens": 900, "stream": True, "ignore_eos": True},
        ) as r,
    ):
        lines = r.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))
    # the connection is closed: the sequence goes at the engine's next step, long before 900 tokens
    assert wait_until(lambda: httpx.get(server.url + "/health").json()["active"] == 0)
    assert metric(server, 'llama_mtp_sequences_total{outcome="cancelled"}') == cancelled + 1
    assert metric(server, "llama_mtp_generated_tokens_total") - generated < 600


def test_tools_and_response_format(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Weather in Rome?"}], tools=[WEATHER_TOOL], max_tokens=120
    )  # type: ignore[list-item]
    calls = r.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather" and calls[0].id  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments)["city"] in ("Paris", "Rome")  # type: ignore[union-attr]
    j = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "Answer"}],
        max_tokens=200,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": ANSWER_SCHEMA}},
    )
    answer = json.loads(j.choices[0].message.content or "")
    assert isinstance(answer["ok"], bool) and j.choices[0].finish_reason == "stop"


BAD_REQUESTS = [
    ("/v1/completions", b"{not json", None),
    ("/v1/completions", b"[1, 2]", None),
    ("/v1/chat/completions", b'{"messages": ' + b"[" * 100000 + b"]" * 100000 + b"}", None),
    ("/v1/completions", {"max_tokens": 3}, "prompt"),
    ("/v1/completions", {"prompt": 12}, "prompt"),
    ("/v1/completions", {"prompt": ""}, "prompt"),
    ("/v1/completions", {"prompt": [1, 10**9]}, "prompt"),
    ("/v1/completions", {"prompt": "x", "max_tokens": "many"}, "max_tokens"),
    ("/v1/completions", {"prompt": "x", "max_tokens": -1}, "max_tokens"),
    ("/v1/completions", {"prompt": "x", "temperature": -1}, "temperature"),
    ("/v1/completions", {"prompt": "x", "top_p": 0}, "top_p"),
    ("/v1/completions", {"prompt": "x", "stop": [1]}, "stop"),
    ("/v1/completions", {"prompt": "x", "n": 0}, "n"),
    ("/v1/completions", {"prompt": "x", "n": 17}, "n"),
    ("/v1/completions", {"prompt": "x", "seed": "s"}, "seed"),
    # integers past the native types they end in (SeqConfig.seed is uint32, max_tokens int32...)
    ("/v1/completions", {"prompt": "x", "seed": 2**80}, "seed"),
    ("/v1/completions", {"prompt": "x", "seed": -1}, "seed"),
    ("/v1/completions", {"prompt": "x", "seed": 2**32}, "seed"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "seed": 2**64}, "seed"),
    ("/v1/completions", {"prompt": "x", "max_tokens": 2**31}, "max_tokens"),
    ("/v1/completions", {"prompt": "x", "max_completion_tokens": 2**80}, "max_completion_tokens"),
    ("/v1/completions", {"prompt": "x", "top_k": 2**63}, "top_k"),
    ("/v1/completions", {"prompt": "x", "n": 2**64}, "n"),
    ("/v1/completions", {"prompt": "x", "n_draft_max": 2**31}, "n_draft_max"),
    ("/v1/completions", {"prompt": [1, 2**70]}, "prompt"),
    ("/v1/completions", b'{"prompt": "x", "seed": ' + b"1" * 5000 + b"}", None),  # past Python's int-from-text limit
    # lone surrogates: JSON escapes that no UTF-8 holds (json.dumps escapes them, httpx cannot)
    ("/v1/completions", json.dumps({"prompt": "\ud800"}).encode(), "prompt"),
    ("/v1/completions", json.dumps({"prompt": "x", "stop": ["a", "\udfff"]}).encode(), "stop[1]"),
    ("/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": "\ud800"}]}).encode(), "messages[0].content"),
    ("/v1/completions", {"prompt": "x", "stream": "yes"}, "stream"),
    ("/v1/completions", {"prompt": "x", "exact": 1}, "exact"),
    ("/v1/completions", {"prompt": "x", "sampled_drafts": "no"}, "sampled_drafts"),
    ("/v1/completions", {"prompt": "x", "draft": "eagle"}, "draft"),
    ("/v1/completions", {"prompt": "x", "draft": "ngram", "mtp": False}, "draft"),
    ("/v1/completions", {"prompt": "x", "n_draft_max": 99}, "n_draft_max"),
    ("/v1/completions", {"prompt": "x", "model": 3}, "model"),
    ("/v1/completions", {"prompt": "word " * 1200}, "prompt"),
    ("/v1/chat/completions", {"messages": "hi"}, "messages"),
    ("/v1/chat/completions", {"messages": []}, "messages"),
    ("/v1/chat/completions", {"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "x"}]}, "tools[0]"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "tool_choice": "maybe"}, "tool_choice"),
    (
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}},
        "response_format.type",
    ),
    # refused by upstream's template engine or grammar tools, still the request's fault
    (
        "/v1/chat/completions",
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [{"type": "function", "id": "1", "function": {"name": "f", "arguments": "{bad"}}],
                }
            ]
        },
        None,
    ),
    (
        "/v1/chat/completions",
        {
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"schema": {"type": "string", "minLength": 5, "maxLength": 2}},
            },
        },
        None,
    ),
    (
        "/v1/chat/completions",
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "nope"}}}],
        },
        None,
    ),
]


@pytest.mark.parametrize(("path", "body", "param"), BAD_REQUESTS)
def test_bad_requests_get_400_naming_the_field(server: ServerProcess, path: str, body: object, param: str | None) -> None:
    with http(server) as h:
        r = h.post(path, content=body) if isinstance(body, bytes) else h.post(path, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    too_long = isinstance(body, dict) and body.get("prompt") == "word " * 1200
    kind = "exceed_context_size_error" if too_long else "invalid_request_error"  # llama-server's type for it
    assert error["type"] == kind and error["param"] == param and error["message"]
    assert httpx.get(server.url + "/health").status_code == 200  # and the server is fine


def test_oversized_bodies_are_refused(server: ServerProcess) -> None:
    with http(server) as h:
        r = h.post("/v1/completions", content=b'{"prompt": "' + b"x" * (17 << 20) + b'"}')
    assert r.status_code == 413 and r.json()["error"]["type"] == "invalid_request_error"


def test_metrics_are_prometheus_text(server: ServerProcess, client: openai.OpenAI, model: llama_mtp.Model) -> None:
    client.completions.create(model="tiny", prompt="Count me", max_tokens=16)
    r = http(server).get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    for name in (
        "llama_mtp_requests_total",
        "llama_mtp_queue_length",
        "llama_mtp_tokens_per_second",
        "llama_mtp_acceptance",
        "llama_mtp_mean_acceptance_length",
        "llama_mtp_draft_length_steps_total",
        "llama_mtp_generated_tokens_total",
        "llama_mtp_active_sequences",
        "llama_mtp_drafter_draft_tokens_total",
        "llama_mtp_drafter_accepted_tokens_total",
        "llama_mtp_drafter_steps_total",
        "llama_mtp_drafter_acceptance",
    ):
        assert f"\n{name}" in r.text, name
    assert 'llama_mtp_requests_total{endpoint="/v1/completions",status="200"}' in r.text
    assert metric(server, 'llama_mtp_acceptance{position="1"}') > 0
    assert metric(server, 'llama_mtp_drafter_steps_total{drafter="mtp"}') > 0
    # per drafter: a request whose prompt holds the text it will write verifies n-gram drafts
    continuation = alone(model, "The story begins:", 48).text
    r2 = client.completions.create(
        model="tiny", prompt=f"The story begins:{continuation}\nAgain:", max_tokens=48, extra_body={"draft": "ngram"}
    )
    assert r2.choices[0].text == continuation
    assert metric(server, 'llama_mtp_drafter_accepted_tokens_total{drafter="ngram"}') > 0


@pytest.mark.parametrize("draft", ["none", "ngram"])
def test_serve_draft_sets_the_drafters(model_path: Path, model: llama_mtp.Model, draft: str) -> None:
    s = ServerProcess(model_path, "-np", "1", "-c", "512", "--draft", draft)
    try:
        with httpx.Client(base_url=s.url, timeout=60) as h:
            assert h.get("/v1/models").json()["data"][0]["meta"]["draft"] == draft
            r = h.post("/v1/completions", json={"prompt": "Once upon a time", "max_tokens": 16})
            assert r.json()["choices"][0]["text"] == alone(model, "Once upon a time", 16).text
            refused = h.post("/v1/completions", json={"prompt": "x", "max_tokens": 4, "draft": "mtp"})
            assert refused.status_code == 400 and refused.json()["error"]["param"] == "draft"
    finally:
        assert s.stop()


def test_a_full_queue_answers_503(model_path: Path) -> None:
    # the tiny model writes thousands of tokens a second: the holder asks for a long text
    s = ServerProcess(model_path, "-np", "1", "--max-queue", "0", "-c", "65536")
    try:
        with (
            httpx.Client(base_url=s.url, timeout=60) as h,
            h.stream(
                "POST",
                "/v1/completions",
                json={"prompt": "Holds the slot", "max_tokens": 60000, "stream": True, "ignore_eos": True},
            ) as r,
        ):
            lines = r.iter_lines()  # kept: a collected line iterator closes the response
            assert next(line for line in lines if line.startswith("data: "))
            for stream in (False, True):  # a stream is refused before its response begins
                busy = h.post("/v1/completions", json={"prompt": "x", "max_tokens": 2, "stream": stream})
                assert busy.status_code == 503 and busy.json()["error"]["code"] == "queue_full"
        assert wait_until(lambda: httpx.get(s.url + "/health").json()["active"] == 0)
        ok = httpx.post(s.url + "/v1/completions", json={"prompt": "x", "max_tokens": 2}, timeout=60)
        assert ok.status_code == 200  # the slot came back when the first client left
    finally:
        assert s.stop(), "".join(s.output)


def test_invalid_bodies_get_400_while_the_queue_is_full(model_path: Path) -> None:
    # validation comes before admission: a client learns what is wrong with its request at
    # once, not "server busy" for a request that no retry could make valid
    s = ServerProcess(model_path, "-np", "1", "--max-queue", "0", "-c", "65536")
    long_prompt = ("/v1/completions", {"prompt": [1] * 70000}, "prompt")  # longer than this server's sequence
    bad = [r for r in BAD_REQUESTS if r[1] != {"prompt": "word " * 1200}] + [long_prompt]
    bad += [(p, {**b, "stream": True}, f) for p, b, f in bad if isinstance(b, dict) and "stream" not in b]
    try:
        with (
            httpx.Client(base_url=s.url, timeout=60) as h,
            h.stream(
                "POST",
                "/v1/completions",
                json={"prompt": "Holds the slot", "max_tokens": 60000, "stream": True, "ignore_eos": True},
            ) as r,
        ):
            lines = r.iter_lines()
            assert next(line for line in lines if line.startswith("data: "))  # admitted: the queue is full now

            def busy() -> bool:
                answer = h.post("/v1/completions", json={"prompt": "x", "max_tokens": 2})
                return answer.status_code == 503 and answer.json()["error"]["code"] == "queue_full"

            assert busy()
            for path, body, param in bad:
                answer = h.post(path, content=body) if isinstance(body, bytes) else h.post(path, json=body)
                assert answer.status_code == 400, (str(body)[:120], answer.text)
                assert answer.json()["error"]["param"] == param, answer.text
            assert busy()  # and it was full all along
    finally:
        assert s.stop(), "".join(s.output)


def test_a_client_gone_mid_body_is_no_error(server: ServerProcess) -> None:
    # a body cut short by the client's leaving is the client's doing (499 in /metrics), not a
    # traceback in the server's log (the module's server must stop cleanly)
    gone = 'llama_mtp_requests_total{endpoint="/v1/completions",status="499"}'
    before = metric(server, gone)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            'Content-Length: 100\r\n\r\n{"prompt": '.encode()
        )
    assert wait_until(lambda: metric(server, gone) == before + 1)


def test_seeds_across_the_native_range_are_taken(client: openai.OpenAI) -> None:
    texts = [
        client.completions.create(
            model="tiny", prompt="Seeded", max_tokens=8, temperature=0.9, seed=seed, extra_body={"draft": "none"}
        )
        .choices[0]
        .text
        for seed in (0, 2**32 - 1, 7, 7)
    ]
    assert texts[2] == texts[3]  # a seed makes a sampled request reproducible


def test_exact_requests_are_one_token_decoding(client: openai.OpenAI, model: llama_mtp.Model) -> None:
    # "exact" per request: batch-invariant decoding, whatever else the batch holds
    prompts = [f"Exact request {i}" for i in range(6)]  # 6 requests on 4 slots: they share batches

    def one(prompt: str) -> str:
        return client.completions.create(model="tiny", prompt=prompt, max_tokens=24, extra_body={"exact": True}).choices[0].text

    with ThreadPoolExecutor(6) as pool:
        texts = list(pool.map(one, prompts))
    for prompt, text in zip(prompts, texts, strict=True):
        assert text == llama_mtp.generate(model, prompt, max_tokens=24, exact=True).text
        assert text == llama_mtp.generate(model, prompt, max_tokens=24, draft="none").text


def test_a_request_without_sampled_drafts_samples_what_plain_sampling_does(client: openai.OpenAI, model: llama_mtp.Model) -> None:
    # sample-and-match: the text depends on the seed alone, so it is plain sampling's with that seed
    for seed in (3, 11):
        text = (
            client.completions.create(
                model="tiny", prompt="Sampled", max_tokens=24, temperature=0.8, seed=seed, extra_body={"sampled_drafts": False}
            )
            .choices[0]
            .text
        )
        assert text == llama_mtp.generate(model, "Sampled", max_tokens=24, temperature=0.8, seed=seed, draft="none").text


def test_serve_exact_is_the_default_a_request_can_override(model_path: Path, model: llama_mtp.Model) -> None:
    s = ServerProcess(model_path, "-np", "2", "-c", "2048", "--exact")
    try:
        with httpx.Client(base_url=s.url, timeout=60) as h:
            assert h.get("/v1/models").json()["data"][0]["meta"]["exact"] is True
            for body in ({}, {"exact": False}, {"exact": None}):
                r = h.post("/v1/completions", json={"prompt": "Served exactly", "max_tokens": 20, **body})
                assert r.status_code == 200, r.text
                assert r.json()["choices"][0]["text"] == alone(model, "Served exactly", 20).text
    finally:
        assert s.stop(), "".join(s.output)

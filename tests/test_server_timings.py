"""Every response says what the request cost and what speculation did for it
(src/llama_mtp/serving/timings.py): llama-server's `timings` (numbers only; draft_n,
draft_n_accepted: how its own suite checks speculation) and `speculation`: per drafter, the
request's own drafts, whatever else shared its verify batches; in the final chunk of a stream too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from chat_helpers import chat_model_path
from server_helpers import ServerProcess

PROMPT = "Timings of a request"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = chat_model_path(tmp_path_factory.mktemp("timings"))
    s = ServerProcess(path, "-np", "2", "-c", "2048", "--draft", "mtp", "--n-draft-max", "3")
    yield s
    assert s.stop(), "".join(s.output)


def complete(server: ServerProcess, prompt: str = PROMPT, **body: Any) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=120) as h:
        r = h.post("/v1/completions", json={"prompt": prompt, "max_tokens": 24, **body})
        assert r.status_code == 200, r.text
        return dict(r.json())


def test_a_completion_reports_its_costs_and_its_drafts(server: ServerProcess) -> None:
    out = complete(server)
    t, usage, spec = out["timings"], out["usage"], out["speculation"]
    assert all(isinstance(v, (int, float)) and v >= 0 for v in t.values())  # llama-server's: numbers only
    assert t["predicted_n"] == usage["completion_tokens"] == 24
    assert t["prompt_n"] + t["cache_n"] == usage["prompt_tokens"]
    assert t["predicted_ms"] > 0 and t["predicted_per_second"] > 0 and t["prompt_per_second"] >= 0
    mtp = spec["drafters"]["mtp"]
    assert t["draft_n"] == mtp["draft_tokens"] + spec["drafters"]["ngram"]["draft_tokens"] > 0
    assert 0 < t["draft_n_accepted"] == mtp["accepted_tokens"] <= t["draft_n"]
    # accepted_at[0]: drafts with a first token accepted; the positions add up to the accepted tokens
    assert sum(mtp["accepted_at"]) == mtp["accepted_tokens"]
    assert spec["draft_lengths"] == {"3": sum(spec["draft_lengths"].values())}  # n_draft_max=3, fixed
    # the generation rate is over the tokens after the first (it came with the prompt), as llama-server's
    assert t["predicted_per_second"] == pytest.approx((t["predicted_n"] - 1) / t["predicted_ms"] * 1e3)
    one = complete(server, max_tokens=1)["timings"]
    assert one["predicted_n"] == 1 and one["predicted_per_second"] == one["predicted_per_token_ms"] == 0.0


def test_the_drafts_counted_are_the_requests_own(server: ServerProcess) -> None:
    # greedy and a fixed length: a request drafts the same alone and beside another one, so its
    # counts must not change (a tally of the whole batch would add the other request's)
    alone = complete(server)["timings"]
    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda p: complete(server, p)["timings"], [PROMPT, "Another request, longer than the first"]))
    assert (both[0]["draft_n"], both[0]["draft_n_accepted"]) == (alone["draft_n"], alone["draft_n_accepted"])
    assert both[1]["draft_n"] > 0


def test_streams_carry_the_timings_in_their_final_chunk(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as h:
        for path, body in (
            ("/v1/completions", {"prompt": PROMPT}),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": PROMPT}]}),
        ):
            with h.stream("POST", path, json={**body, "max_tokens": 16, "stream": True}) as r:
                chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
            final = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
            assert len(final) == 1 and final[0]["timings"]["predicted_n"] == 16, path
            assert all("timings" not in c for c in chunks if c not in final)
            assert final[0]["speculation"]["drafters"]["mtp"]["draft_tokens"] == final[0]["timings"]["draft_n"]
            assert final[0]["timings"]["draft_n"] >= final[0]["timings"]["draft_n_accepted"] > 0


def test_a_chat_completion_reports_them_too(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as h:
        r = h.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 12})
    t = r.json()["timings"]
    assert t["predicted_n"] == r.json()["usage"]["completion_tokens"] and t["draft_n"] > 0

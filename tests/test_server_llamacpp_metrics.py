"""llama-server's `llamacpp:*` metrics (src/llama_mtp/serving/llamacpp_metrics.py) in its exact
text form, counting what the requests did; `serve --no-metrics` answers 501 as llama-server
without --metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
from chat_helpers import chat_model_path
from server_helpers import ServerProcess


def parse(text: str) -> dict[str, tuple[str, float]]:
    """{name: (type, value)} of the llamacpp:* samples, each with its own TYPE and HELP line."""
    types: dict[str, str] = {}
    out: dict[str, tuple[str, float]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE llamacpp:"):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line.startswith("llamacpp:"):
            name, value = line.split(" ", 1)
            assert name in types and f"# HELP {name} " in text, name
            out[name] = (types[name], float(value))
    return out


def test_the_llamacpp_families_count_the_requests(tmp_path: Path) -> None:
    path = chat_model_path(tmp_path)
    s = ServerProcess(path, "-np", "1", "-c", "1024", "--draft", "mtp", "--n-draft-max", "3")
    off = ServerProcess(path, "-np", "1", "-c", "512", "--no-metrics")
    try:
        with httpx.Client(base_url=s.url, timeout=60) as h:
            prompt = "the quick brown fox jumps over the lazy dog"
            answers = [h.post("/completion", json={"prompt": prompt, "n_predict": n}).json() for n in (4, 8)]
            r = h.get("/metrics")
            assert r.status_code == 200 and int(r.headers["process-start-time-unix"]) > 0
            m = parse(r.text)
            assert "llama_mtp_requests_total" in r.text  # ours are still there
        assert m["llamacpp:tokens_predicted_total"] == ("counter", sum(a["timings"]["predicted_n"] for a in answers))
        assert m["llamacpp:prompt_tokens_total"][1] == sum(a["timings"]["prompt_n"] for a in answers)
        assert m["llamacpp:prompt_tokens_cached_total"][1] == sum(a["timings"]["cache_n"] for a in answers) > 0
        assert m["llamacpp:spec_decode_num_draft_tokens_total"][1] == sum(a["timings"]["draft_n"] for a in answers) > 0
        assert m["llamacpp:spec_decode_num_accepted_tokens_total"][1] == sum(a["timings"]["draft_n_accepted"] for a in answers)
        assert m["llamacpp:n_decode_total"][1] > 0 and m["llamacpp:requests_processing"] == ("gauge", 0.0)
        assert 0 < m["llamacpp:n_busy_slots_per_decode"][1] <= 1
        with httpx.Client(base_url=off.url, timeout=60) as h:
            assert h.get("/metrics").status_code == 501
    finally:
        assert s.stop() and off.stop()

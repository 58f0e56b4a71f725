"""CORS (src/llama_mtp/serving/cors.py), as llama-server answers it: a preflight is answered
before the API key; "localhost" (the default) reflects only this machine's origins, "*" every
origin with credentials, a list its members."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from chat_helpers import chat_model_path
from server_helpers import ServerProcess

from llama_mtp.serving.cors import allowed_origin

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Authorization"}


@pytest.mark.parametrize(
    "origin, setting, allowed",
    [
        ("http://localhost", "localhost", True),
        ("http://127.0.0.1:3000", "localhost", True),
        ("http://[::1]:3000", "localhost", True),
        ("http://localhost.evil.com", "localhost", False),
        ("http://notlocalhost", "localhost", False),
        ("https://web.mydomain.fr", "localhost", False),
        ("https://web.mydomain.fr", "*", True),
        ("https://a.example", "https://a.example, https://b.example", True),
        ("https://c.example", "https://a.example, https://b.example", False),
        ("", "*", False),
    ],
)
def test_which_origins_are_allowed(origin: str, setting: str, allowed: bool) -> None:
    assert allowed_origin(origin, setting) == (origin if allowed else None)


def test_preflights_and_responses_carry_the_headers(tmp_path: Path) -> None:
    path = chat_model_path(tmp_path)
    default = ServerProcess(path, "-np", "1", "-c", "512", "--api-key", "k")
    anyone = ServerProcess(path, "-np", "1", "-c", "512", "--cors-origins", "*")
    try:
        with httpx.Client(base_url=default.url, timeout=60) as h:
            r = h.options("/v1/completions", headers={"Origin": "http://localhost:5173", **PREFLIGHT})
            assert r.status_code == 200  # before the API key, which a browser's preflight lacks
            assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
            assert r.headers["access-control-allow-methods"] == "GET, POST, DELETE, OPTIONS"
            assert r.headers["access-control-allow-headers"] == "*"
            r = h.options("/completions", headers={"Origin": "http://evil.com", **PREFLIGHT})
            assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
            r = h.get("/health", headers={"Origin": "http://127.0.0.1:3000"})
            assert r.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
            assert h.post("/v1/completions", json={"prompt": "x"}).status_code == 401  # the key still guards the API
        with httpx.Client(base_url=anyone.url, timeout=60) as h:
            r = h.options("/completions", headers={"Origin": "web.mydomain.fr", **PREFLIGHT})
            assert r.headers["access-control-allow-origin"] == "web.mydomain.fr"
            assert r.headers["access-control-allow-credentials"] == "true"
            r = h.post("/completion", json={"prompt": "x", "n_predict": 2}, headers={"Origin": "https://a.example"})
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://a.example"
    finally:
        assert default.stop() and anyone.stop()

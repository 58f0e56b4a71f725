#!/usr/bin/env python3
"""A bounded soak of `llama-mtp serve` under abuse, on localhost only.

    python benchmarks/bench_soak.py [--seconds 60] [--clients 16] [--held 6] [--parallel 4]
        [--max-queue 8] [--threads 2] [--seed 0] [--json out.json]

Starts `llama-mtp serve --parallel 4 --max-queue 8` on the tiny dense chat model of
llama_mtp.testing (a child process on a free localhost port), then runs --clients threads for
--seconds; each thread loops over the kinds of request below, in turn, from an offset of its own:

- completion:     a greedy /v1/completions request, its text and finish reason checked
                  against llama_mtp.generate() on the same model
- chat:           a greedy /v1/chat/completions request, its content checked against chat()
- stream:         a greedy streamed completion, its pieces joined checked against generate()
- dropped stream: a long streamed completion, dropped after its second event
- invalid:        an invalid body (a field out of range or of the wrong type, seeds past
                  uint32, lone surrogates, bad JSON, a grammar the vocabulary cannot take...):
                  it must get 400 naming the field, whatever the queue holds (never 503)
- garbage:        raw bytes on a socket of its own (a TLS hello, random bytes, a bad
                  Content-Length, a bad chunk, a NUL in a header...): any answer below 500,
                  or the connection closed

and --held sockets hold half-sent requests (headers cut short, or a body shorter than its
Content-Length) open from the start to the end. After --seconds no new request starts; those
in flight finish (each has a timeout, and a thread still busy 180 s later is "hung").

Reported: requests by kind (sent, answered as expected, 503), wrong answers, 5xx answers
other than 503 queue_full, connection failures, the server's RSS before and after, the
sequences still active or queued afterwards (/health), sequences the engine failed
(/metrics), whether the half-sent sockets stayed open, and a final greedy request's
exactness. It exits 1 when an invariant fails: 0 wrong, 0 5xx, 0 connection failures, 0 hung,
0 failed sequences, nothing active afterwards, the final request exact. 503 (queue full) is
allowed on valid requests: the queue is bounded on purpose.

tests/test_server_soak.py runs soak() from here for a few seconds in the suite.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

import llama_mtp
from llama_mtp.testing import TINY_CHAT_TEMPLATE, tiny_mtp_model

KINDS = ("completion", "chat", "stream", "dropped stream", "invalid", "garbage")
CTX_PER_SLOT = 1024
# a bad request is a 400 of one of these types (a prompt too long: llama-server's own type)
BAD_REQUEST_TYPES = ("invalid_request_error", "exceed_context_size_error")

# --- what the answers must be -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expected:
    """Greedy answers computed in this process with generate()/chat() on the same model."""

    completions: list[tuple[str, int, str, str]]  # prompt, max_tokens, text, finish reason
    chats: list[tuple[list[dict[str, str]], int, str]]  # messages, max_tokens, content


def expected_answers(model_path: str | os.PathLike[str], n_completions: int = 8, n_chats: int = 4) -> Expected:
    model = llama_mtp.Model(model_path)
    completions = []
    for i in range(n_completions):
        prompt, n = f"Soak prompt {i}: once upon a time", 8 + 5 * i
        g = llama_mtp.generate(model, prompt, max_tokens=n)
        assert isinstance(g, llama_mtp.Generation)
        completions.append((prompt, n, g.text, g.finish_reason))
    chats = []
    for i in range(n_chats):
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Soak question {i}?"}]
        n = 10 + 6 * i
        chats.append((messages, n, llama_mtp.chat(model, messages, max_tokens=n).content or ""))
    return Expected(completions, chats)


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body).encode()


def invalid_bodies() -> list[tuple[str, bytes, str | None]]:
    """(path, body, the field the 400 must name) for bodies every server state must refuse."""
    c, m = "/v1/completions", "/v1/chat/completions"
    user = [{"role": "user", "content": "x"}]
    fields: list[tuple[str, dict[str, Any], str | None]] = [
        (c, {"prompt": "x", "seed": 2**80}, "seed"),
        (c, {"prompt": "x", "seed": -1}, "seed"),
        (c, {"prompt": "x", "seed": 2**32}, "seed"),
        (c, {"prompt": "x", "seed": 1.5}, "seed"),
        (c, {"prompt": "x", "max_tokens": 2**40}, "max_tokens"),
        (c, {"prompt": "x", "max_tokens": -1}, "max_tokens"),
        (c, {"prompt": "x", "max_completion_tokens": 2**80}, "max_completion_tokens"),
        (c, {"prompt": "x", "top_k": 2**63}, "top_k"),
        (c, {"prompt": "x", "n": 2**64}, "n"),
        (c, {"prompt": "x", "n_draft_max": 2**31}, "n_draft_max"),
        (c, {"prompt": "x", "temperature": "hot"}, "temperature"),
        (c, {"prompt": "x", "top_p": 2}, "top_p"),
        (c, {"prompt": "x", "min_p": 1e308}, "min_p"),
        (c, {"prompt": "x", "stop": [1]}, "stop"),
        (c, {"prompt": "x", "stop": "\ud800"}, "stop"),
        (c, {"prompt": "x", "stream_options": 3}, "stream_options"),
        (c, {"prompt": "x", "model": 3}, "model"),
        (c, {"prompt": [1, 2**70]}, "prompt"),
        (c, {"prompt": [1, -1]}, "prompt"),
        (c, {"prompt": ""}, "prompt"),
        (c, {"prompt": "\udfff and more"}, "prompt"),
        (c, {"prompt": "word " * 1500}, "prompt"),  # longer than a sequence holds
        (m, {"messages": "hi"}, "messages"),
        (m, {"messages": []}, "messages"),
        (m, {"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        (m, {"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (m, {"messages": [{"role": "user", "content": "\ud800"}]}, "messages[0].content"),
        (m, {"messages": user, "tools": [{"type": "x"}]}, "tools[0]"),
        (m, {"messages": user, "tool_choice": "maybe"}, "tool_choice"),
        (m, {"messages": user, "response_format": {"type": "xml"}}, "response_format.type"),
        (m, {"messages": user, "seed": 2**80}, "seed"),
        (m, {"messages": user, "parallel_tool_calls": "yes"}, "parallel_tool_calls"),
        # a grammar the model's vocabulary cannot take: found by the native layer, before admission
        (
            m,
            {
                "messages": user,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"schema": {"type": "string", "minLength": 5, "maxLength": 2}},
                },
            },
            None,
        ),
    ]
    bodies = [(p, _json(b), f) for p, b, f in fields]
    bodies += [(p, _json(dict(b, stream=True)), f) for p, b, f in fields]  # refused before the stream starts
    bodies += [
        (c, b"{not json", None),
        (c, b"[1, 2]", None),
        (c, b"\xff\xfe{}", None),
        (c, b'{"prompt": "x", "seed": ' + b"1" * 5000 + b"}", None),  # past Python's int-from-text limit
        (m, b'{"messages": ' + b"[" * 50000 + b"]" * 50000 + b"}", None),
        (c, b'{"prompt": "x", "temperature": NaN}', "temperature"),
        (c, b'{"prompt": "x", "top_p": 1e400}', "top_p"),
        (c, b'{"prompt": "x", "stream": "yes"}', "stream"),
    ]
    return bodies


def garbage(rng: random.Random) -> bytes:
    """Bytes that are not a request this server can take."""
    kind = rng.randrange(8)
    if kind == 0:  # a TLS ClientHello's start on the plain-text port
        return b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rng.randbytes(rng.randrange(32, 512))
    if kind == 1:
        return b"\x00" + rng.randbytes(rng.randrange(1, 4096))
    if kind == 2:
        return b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n{}"
    if kind == 3:
        return b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n"
    if kind == 4:
        return b"GET /health HTTP/1.1\r\nHost: a\r\nX-Bad: \x00\x01\r\n\r\n"
    if kind == 5:
        return b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\n" + rng.randbytes(16)
    if kind == 6:
        return b"GET /" + b"%" * rng.randrange(1, 2000) + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    return b"\r\n".join(rng.randbytes(rng.randrange(1, 64)) for _ in range(rng.randrange(1, 20))) + b"\r\n\r\n"


HALF_SENT = (
    b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-",  # headers cut short
    b'POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 4096\r\n\r\n{"messages": [',  # body cut short
)

# --- the tally ----------------------------------------------------------------------------------


@dataclasses.dataclass
class SoakReport:
    seconds: float
    clients: int
    sent: dict[str, int]
    ok: dict[str, int]
    busy: dict[str, int]
    wrong: dict[str, int]
    server_errors: dict[str, int]
    connection_failures: dict[str, int]
    hung_clients: int
    held: int
    held_open_at_end: int
    garbage_answers: dict[str, int]
    rss_before_kib: int | None
    rss_after_kib: int | None
    active_after: int | None
    queued_after: int | None
    failed_sequences: float | None
    server_5xx_metric: float | None
    final_exact: bool
    examples: list[str]

    def failures(self) -> list[str]:
        """The invariants that do not hold (empty: it held)."""
        out = []
        for name, counts in (
            ("wrong answers", self.wrong),
            ("5xx answers (not 503 queue_full)", self.server_errors),
            ("connection failures", self.connection_failures),
        ):
            if sum(counts.values()):
                out.append(f"{name}: {sum(counts.values())}")
        if self.hung_clients:
            out.append(f"hung clients: {self.hung_clients}")
        if self.active_after != 0 or self.queued_after != 0:
            out.append(f"afterwards {self.active_after} sequences active, {self.queued_after} queued")
        if self.failed_sequences:
            out.append(f"sequences the engine failed: {self.failed_sequences:g}")
        if self.server_5xx_metric:
            out.append(f"5xx (not 503) counted by /metrics: {self.server_5xx_metric:g}")
        if not self.final_exact:
            out.append("the final greedy request was not exact")
        return out

    def table(self) -> str:
        lines = [
            "| kind | sent | as expected | 503 (queue full) | wrong | 5xx | connection failures |",
            "|---|---|---|---|---|---|---|",
        ]
        for k in KINDS:
            lines.append(
                f"| {k} | {self.sent.get(k, 0)} | {self.ok.get(k, 0)} | {self.busy.get(k, 0)} | "
                f"{self.wrong.get(k, 0)} | {self.server_errors.get(k, 0)} | "
                f"{self.connection_failures.get(k, 0)} |"
            )
        total = {
            name: sum(getattr(self, name).values())
            for name in ("sent", "ok", "busy", "wrong", "server_errors", "connection_failures")
        }
        lines.append(
            f"| **all** | {total['sent']} | {total['ok']} | {total['busy']} | {total['wrong']} | "
            f"{total['server_errors']} | {total['connection_failures']} |"
        )

        def mib(kib: int | None) -> str:
            return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"

        lines += [
            "",
            f"- half-sent requests held open all along: {self.held} (still open at the end: {self.held_open_at_end})",
            f"- garbage taken as: {', '.join(f'{k} {v}' for k, v in sorted(self.garbage_answers.items())) or '-'}"
            " (an HTTP status, or the connection closed, reset or left waiting for more)",
            f"- clients hung past the deadline: {self.hung_clients}",
            f"- server RSS: {mib(self.rss_before_kib)} before, {mib(self.rss_after_kib)} after",
            f"- afterwards (/health): {self.active_after} sequences active, {self.queued_after} queued",
            f"- sequences the engine failed (/metrics): {self.failed_sequences}",
            f"- a final greedy request exact: {'yes' if self.final_exact else 'NO'}",
        ]
        return "\n".join(lines)


class _Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, collections.Counter[str]] = {
            n: collections.Counter() for n in ("sent", "ok", "busy", "wrong", "server_errors", "connection_failures")
        }
        self.examples: list[str] = []
        self.garbage: collections.Counter[str] = collections.Counter()  # how the server took each

    def add(self, what: str, kind: str, detail: str = "") -> None:
        with self.lock:
            self.counts[what][kind] += 1
            if detail and len(self.examples) < 20:
                self.examples.append(f"{what} {kind}: {detail}")


# --- the clients ----------------------------------------------------------------------------------


def _status_of(r: httpx.Response) -> tuple[str, str]:
    """(outcome, detail) of an answer that is not 200."""
    if r.status_code == 503:
        try:
            code = r.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        return ("busy", "") if code == "queue_full" else ("server_errors", f"503 {r.text[:200]}")
    if r.status_code >= 500:
        return "server_errors", f"{r.status_code} {r.text[:200]}"
    return "wrong", f"{r.status_code} {r.text[:200]}"


class _Client:
    def __init__(self, url: str, expected: Expected, tally: _Tally, rng: random.Random, timeout: float) -> None:
        self.url = url
        self.expected = expected
        self.tally = tally
        self.rng = rng
        self.timeout = timeout
        self.http = httpx.Client(base_url=url, timeout=timeout)
        self.invalid = invalid_bodies()
        split = urlsplit(url)
        self.address = (split.hostname or "127.0.0.1", split.port or 80)

    def run(self, kind: str) -> None:
        self.tally.add("sent", kind)
        try:
            outcome, detail = getattr(self, "_" + kind.replace(" ", "_"))()
        except (httpx.TransportError, OSError) as e:
            outcome, detail = "connection_failures", f"{type(e).__name__}: {e}"
        except Exception as e:  # an answer this harness could not read (not JSON, a field missing)
            outcome, detail = "wrong", f"{type(e).__name__}: {e}"
        self.tally.add(outcome, kind, detail)

    def _post(self, path: str, body: Mapping[str, Any]) -> httpx.Response:
        return self.http.post(path, json=body)

    def _completion(self) -> tuple[str, str]:
        prompt, n, text, finish = self.rng.choice(self.expected.completions)
        r = self._post("/v1/completions", {"prompt": prompt, "max_tokens": n, "temperature": 0})
        if r.status_code != 200:
            return _status_of(r)
        choice = r.json()["choices"][0]
        if (choice["text"], choice["finish_reason"]) != (text, finish):
            return "wrong", f"{prompt!r}: {choice['text']!r} ({choice['finish_reason']}) != {text!r} ({finish})"
        return "ok", ""

    def _chat(self) -> tuple[str, str]:
        messages, n, content = self.rng.choice(self.expected.chats)
        r = self._post("/v1/chat/completions", {"messages": messages, "max_tokens": n, "temperature": 0})
        if r.status_code != 200:
            return _status_of(r)
        got = r.json()["choices"][0]["message"]["content"] or ""
        return ("ok", "") if got == content else ("wrong", f"chat {messages[-1]['content']!r}: {got!r} != {content!r}")

    def _events(self, r: httpx.Response) -> Any:
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                yield json.loads(line[6:])

    def _stream(self) -> tuple[str, str]:
        prompt, n, text, finish = self.rng.choice(self.expected.completions)
        with self.http.stream(
            "POST", "/v1/completions", json={"prompt": prompt, "max_tokens": n, "temperature": 0, "stream": True}
        ) as r:
            if r.status_code != 200:
                r.read()
                return _status_of(r)
            pieces, reasons = [], []
            for event in self._events(r):
                if "error" in event:
                    return "server_errors", f"stream error event {event}"
                pieces.append(event["choices"][0]["text"])
                if event["choices"][0]["finish_reason"]:
                    reasons.append(event["choices"][0]["finish_reason"])
        if ("".join(pieces), reasons) != (text, [finish]):
            return "wrong", f"stream {prompt!r}: {''.join(pieces)!r} {reasons} != {text!r} [{finish}]"
        return "ok", ""

    def _dropped_stream(self) -> tuple[str, str]:
        body = {"prompt": f"Dropped {self.rng.randrange(1000)}", "max_tokens": 900, "ignore_eos": True, "stream": True}
        with self.http.stream("POST", "/v1/completions", json=body) as r:
            if r.status_code != 200:
                r.read()
                return _status_of(r)
            seen = 0
            for _ in self._events(r):
                seen += 1
                if seen == 2:
                    break  # leaving the block closes the connection mid-stream
        return "ok", ""

    def _invalid(self) -> tuple[str, str]:
        path, body, param = self.rng.choice(self.invalid)
        r = self.http.post(path, content=body, headers={"content-type": "application/json"})
        if r.status_code >= 500:  # a 503 here is the bug: validation comes before admission
            return "server_errors" if r.status_code != 503 else "wrong", f"{r.status_code} for {body[:80]!r}: {r.text[:200]}"
        try:
            error = r.json()["error"]
        except (ValueError, KeyError, TypeError):
            return "wrong", f"{r.status_code} without an error body for {body[:80]!r}"
        if r.status_code != 400 or error.get("param") != param or error.get("type") not in BAD_REQUEST_TYPES:
            return "wrong", f"{r.status_code} param={error.get('param')!r} (expected {param!r}) for {body[:80]!r}"
        return "ok", ""

    def _garbage(self) -> tuple[str, str]:
        data = garbage(self.rng)
        with socket.create_connection(self.address, timeout=10) as s:
            try:
                s.sendall(data)
                reply = s.recv(64)
            except (ConnectionResetError, BrokenPipeError):
                return self._took("reset"), ""  # refused by closing: fine
            except TimeoutError:
                return self._took("waited"), ""  # waits for the rest of a request it could still read: fine
        if not reply:
            return self._took("closed"), ""  # closed without an answer
        parts = reply.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            return "wrong", f"not an HTTP answer: {reply!r} to {data[:60]!r}"
        status = int(parts[1])
        if status >= 500:
            return "server_errors", f"{status} to {data[:60]!r}"
        return self._took(str(status)), ""

    def _took(self, how: str) -> str:
        with self.tally.lock:
            self.tally.garbage[how] += 1
        return "ok"


def rss_kib(pid: int | None) -> int | None:
    """A process's resident set (Linux /proc), None where it cannot be read."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _metric(text: str, name: str, keep: Callable[[str], bool] = lambda labels: True) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels = line[len(name) :].rsplit(" ", 1)[0]
            if keep(labels):
                total += float(line.rsplit(" ", 1)[1])
    return total


def _server_error_status(labels: str) -> bool:
    status = labels.split('status="', 1)[1].split('"', 1)[0] if 'status="' in labels else ""
    return status.startswith("5") and status != "503"


def _hold(address: tuple[str, int], i: int) -> socket.socket:
    s = socket.create_connection(address, timeout=10)
    s.sendall(HALF_SENT[i % len(HALF_SENT)])
    return s


def _still_open(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def soak(
    url: str,
    expected: Expected,
    *,
    pid: int | None = None,
    seconds: float = 60.0,
    clients: int = 16,
    held: int = 6,
    seed: int = 0,
    timeout: float = 120.0,
    hang_grace: float = 180.0,
    kinds: Sequence[str] = KINDS,
) -> SoakReport:
    """Runs the soak against a server at url (pid: its process, for RSS) and reports."""
    tally = _Tally()
    address = (urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port or 80)
    with httpx.Client(base_url=url, timeout=timeout) as h:
        # warm: every code path once, so that RSS before is the steady state's start
        prompt, n, text, _ = expected.completions[0]
        first = h.post("/v1/completions", json={"prompt": prompt, "max_tokens": n}).json()["choices"][0]["text"]
        assert first == text, (first, text)
        messages, n, _ = expected.chats[0]
        h.post("/v1/chat/completions", json={"messages": messages, "max_tokens": n}).raise_for_status()
    rss_before = rss_kib(pid)
    holders = [_hold(address, i) for i in range(held)]
    deadline = time.monotonic() + seconds

    def client(c: int) -> None:
        rng = random.Random(seed * 1000 + c)
        me = _Client(url, expected, tally, rng, timeout)
        try:
            k = c
            while time.monotonic() < deadline:
                me.run(kinds[k % len(kinds)])
                k += 1
        finally:
            me.http.close()

    threads = [threading.Thread(target=client, args=(c,), name=f"soak-client-{c}", daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    end = deadline + hang_grace
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    hung = sum(t.is_alive() for t in threads)
    open_at_end = sum(_still_open(s) for s in holders)
    for s in holders:
        s.close()

    with httpx.Client(base_url=url, timeout=timeout) as h:
        active = queued = None
        drain = time.monotonic() + 30  # cancelled streams go at the engine's next step
        while time.monotonic() < drain:
            health = h.get("/health").json()
            active, queued = health["active"], health["queued"]
            if active == 0 and queued == 0:
                break
            time.sleep(0.05)  # a bounded poll of another process's state
        prompt, n, text, finish = expected.completions[-1]
        final = h.post("/v1/completions", json={"prompt": prompt, "max_tokens": n}).json()["choices"][0]
        final_exact = (final["text"], final["finish_reason"]) == (text, finish)
        metrics = h.get("/metrics").text
    rss_after = rss_kib(pid)
    c = tally.counts
    return SoakReport(
        seconds=seconds,
        clients=clients,
        sent=dict(c["sent"]),
        ok=dict(c["ok"]),
        busy=dict(c["busy"]),
        wrong=dict(c["wrong"]),
        server_errors=dict(c["server_errors"]),
        connection_failures=dict(c["connection_failures"]),
        hung_clients=hung,
        held=held,
        held_open_at_end=open_at_end,
        garbage_answers=dict(tally.garbage),
        rss_before_kib=rss_before,
        rss_after_kib=rss_after,
        active_after=active,
        queued_after=queued,
        failed_sequences=_metric(metrics, "llama_mtp_sequences_total", lambda labels: 'outcome="failed"' in labels),
        server_5xx_metric=_metric(metrics, "llama_mtp_requests_total", _server_error_status),
        final_exact=final_exact,
        examples=list(tally.examples),
    )


# --- the benchmark -----------------------------------------------------------------------------------


def soak_model(directory: Path | None = None) -> Path:
    """The tiny dense chat model (what the server tests use, without their tool-calling seed)."""
    path = None if directory is None else directory / "soak-chat-dense.gguf"
    return tiny_mtp_model(path, kind="dense", chat_template=TINY_CHAT_TEMPLATE)


class Server:
    """`llama-mtp serve` as a child process on a free localhost port."""

    def __init__(self, model: Path, args: Sequence[str], startup_timeout: float = 120.0) -> None:
        cmd = [sys.executable, "-m", "llama_mtp.cli", "--log-level", "none", "serve", "-m", str(model), "--port", "0", *args]
        self.command = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        ready = threading.Event()
        self.url = ""

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                if "listening on " in line and not self.url:
                    self.url = line.split("listening on ", 1)[1].strip()
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(startup_timeout) or not self.url:
            self.stop()
            raise RuntimeError(f"llama-mtp serve did not start: {''.join(self.output)}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--held", type=int, default=6, help="half-sent requests held open all along")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--max-queue", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    model = soak_model()
    expected = expected_answers(model)
    server = Server(
        model,
        [
            "--parallel",
            str(args.parallel),
            "--max-queue",
            str(args.max_queue),
            "-c",
            str(CTX_PER_SLOT),
            "--threads",
            str(args.threads),
        ],
    )
    print(f"server: {' '.join(server.command[1:]).replace(str(model), model.name)}")
    print(
        f"model: tiny dense chat model ({model.name}); {args.clients} client threads, {args.held} held, "
        f"{args.seconds:g} s, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    )
    try:
        report = soak(
            server.url, expected, pid=server.proc.pid, seconds=args.seconds, clients=args.clients, held=args.held, seed=args.seed
        )
    finally:
        status = server.stop()
    tracebacks = "".join(server.output).count("Traceback")
    print(report.table())
    print(f"- server exit status {status}; tracebacks in its output: {tracebacks}")
    for line in report.examples:
        print(f"    {line}")
    failures = report.failures() + ([f"tracebacks in the server's output: {tracebacks}"] if tracebacks else [])
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": str(args.json)}, "report": dataclasses.asdict(report), "failures": failures},
                indent=1,
            )
        )
    for f in failures:
        print(f"FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

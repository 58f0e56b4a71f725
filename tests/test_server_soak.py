"""A short run of benchmarks/bench_soak.py's soak in the suite: concurrent clients against a
`llama-mtp serve` child process mixing exact greedy requests (checked against generate() and
chat()), dropped streams, invalid bodies, raw garbage and half-sent requests held open, on a
queue small enough to fill. Every wait is bounded: a hang fails the test, not the run."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from server_helpers import ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from bench_soak import KINDS, SoakReport, expected_answers, soak, soak_model  # noqa: E402

SECONDS = 12.0


def test_the_server_holds_under_abuse(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = soak_model(tmp_path_factory.mktemp("soak"))
    expected = expected_answers(path)
    # 2 slots and 1 queued for 4 clients: the queue fills, so invalid bodies also meet a full one
    server = ServerProcess(path, "-np", "2", "--max-queue", "1", "-c", "2048")
    result: list[SoakReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(
                soak(server.url, expected, pid=server.proc.pid, seconds=SECONDS, clients=4, held=2, timeout=30, hang_grace=30)
            )
        except BaseException as e:  # handed to the test's thread
            errors.append(e)

    try:
        t = threading.Thread(target=run, name="soak", daemon=True)
        t.start()
        t.join(SECONDS + 150)  # the soak's own bounds are shorter: this only catches a hang in it
        assert not t.is_alive(), "the soak hung"
        if errors:
            raise errors[0]
    finally:
        clean = server.stop()
    (report,) = result
    print(report.table())
    assert report.failures() == [], report.failures() + report.examples
    assert clean, "".join(server.output)  # no traceback in the server's log, a clean shutdown
    assert all(report.sent.get(k, 0) > 0 for k in KINDS), report.sent
    assert sum(report.ok.get(k, 0) for k in ("completion", "chat", "stream")) > 0, report.ok
    assert report.ok.get("invalid", 0) == report.sent["invalid"]

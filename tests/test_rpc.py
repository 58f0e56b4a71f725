"""ggml's RPC backend (src/bindings/rpc_server.cpp, src/engine/rpc.cpp, Model(rpc_servers=)):
layers on `llama-mtp rpc-server` workers started as child processes on free localhost ports.
The failure cases (unreachable, not an RPC server, another protocol version, a worker killed
mid-generation) run in child processes too, so that an abort would fail the test rather than
end the run."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from child import run_child
from server_helpers import ServerProcess

import llama_mtp
from llama_mtp.rpc import LocalRpcServer
from llama_mtp.testing import tiny_mtp_model

PROMPT = "The story begins:"


@pytest.fixture(scope="module")
def workers() -> Iterator[list[LocalRpcServer]]:
    with LocalRpcServer(n_threads=1) as a, LocalRpcServer(n_threads=1) as b:
        yield [a, b]


@pytest.fixture(scope="session")
def deep_path(model_dir: Path, kind: str) -> Path:
    """8 layers, so that a split leaves layers on the CPU and on both workers."""
    return tiny_mtp_model(model_dir / f"tiny-{kind}-8l.gguf", kind=kind, n_layer=8)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_build_has_rpc() -> None:
    assert llama_mtp.build_info()["rpc"] is True
    assert "RPC" in llama_mtp.build_info()["backends"]


@pytest.mark.parametrize(
    "servers",
    [
        ["localhost"],
        ["127.0.0.1:"],
        [":50052"],
        ["127.0.0.1:0"],
        ["127.0.0.1:65536"],
        ["127.0.0.1:50a"],
        ["127.0.0.1:1 "],
        ["127.0.0.1:50052", "127.0.0.1:50052"],
        [f"127.0.0.1:{p}" for p in range(1, 18)],
    ],
)
def test_bad_endpoints_are_refused_before_connecting(dense_path: Path, servers: list[str]) -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.Model(dense_path, rpc_servers=servers)


@pytest.mark.parametrize("servers", ["127.0.0.1:50052", b"127.0.0.1:50052", [50052], 50052])
def test_rpc_servers_must_be_a_list_of_str(dense_path: Path, servers: object) -> None:
    with pytest.raises(TypeError, match="rpc_servers"):
        llama_mtp.Model(dense_path, rpc_servers=servers)  # type: ignore[arg-type]


@pytest.mark.parametrize("split", [[float("nan")], [-1.0], [0.0, 0.0], [1.0] * 17])
def test_bad_tensor_split(dense_path: Path, split: list[float]) -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError, match="tensor_split"):
        llama_mtp.Model(dense_path, tensor_split=split)


def test_local_model_devices(dense_model: llama_mtp.Model) -> None:
    (cpu,) = dense_model.devices
    assert cpu["name"] == "CPU" and cpu["rpc_endpoint"] is None and cpu["output"] is True
    assert cpu["layers"] == list(range(dense_model.n_layer)) and cpu["weight_bytes"] > 0
    assert dense_model.rpc_servers == []


def test_split_over_two_workers_and_the_cpu_matches_local(deep_path: Path, workers: list[LocalRpcServer]) -> None:
    """Greedy output, plain and with MTP (fixed and auto), is token-identical to the all-local run."""
    local = llama_mtp.Model(deep_path)
    endpoints = [w.endpoint for w in workers]
    split = llama_mtp.Model(deep_path, rpc_servers=endpoints, n_gpu_layers=6)
    assert split.rpc_servers == endpoints
    placed = {d["rpc_endpoint"] or d["name"]: d for d in split.devices}
    assert set(placed) == {"CPU", *endpoints}
    for d in placed.values():
        assert d["layers"] and d["weight_bytes"] > 0, placed
    layers = sorted(i for d in placed.values() for i in d["layers"])
    assert layers == list(range(split.n_layer))
    assert placed["CPU"]["layers"] == list(range(len(placed["CPU"]["layers"])))  # the first layers stay local
    for kwargs in ({"draft": "none"}, {"n_draft_max": 3}, {"n_draft_max": "adaptive"}):
        want = llama_mtp.generate(local, PROMPT, max_tokens=24, ignore_eos=True, **kwargs)  # type: ignore[arg-type]
        got = llama_mtp.generate(split, PROMPT, max_tokens=24, ignore_eos=True, **kwargs)  # type: ignore[arg-type]
        assert got.tokens == want.tokens, kwargs
        if kwargs.get("draft") != "none":
            assert got.stats is not None and got.stats.accepted_tokens > 0


def test_every_layer_on_one_worker(dense_path: Path, workers: list[LocalRpcServer]) -> None:
    """n_gpu_layers=None with rpc_servers: every layer and the output on the worker."""
    local = llama_mtp.Model(dense_path)
    remote = llama_mtp.Model(dense_path, rpc_servers=[workers[0].endpoint])
    (only,) = [d for d in remote.devices if d["layers"]]
    assert only["rpc_endpoint"] == workers[0].endpoint and only["output"]
    want = llama_mtp.generate(local, [PROMPT, "Once"], max_tokens=12, n_draft_max=2)
    got = llama_mtp.generate(remote, [PROMPT, "Once"], max_tokens=12, n_draft_max=2)
    assert [g.tokens for g in got] == [g.tokens for g in want]
    # the batch-invariant kernels are the local CPU's: exact mode refuses remote layers
    with pytest.raises(llama_mtp.InvalidArgumentError, match="exact=True needs every layer on the local CPU"):
        llama_mtp.generate(remote, PROMPT, max_tokens=4, exact=True)


def test_the_server_refuses_exact_off_the_local_cpu(dense_path: Path, workers: list[LocalRpcServer]) -> None:
    import httpx

    s = ServerProcess(dense_path, "-np", "1", "-c", "256", "--rpc", workers[0].endpoint)
    try:
        r = httpx.post(s.url + "/v1/completions", json={"prompt": PROMPT, "max_tokens": 2, "exact": True}, timeout=60)
        assert r.status_code == 400 and r.json()["error"]["param"] == "exact", r.text
        assert "needs every layer on the local CPU" in r.json()["error"]["message"]
        r = httpx.post(s.url + "/v1/completions", json={"prompt": PROMPT, "max_tokens": 2}, timeout=60)
        assert r.status_code == 200, r.text
    finally:
        assert s.stop(), "".join(s.output)
    # and serve --exact refuses to start there, in one line
    cmd = [
        sys.executable,
        "-m",
        "llama_mtp.cli",
        "--log-level",
        "none",
        "serve",
        "-m",
        str(dense_path),
        "--port",
        "0",
        "--rpc",
        workers[0].endpoint,
        "--exact",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "exact=True needs every layer on the local CPU" in out.stderr
    assert "Traceback" not in out.stderr


def test_tensor_split_places_layers(deep_path: Path, workers: list[LocalRpcServer]) -> None:
    endpoints = [w.endpoint for w in workers]
    model = llama_mtp.Model(deep_path, rpc_servers=endpoints, n_gpu_layers=-1, tensor_split=[0.0, 1.0])
    on = {d["rpc_endpoint"]: d["layers"] for d in model.devices if d["layers"]}
    assert on == {endpoints[1]: list(range(model.n_layer))}


def test_unreachable_server_is_a_model_load_error(dense_path: Path) -> None:
    out = run_child(
        """
        port = int(sys.argv[2])
        try:
            L.Model(sys.argv[1], rpc_servers=[f"127.0.0.1:{port}"])
        except L.ModelLoadError as e:
            print("ModelLoadError", e.endpoint, e)
    """,
        str(dense_path),
        str(free_port()),
        timeout=60,
    )
    assert out.startswith("ModelLoadError 127.0.0.1:") and "cannot connect" in out


def recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def fake_server(reply: bytes) -> tuple[int, threading.Thread]:
    """A one-shot server: reads the client's first command, sends `reply`, closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            header = recv_exactly(conn, 9)  # command byte, payload size
            recv_exactly(conn, int.from_bytes(header[1:], "little"))
            conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return int(listener.getsockname()[1]), thread


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "handshake failed"),
        (b"", "handshake failed"),
        # a HELLO reply (28 bytes: version 6.0.0, padding, 24 capability bytes) from an older server
        ((28).to_bytes(8, "little") + bytes([6, 0, 0, 0]) + bytes(24), "version mismatch: the server speaks 6.0.0"),
    ],
)
def test_not_an_rpc_server_or_another_version(dense_path: Path, reply: bytes, expected: str) -> None:
    port, thread = fake_server(reply)
    out = run_child(
        """
        try:
            L.Model(sys.argv[1], rpc_servers=[sys.argv[2]])
        except L.ModelLoadError as e:
            print(type(e).__name__, e.endpoint, e)
    """,
        str(dense_path),
        f"127.0.0.1:{port}",
        timeout=60,
    )
    thread.join(timeout=10)
    assert out.startswith(f"ModelLoadError 127.0.0.1:{port}") and expected in out, out


KILL_MID_GENERATION = """
    import time
    from llama_mtp.rpc import LocalRpcServer
    path, kind = sys.argv[1], sys.argv[2]
    with LocalRpcServer(n_threads=1) as a, LocalRpcServer(n_threads=1) as b:
        model = L.Model(path, rpc_servers=[a.endpoint, b.endpoint], n_gpu_layers=6)
        s = L.stream(model, "The story begins:", max_tokens=200, n_draft_max=3, ignore_eos=True)
        pieces = 0
        try:
            for _ in s:
                pieces += 1
                if pieces == 3:
                    b.kill()  # as a crash would: the socket closes under the client
                    killed = time.monotonic()
        except L.RpcError as e:
            assert isinstance(e, ConnectionError)
            print("RpcError", e.endpoint == b.endpoint, round(time.monotonic() - killed, 3), pieces < 200)
        # the model stays unusable, with the same typed error, and closes cleanly
        for attempt in (lambda: L.generate(model, "again", max_tokens=4),
                        lambda: L.Context(model, n_ctx=256)):
            try:
                attempt()
            except L.RpcError as e:
                print("again RpcError", e.endpoint == b.endpoint)
        model.close()
        # the surviving worker serves a new model
        del model, s
        import gc; gc.collect()
        fresh = L.Model(path, rpc_servers=[a.endpoint], n_gpu_layers=-1)
        print("fresh", len(L.generate(fresh, "again", max_tokens=4, ignore_eos=True).tokens))
"""


def test_worker_killed_mid_generation_is_an_rpc_error(deep_path: Path, kind: str) -> None:
    out = run_child(KILL_MID_GENERATION, str(deep_path), kind, timeout=120).split("\n")
    first = out[0].split()
    assert first[0] == "RpcError" and first[1] == "True" and first[3] == "True", out
    assert float(first[2]) < 10.0  # seconds from the kill to the error: no hang
    assert out[1:4] == ["again RpcError True", "again RpcError True", "fresh 4"], out


def test_worker_killed_between_load_and_use(dense_path: Path) -> None:
    out = run_child(
        """
        from llama_mtp.rpc import LocalRpcServer
        with LocalRpcServer(n_threads=1) as a:
            model = L.Model(sys.argv[1], rpc_servers=[a.endpoint])
            a.kill()
            for attempt in (lambda: L.Context(model, n_ctx=256), lambda: L.generate(model, "x", max_tokens=2)):
                try:
                    attempt()
                except L.RpcError as e:
                    print("RpcError", e.endpoint == a.endpoint)
    """,
        str(dense_path),
        timeout=60,
    )
    assert out.split("\n")[:2] == ["RpcError True", "RpcError True"]


def rpc_server_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "llama_mtp.cli", "rpc-server", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_cli_port_in_use_is_an_error() -> None:
    with socket.socket() as taken:
        if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: else SO_REUSEADDR may bind it again
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        proc = rpc_server_cli("--port", str(taken.getsockname()[1]), "-t", "1")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "llama-mtp rpc-server: error: the RPC server could not listen on 127.0.0.1:" in err


def test_cli_warns_when_not_bound_to_127_0_0_1() -> None:
    proc = rpc_server_cli("--host", "localhost", "--port", str(free_port()), "-t", "1")
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline() for _ in range(4)]
    finally:
        proc.kill()
        proc.communicate()
    assert "WARNING: Host ('localhost') is != '127.0.0.1'" in "".join(lines)
    assert "Never expose the RPC server to an open network!" in "".join(lines)


@pytest.mark.parametrize("args", [["--port", "0"], ["--port", "70000"], ["--threads", "0"], ["--host", "nohost:"]])
def test_cli_bad_options(args: list[str]) -> None:
    proc = rpc_server_cli(*args)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (1, 2) and "error" in err


def test_serve_rpc_arguments() -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError, match="port"):
        llama_mtp._core.serve_rpc("127.0.0.1", 0)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="n_threads"):
        llama_mtp._core.serve_rpc("127.0.0.1", 50052, n_threads=0)


def test_cli_generate_with_rpc(dense_path: Path) -> None:
    """`llama-mtp generate --rpc`: layers on a worker, the same text as the local run; an
    unreachable worker is a one-line error naming it."""

    def generate(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "llama_mtp.cli",
                "generate",
                "-m",
                str(dense_path),
                "-p",
                PROMPT,
                "-n",
                "16",
                "--no-mtp",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    local = generate()
    with LocalRpcServer(n_threads=1) as worker:
        remote = generate("--rpc", worker.endpoint)
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout and local.stdout.strip()
    port = free_port()
    failed = generate("--rpc", f"127.0.0.1:{port}")
    assert failed.returncode == 1
    assert f"llama-mtp generate: error: RPC server 127.0.0.1:{port}: cannot connect" in failed.stderr


@pytest.mark.parametrize("kwargs", [{"handshake": 0.0}, {"reply": -1.0}, {"reply": float("nan")}, {"handshake": 1e9}])
def test_bad_timeouts(kwargs: dict[str, float]) -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.rpc.set_rpc_timeouts(**kwargs)


def test_busy_worker_is_a_model_load_error_after_the_handshake_timeout(dense_path: Path) -> None:
    """A worker serves one client at a time: a second client's load gives up after the
    handshake timeout instead of waiting for the first one to leave."""
    with LocalRpcServer(n_threads=1) as worker:
        holder = llama_mtp.Model(dense_path, rpc_servers=[worker.endpoint])  # this process's connection
        out = run_child(
            """
            import time
            from llama_mtp.rpc import set_rpc_timeouts
            set_rpc_timeouts(handshake=1.0)
            t0 = time.monotonic()
            try:
                L.Model(sys.argv[1], rpc_servers=[sys.argv[2]])
            except L.ModelLoadError as e:
                print("ModelLoadError", round(time.monotonic() - t0, 1), e)
        """,
            str(dense_path),
            worker.endpoint,
            timeout=60,
        )
        holder.close()
    assert out.startswith("ModelLoadError") and "no handshake reply within 1 s" in out, out
    assert float(out.split()[1]) < 5.0


@pytest.mark.skipif(sys.platform == "win32", reason="stopping a process with SIGSTOP is POSIX")
def test_stopped_worker_is_an_rpc_error_after_the_reply_timeout(dense_path: Path) -> None:
    """A worker that stops answering without closing the connection (a frozen machine, a cut
    network) fails the step after the reply timeout."""
    out = run_child(
        """
        import signal, time
        from llama_mtp.rpc import LocalRpcServer, set_rpc_timeouts
        set_rpc_timeouts(reply=1.0)
        with LocalRpcServer(n_threads=1) as worker:
            model = L.Model(sys.argv[1], rpc_servers=[worker.endpoint])
            s = L.stream(model, "The story begins:", max_tokens=200, n_draft_max=2, ignore_eos=True)
            try:
                for i, _ in enumerate(s):
                    if i == 2:
                        os.kill(worker.process.pid, signal.SIGSTOP)
                        stopped = time.monotonic()
            except L.RpcError as e:
                print("RpcError", round(time.monotonic() - stopped, 1), e)
            os.kill(worker.process.pid, signal.SIGCONT)
    """,
        str(dense_path),
        timeout=60,
    )
    assert out.startswith("RpcError") and "no reply within 1 s" in out, out
    assert float(out.split()[1]) < 5.0


def test_cli_serve_with_rpc(dense_path: Path) -> None:
    """`llama-mtp serve --rpc`: every layer on a worker; a greedy completion equals generate()
    on the local model."""
    import httpx
    from server_helpers import ServerProcess

    want = llama_mtp.generate(llama_mtp.Model(dense_path), PROMPT, max_tokens=12, ignore_eos=True)
    with LocalRpcServer(n_threads=1) as worker:
        server = ServerProcess(dense_path, "-c", "256", "-np", "1", "--rpc", worker.endpoint)
        try:
            reply = httpx.post(
                f"{server.url}/v1/completions",
                timeout=60,
                json={"prompt": PROMPT, "max_tokens": 12, "ignore_eos": True, "temperature": 0},
            )
        finally:
            assert server.stop()
    assert reply.status_code == 200 and reply.json()["choices"][0]["text"] == want.text

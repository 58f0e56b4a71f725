#!/usr/bin/env python3
"""A bounded load test of `llama-mtp serve` against upstream's llama-server, on localhost only.

    python benchmarks/bench_server.py [--clients 1,4,8] [--seconds 10] [--rounds 2]
        [--max-tokens 64] [--threads 2] [--acceptance 0.9] [--json out.json]

For each number of concurrent clients N, each round starts every arm's server in turn (the
order alternates between rounds), runs N clients against it for a fixed time and stops it:

- ours auto:      llama-mtp serve -np N (continuous batching, MTP, n_draft_max "auto")
- ours 3:         the same with --n-draft-max 3
- ours plain:     the same with --no-mtp
- ours serial:    llama-mtp serve -np 1 --n-draft-max auto (one request at a time)
- upstream 3:     llama-server -np N --spec-type draft-mtp --spec-draft-n-max 3
- upstream plain: llama-server -np N

Each client loops: a streamed /v1/completions request (greedy, max_tokens tokens, a prompt of
its own), timed to its first text (TTFT) and its end; after --seconds no new request starts and
those in flight finish. Reported per arm: requests completed, errors, lost (started, neither
completed nor failed), p50/p99 latency and TTFT, and aggregate tokens/s = completion tokens of
all finished requests / the wall time of the run. Ratios are medians of per-round ratios.
llama-server is built from the same pinned tree with upstream's defaults
(benchmarks/build_upstream.py --server); the command is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_upstream import ROOT, build_server, server_configure_command  # noqa: E402

from llama_mtp.testing import tiny_mtp_model  # noqa: E402

SHAPE = dict(n_embd=1024, n_layer=8, n_vocab=4096)
CTX_PER_SLOT = 1024


def arm_commands(model: Path, n: int, threads: int, server_bin: Path) -> dict[str, list[str]]:
    ours = [
        sys.executable,
        "-m",
        "llama_mtp.cli",
        "--log-level",
        "none",
        "serve",
        "-m",
        str(model),
        "--port",
        "0",
        "-t",
        str(threads),
        "-c",
        str(CTX_PER_SLOT),
        "--max-queue",
        "256",
    ]
    up = [
        str(server_bin),
        "-m",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "-t",
        str(threads),
        "-np",
        str(n),
        "-c",
        str(CTX_PER_SLOT * n),
        "--no-webui",
        "-lv",
        "0",
    ]
    return {
        "ours auto": ours + ["-np", str(n)],
        "ours 3": ours + ["-np", str(n), "--n-draft-max", "3"],
        "ours plain": ours + ["-np", str(n), "--no-mtp"],
        "ours serial": ours + ["-np", "1"],
        "upstream 3": up + ["--spec-type", "draft-mtp", "--spec-draft-n-max", "3"],
        "upstream plain": up,
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, cmd: list[str]) -> None:
        env = dict(os.environ, LD_LIBRARY_PATH=str(Path(cmd[0]).parent))
        port = free_port()
        self.ours = "{port}" not in cmd
        cmd = [c.replace("{port}", str(port)) for c in cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        if self.ours:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if "listening on " in line:
                    self.url = line.split("listening on ", 1)[1].strip()
                    break
            else:
                raise RuntimeError("llama-mtp serve did not start")
        else:
            self.url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)  # readiness poll of a program that prints no ready line
            else:
                raise RuntimeError("llama-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def load(url: str, clients: int, seconds: float, max_tokens: int) -> dict[str, Any]:
    latencies: list[float] = []
    ttfts: list[float] = []
    tokens = 0
    started = errors = 0
    why: dict[str, int] = {}
    t0 = time.perf_counter()
    t_last = t0

    async def client(c: int) -> None:
        nonlocal tokens, started, errors, t_last
        k = 0
        async with httpx.AsyncClient(base_url=url, timeout=300) as http:
            while time.perf_counter() - t0 < seconds:
                k += 1
                started += 1
                body = {
                    "prompt": f"Client {c} asks question {k}: once upon a time",
                    "max_tokens": max_tokens,
                    "temperature": 0,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                }
                t_req = time.perf_counter()
                t_first = None
                usage = None
                try:
                    async with http.stream("POST", "/v1/completions", json=body) as r:
                        if r.status_code != 200:
                            errors += 1
                            reason = f"HTTP {r.status_code}: {(await r.aread())[:120]!r}"
                            why[reason] = why.get(reason, 0) + 1
                            continue
                        async for line in r.aiter_lines():
                            if not line.startswith("data: ") or line == "data: [DONE]":
                                continue
                            chunk = json.loads(line[6:])
                            if chunk.get("usage"):
                                usage = chunk["usage"]
                            if t_first is None and any(ch.get("text") for ch in chunk.get("choices", [])):
                                t_first = time.perf_counter()
                except httpx.HTTPError as e:
                    errors += 1
                    why[type(e).__name__] = why.get(type(e).__name__, 0) + 1
                    continue
                t_end = time.perf_counter()
                if usage is None or t_first is None:
                    errors += 1
                    reason = "no usage chunk" if usage is None else "no text"
                    why[reason] = why.get(reason, 0) + 1
                    continue
                tokens += int(usage["completion_tokens"])
                latencies.append(t_end - t_req)
                ttfts.append(t_first - t_req)
                t_last = max(t_last, t_end)

    await asyncio.gather(*(client(c) for c in range(clients)))
    wall = t_last - t0

    def q(xs: list[float], p: float) -> float:
        return statistics.quantiles(xs, n=100, method="inclusive")[int(p) - 1] if len(xs) > 1 else (xs or [0.0])[0]

    done = len(latencies)
    return {
        "completed": done,
        "errors": errors,
        "why": why,
        "lost": started - done - errors,
        "tokens": tokens,
        "tokens_per_s": tokens / wall if wall > 0 else 0.0,
        "latency_p50": q(latencies, 50),
        "latency_p99": q(latencies, 99),
        "ttft_p50": q(ttfts, 50),
        "ttft_p99": q(ttfts, 99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--acceptance", type=float, default=0.9)
    parser.add_argument("--arms", default=None, help="comma-separated subset of the arms")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    server_bin = build_server()
    model = tiny_mtp_model(acceptance=args.acceptance, **SHAPE)  # type: ignore[arg-type]
    print(f"llama-server: {' '.join(server_configure_command()).replace(str(ROOT) + '/', '')}")
    print(
        f"model: tiny dense {SHAPE}, acceptance {args.acceptance}; {args.max_tokens} tokens per request, "
        f"{args.seconds:g} s per run, {args.threads} threads, {platform.processor() or platform.machine()}"
    )
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for n in (int(c) for c in args.clients.split(",")):
        commands = arm_commands(model, n, args.threads, server_bin)
        names = [a for a in commands if args.arms is None or a in args.arms.split(",")]
        per_arm: dict[str, list[dict[str, Any]]] = {a: [] for a in names}
        for r in range(args.rounds):
            for arm in names if r % 2 == 0 else names[::-1]:
                server = Server(commands[arm])
                try:
                    run = asyncio.run(load(server.url, n, args.seconds, args.max_tokens))
                    if server.ours:  # the draft lengths "auto" chose, from /metrics
                        run["draft_lengths"] = chosen_lengths(httpx.get(server.url + "/metrics").text)
                    per_arm[arm].append(run)
                finally:
                    server.stop()
        results[str(n)] = per_arm
        report(n, per_arm)
    if args.json:
        args.json.write_text(
            json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results}, indent=1, default=str)
        )
    return 0


def chosen_lengths(metrics: str) -> dict[str, float]:
    counts = {}
    for line in metrics.splitlines():
        if line.startswith("llama_mtp_draft_length_steps_total{"):
            counts[line.split('"')[1]] = float(line.rsplit(" ", 1)[1])
    total = sum(counts.values())
    return {k: round(v / total, 3) for k, v in counts.items() if v} if total else {}


def report(n: int, per_arm: dict[str, list[dict[str, Any]]]) -> None:
    print(f"\n{n} concurrent client(s)")
    print(
        f"{'arm':16} {'done':>5} {'err':>4} {'lost':>4} {'tok/s':>8} {'vs up3':>7} {'lat p50':>8} {'lat p99':>8}"
        f" {'ttft p50':>9} {'ttft p99':>9}"
    )
    ref = per_arm.get("upstream 3")
    for arm, runs in per_arm.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], (int, float))}
        ratio = (
            statistics.median(a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(runs, ref, strict=True))
            if ref
            else float("nan")
        )
        print(
            f"{arm:16} {sum(r['completed'] for r in runs):5d} {sum(r['errors'] for r in runs):4d} "
            f"{sum(r['lost'] for r in runs):4d} {med['tokens_per_s']:8.1f} {ratio:7.2f} "
            f"{med['latency_p50']:8.3f} {med['latency_p99']:8.3f} {med['ttft_p50']:9.3f} {med['ttft_p99']:9.3f}"
            f"  {' '.join(f'{k}:{v:.0%}' for k, v in runs[-1].get('draft_lengths', {}).items())}"
        )
        for r in runs:
            for reason, count in r["why"].items():
                print(f"    {arm} error: {count}x {reason}")


if __name__ == "__main__":
    sys.exit(main())

"""Upstream's side of bench_rpc.py: its own rpc-server workers and its own programs with
--rpc, built by build_upstream.py --rpc (upstream's defaults plus -DGGML_RPC=ON)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from bench_mtp import run_and_parse


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(bin_dir: Path) -> dict[str, str]:
    return {**os.environ, "LD_LIBRARY_PATH": str(bin_dir)}


class UpstreamWorker:
    """upstream's ggml-rpc-server (tools/rpc) on a free localhost port, as long as the with-block runs."""

    def __init__(self, bin_dir: Path, threads: int) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen([str(bin_dir / "ggml-rpc-server"), "-p", str(self.port), "-t", str(threads)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(bin_dir))
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("upstream rpc-server did not start") from None
                time.sleep(0.05)  # polling a port that is not open yet, with a deadline

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> UpstreamWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


def upstream_speed(bin_dir: Path, model: Path, prompt: str, n: int, threads: int, mtp: bool,
                   endpoints: list[str]) -> float:
    """Decode tokens/s of llama-completion (plain; its "eval time" counter) or
    llama-speculative-simple (draft-mtp, 3 drafted; its "decoded ... speed" line), with every
    layer on `endpoints` (upstream's --rpc -ngl 99) or all local."""
    rpc = ["--rpc", ",".join(endpoints), "-ngl", "99"] if endpoints else []
    common = ["-m", str(model), "-p", prompt, "-n", str(n), "-t", str(threads), "-tb", str(threads),
              "--temp", "0", "-c", "2048", *rpc]
    if mtp:
        cmd = [str(bin_dir / "llama-speculative-simple"), *common, "-td", str(threads), "-tbd", str(threads),
               "--spec-type", "draft-mtp", "--spec-draft-n-max", "3"]
        m = run_and_parse(cmd, r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds, speed:\s+([\d.]+) t/s", env=_env(bin_dir))
        return float(m.group(3))
    cmd = [str(bin_dir / "llama-completion"), *common, "-no-cnv", "--no-warmup", "--ignore-eos"]
    m = run_and_parse(cmd, r"\beval time =\s*[\d.]+ ms /\s*(\d+) runs.*?([\d.]+) tokens per second", env=_env(bin_dir))
    return float(m.group(2))

"""Upstream's side of bench_rpc.py: its own rpc-server workers and its own programs with
--rpc, built by build_upstream.py --rpc (upstream's defaults plus -DGGML_RPC=ON)."""

from __future__ import annotations

import os
from pathlib import Path

from bench_mtp import run_and_parse

from llama_mtp.rpc import LocalRpcServer


def _env(bin_dir: Path) -> dict[str, str]:
    return {**os.environ, "LD_LIBRARY_PATH": str(bin_dir)}


class UpstreamWorker(LocalRpcServer):
    """upstream's ggml-rpc-server (tools/rpc) on a free localhost port, as long as the
    with-block runs."""

    def __init__(self, bin_dir: Path, threads: int) -> None:
        super().__init__(n_threads=threads)
        self.bin_dir = bin_dir

    def _command(self) -> list[str]:
        return [str(self.bin_dir / "ggml-rpc-server"), "-p", str(self.port), "-t", str(self.n_threads)]

    def _env(self) -> dict[str, str]:
        return _env(self.bin_dir)


def upstream_speed(bin_dir: Path, model: Path, prompt: str, n: int, threads: int, mtp: bool, endpoints: list[str]) -> float:
    """Decode tokens/s of llama-completion (plain; its "eval time" counter) or
    llama-speculative-simple (draft-mtp, 3 drafted; its "decoded ... speed" line), with every
    layer on `endpoints` (upstream's --rpc -ngl 99) or all local."""
    rpc = ["--rpc", ",".join(endpoints), "-ngl", "99"] if endpoints else []
    common = [
        "-m",
        str(model),
        "-p",
        prompt,
        "-n",
        str(n),
        "-t",
        str(threads),
        "-tb",
        str(threads),
        "--temp",
        "0",
        "-c",
        "2048",
        *rpc,
    ]
    if mtp:
        cmd = [
            str(bin_dir / "llama-speculative-simple"),
            *common,
            "-td",
            str(threads),
            "-tbd",
            str(threads),
            "--spec-type",
            "draft-mtp",
            "--spec-draft-n-max",
            "3",
        ]
        m = run_and_parse(cmd, r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds, speed:\s+([\d.]+) t/s", env=_env(bin_dir))
        return float(m.group(3))
    cmd = [str(bin_dir / "llama-completion"), *common, "-no-cnv", "--no-warmup", "--ignore-eos"]
    m = run_and_parse(cmd, r"\beval time =\s*[\d.]+ ms /\s*(\d+) runs.*?([\d.]+) tokens per second", env=_env(bin_dir))
    return float(m.group(2))

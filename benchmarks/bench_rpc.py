#!/usr/bin/env python3
"""The cost of ggml's RPC transport: tokens/s with every layer local, on one RPC server and
split over two, plain decoding and MTP, on localhost only.

    python benchmarks/bench_rpc.py [--rounds 5] [--max-tokens 128] [--threads 2] [--json out.json]
        [--no-gemma] [--no-upstream] [--passive-workers]

Two `llama-mtp rpc-server` workers run as child processes on free localhost ports. One
process (this one) loads each model three ways: all local; n_gpu_layers=-1 onto worker A;
n_gpu_layers=-1 split over A and B (by their free memory, i.e. evenly). Each round runs every
arm once, in an order that alternates between rounds, and records generate()'s decode
tokens/s (greedy, ignore_eos). Reported: medians over rounds and the median of per-round
ratios to the all-local arm of the same decoding. The client and both workers share this
machine's cores, so the numbers are the transport's cost on localhost (serialization, TCP
round trips), not the speed of a real multi-machine setup.

Upstream's side (unless --no-upstream): the same three placements with upstream's own
programs and workers, built from the same pinned tree as upstream's RPC docs say
(benchmarks/build_upstream.py --rpc: `cmake -S build/upstream-src -B build/upstream-rpc
-DCMAKE_BUILD_TYPE=Release -DGGML_RPC=ON`): `ggml-rpc-server -t T` workers, `llama-completion
--rpc A[,B] -ngl 99` (its decode-only "eval time") for plain decoding and
`llama-speculative-simple --spec-type draft-mtp --spec-draft-n-max 3 --rpc ... -ngl 99` for
MTP. These arms run in the same rounds; "/ upstream" is the median per-round ratio of ours to
upstream's at the same placement and decoding.

Models: the demo's tiny synthesized MTP models (dense and hybrid, n_embd 1024, 8 layers,
acceptance 0.9) for plain and MTP (n_draft_max 3), and Gemma-3 270M Q4_K_M (no MTP layers,
fetched by benchmarks/real_model.py) for plain decoding. Before timing, every RPC arm's greedy
output is checked against a local model loaded with repack=False (workers run weights as
stored; the local CPU backend repacks quantized weights for other kernels by default).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

import llama_mtp
from llama_mtp import Model, generate
from llama_mtp.rpc import LocalRpcServer
from llama_mtp.testing import tiny_mtp_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_upstream import build_rpc, rpc_configure_command  # noqa: E402
from upstream_rpc import UpstreamWorker, upstream_speed  # noqa: E402

PLACEMENTS = ("local", "rpc x1", "rpc x2")
PROMPT = "The story begins:"


def load(path: Path, placement: str, workers: list[LocalRpcServer]) -> Model:
    if placement == "local":
        return Model(path)
    servers = [w.endpoint for w in workers[: 1 if placement == "rpc x1" else 2]]
    return Model(path, rpc_servers=servers, n_gpu_layers=-1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2, help="threads of the client and of each worker")
    ap.add_argument("--no-gemma", action="store_true", help="skip the real model (no download)")
    ap.add_argument(
        "--no-upstream", action="store_true", help="skip upstream's arms (its programs with --rpc and its own rpc-server workers)"
    )
    ap.add_argument(
        "--passive-workers",
        action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE for the workers: their idle threads sleep instead of spinning",
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    models: dict[str, tuple[Path, bool]] = {
        "tiny dense": (tiny_mtp_model(kind="dense", n_embd=1024, n_layer=8, n_vocab=4096, acceptance=0.9), True),
        "tiny hybrid": (tiny_mtp_model(kind="hybrid", n_embd=1024, n_layer=8, n_vocab=4096, acceptance=0.9), True),
    }
    if not args.no_gemma:
        from real_model import gemma_270m

        models["gemma-3 270m q4_k_m"] = (gemma_270m(), False)

    speeds: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {}
    placements: dict[str, Any] = {}
    identical: dict[str, dict[str, bool]] = {}
    vs_upstream: dict[str, list[float]] = {}
    if args.passive_workers:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # read by the workers' OpenMP runtime, not ours (loaded)
    upstream_bin = None if args.no_upstream else build_rpc()
    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(LocalRpcServer(n_threads=args.threads)) for _ in range(2)]
        theirs: list[str] = []
        if upstream_bin is not None:
            theirs = [stack.enter_context(UpstreamWorker(upstream_bin, args.threads)).endpoint for _ in range(2)]
        sides = ["ours"] + (["upstream"] if upstream_bin is not None else [])
        for name, (path, has_mtp) in models.items():
            loaded = {p: load(path, p, workers) for p in PLACEMENTS}
            placements[name] = {p: [(d["name"], d["layers"], d["weight_bytes"]) for d in m.devices] for p, m in loaded.items()}
            decodings = ["plain", "mtp 3"] if has_mtp else ["plain"]
            common = dict(max_tokens=args.max_tokens, ignore_eos=True, n_threads=args.threads)
            # the workers' CPU backend runs the weights as stored; the local CPU may repack them
            # for other kernels (repack=True, the default), which can round differently: the
            # outputs must agree with a local model that does not repack
            unpacked = Model(path, repack=False)
            for d in decodings:
                want = generate(unpacked, PROMPT, mtp=d != "plain", n_draft_max=3, **common)
                assert isinstance(want, llama_mtp.Generation)
                for p, m in loaded.items():  # also the warm-up
                    g = generate(m, PROMPT, mtp=d != "plain", n_draft_max=3, **common)
                    assert isinstance(g, llama_mtp.Generation)
                    identical.setdefault(name, {})[f"{d} | {p}"] = g.tokens == want.tokens
                    if p != "local" and g.tokens != want.tokens:
                        raise SystemExit(f"{name}: {p} {d} generated other tokens than local (repack=False)")
            unpacked.close()

            def speed(
                side: str, p: str, d: str, path: Path = path, loaded: dict[str, Model] = loaded, common: dict[str, Any] = common
            ) -> float:
                if side == "upstream":
                    assert upstream_bin is not None
                    endpoints = {"local": [], "rpc x1": theirs[:1], "rpc x2": theirs}[p]
                    return upstream_speed(upstream_bin, path, PROMPT, args.max_tokens, args.threads, d != "plain", endpoints)
                g = generate(loaded[p], PROMPT, mtp=d != "plain", n_draft_max=3, **common)
                assert isinstance(g, llama_mtp.Generation)
                return g.tokens_per_s

            for r in range(args.rounds):
                order = [(side, p, d) for side in sides for p in PLACEMENTS for d in decodings]
                per_round: dict[str, float] = {}
                for side, p, d in order if r % 2 == 0 else reversed(order):
                    key = f"{name} | {d} | {p} | {side}"
                    per_round[key] = speed(side, p, d)
                    speeds.setdefault(key, []).append(per_round[key])
                for key, value in per_round.items():
                    name_, d, p, side = key.split(" | ")
                    ratios.setdefault(key, []).append(value / per_round[f"{name} | {d} | local | {side}"])
                    if side == "ours" and "upstream" in sides:
                        vs_upstream.setdefault(key, []).append(value / per_round[f"{name} | {d} | {p} | upstream"])
                print(f"{name}: round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
            for m in loaded.values():
                m.close()
            del loaded

    print(
        f"\n{args.max_tokens} tokens, {args.rounds} interleaved rounds, client and workers -t {args.threads}"
        f"{' (workers OMP_WAIT_POLICY=PASSIVE)' if args.passive_workers else ''}, "
        f"{platform.processor() or platform.machine()}"
    )
    print(f"{'model':<22} {'decoding':<8} {'placement':<9} {'side':<9} {'tokens/s':>9} {'/ local':>8} {'/ upstream':>11}")
    for key, values in speeds.items():
        name, d, p, side = key.split(" | ")
        if p == "local" and not identical[name][f"{d} | local"]:
            p = "local*"
        vs = f"{statistics.median(vs_upstream[key]):11.2f}" if key in vs_upstream else f"{'':>11}"
        print(f"{name:<22} {d:<8} {p:<9} {side:<9} {statistics.median(values):9.1f} {statistics.median(ratios[key]):8.2f} {vs}")
    if any(not v[k] for v in identical.values() for k in v):
        print(
            "local*: repacked weights (the local default) gave other greedy tokens than the workers, "
            "which run them unpacked; the workers' tokens equal a local repack=False run"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "max_tokens": args.max_tokens,
                    "rounds": args.rounds,
                    "threads": args.threads,
                    "passive_workers": args.passive_workers,
                    "tokens_per_s": speeds,
                    "ratio_to_local": ratios,
                    "ratio_to_upstream": vs_upstream,
                    "placements": placements,
                    "upstream_configure": None
                    if upstream_bin is None
                    else " ".join(rpc_configure_command()).replace(str(Path(__file__).resolve().parent.parent) + "/", ""),
                    "identical_to_local_without_repacking": identical,
                    "build_info": {k: v for k, v in llama_mtp.build_info().items() if k in ("version", "llama_cpp_commit")},
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

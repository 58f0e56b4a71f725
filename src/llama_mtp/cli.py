"""The `llama-mtp` command: demo, generate, info."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from . import Model, __version__, set_log_level
from .generation import Generation, stream
from .testing import tiny_mtp_model

DEMO_MODEL = dict(kind="hybrid", n_embd=1024, n_layer=8, n_vocab=4096, acceptance=0.9, seed=0)


class _Progress:
    """A one-line progress bar on stderr, redrawn only when it changes."""

    def __init__(self, label: str, total: int, width: int = 30) -> None:
        self.label, self.total, self.width, self.shown = label, max(total, 1), width, -1

    def update(self, done: int) -> None:
        filled = self.width * min(done, self.total) // self.total
        if filled == self.shown:
            return
        self.shown = filled
        bar = "#" * filled + "." * (self.width - filled)
        sys.stderr.write(f"\r{self.label:<28} [{bar}] {min(done, self.total)}/{self.total}")
        if filled == self.width:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _run(model: Model, prompt: str, label: str, **kwargs: Any) -> Generation:
    total = int(kwargs.get("max_tokens", 128))
    s = stream(model, prompt, **kwargs)
    bar = _Progress(label, total)
    bar.update(0)
    for _ in s:
        bar.update(len(s.generator.tokens[0]))
    bar.update(total)
    assert isinstance(s.result, Generation)
    return s.result


def _stats_lines(g: Generation) -> list[str]:
    if g.stats is None:
        return []
    per_pos = ", ".join(f"{x:.2f}" for x in g.stats.acceptance_per_position) or "-"
    return [
        f"acceptance per position     {per_pos}",
        f"acceptance rate             {g.stats.acceptance_rate:.3f}",
        f"mean acceptance length      {g.stats.mean_acceptance_length:.2f} tokens per target step",
    ]


def cmd_demo(args: argparse.Namespace) -> int:
    sys.stderr.write("synthesizing (or reusing) the tiny MTP demo model...\n")
    t0 = time.perf_counter()
    path = tiny_mtp_model(**DEMO_MODEL)  # type: ignore[arg-type]
    sys.stderr.write(f"model: {path} ({time.perf_counter() - t0:.1f} s)\n")
    model = Model(str(path))
    common = dict(max_tokens=args.tokens, n_threads=args.threads)
    _run(model, args.prompt, "warm-up", **{**common, "max_tokens": 8, "mtp": False})
    plain = _run(model, args.prompt, "plain decoding", mtp=False, **common)
    spec = _run(model, args.prompt, f"MTP (n_draft_max={args.n_draft_max})", mtp=True, n_draft_max=args.n_draft_max, **common)
    same = plain.tokens == spec.tokens
    print()
    print(f"model                       {model.description}, {model.size_bytes / 2**20:.0f} MiB, "
          f"{model.arch} with {model.n_layer_nextn} NextN layer")
    print(f"tokens generated            {len(spec.tokens)} (greedy)")
    print(f"plain decoding              {plain.tokens_per_s:8.1f} tokens/s")
    print(f"MTP speculative decoding    {spec.tokens_per_s:8.1f} tokens/s")
    print(f"speedup                     {spec.tokens_per_s / plain.tokens_per_s:8.2f}x")
    for line in _stats_lines(spec):
        print(line)
    print(f"output identical to plain   {'yes' if same else 'NO'}")
    print(f"text: {spec.text[:100]}...")
    return 0 if same else 1


def cmd_generate(args: argparse.Namespace) -> int:
    model = Model(args.model, n_gpu_layers=args.n_gpu_layers, repack=not args.no_repack)
    mtp = model.has_mtp and not args.no_mtp
    s = stream(
        model, args.prompt, max_tokens=args.max_tokens, mtp=mtp, n_draft_max=args.n_draft_max,
        p_min=args.p_min, temperature=args.temp, top_k=args.top_k, top_p=args.top_p,
        min_p=args.min_p, seed=args.seed, n_threads=args.threads, stop=args.stop or None,
    )
    for piece in s:
        sys.stdout.write(str(piece))
        sys.stdout.flush()
    g = s.result
    assert isinstance(g, Generation)
    print()
    print(f"\n{len(g.tokens)} tokens, {g.tokens_per_s:.1f} tokens/s, prompt {g.n_prompt_tokens} tokens at "
          f"{g.prompt_tokens_per_s:.1f} tokens/s, finish: {g.finish_reason}", file=sys.stderr)
    for line in _stats_lines(g):
        print(line, file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import statistics

    if args.model:
        model = Model(args.model)
    else:
        sys.stderr.write("synthesizing (or reusing) the tiny MTP demo model...\n")
        model = Model(str(tiny_mtp_model(**DEMO_MODEL)))  # type: ignore[arg-type]
    drafts = [int(x) for x in args.n_draft_max.split(",")]
    common = dict(max_tokens=args.tokens, n_threads=args.threads, ignore_eos=True)
    runs = [(0, r) for r in range(args.repeats)] + [(k, r) for k in drafts for r in range(args.repeats)]
    bar = _Progress("benchmarking", len(runs))
    from .generation import generate

    generate(model, args.prompt, **{**common, "max_tokens": 8, "mtp": False})  # warm-up
    results: dict[int, list[Generation]] = {}
    for i, (k, _) in enumerate(runs):
        g = generate(model, args.prompt, mtp=k > 0, n_draft_max=max(k, 1), **common)
        assert isinstance(g, Generation)
        results.setdefault(k, []).append(g)
        bar.update(i + 1)
    plain = statistics.median(g.tokens_per_s for g in results[0])
    print(f"\n{model.description}, {args.tokens} tokens, median of {args.repeats}")
    print(f"{'n_draft_max':>11} {'tokens/s':>9} {'speedup':>8} {'mean acc len':>13}  acceptance per position")
    print(f"{'plain':>11} {plain:9.1f} {1.0:7.2f}x {'-':>13}  -")
    best_k, best = 0, plain
    speeds: dict[int, float] = {}
    for k in drafts:
        tps = statistics.median(g.tokens_per_s for g in results[k])
        speeds[k] = tps
        st = results[k][-1].stats
        assert st is not None
        per_pos = ", ".join(f"{x:.2f}" for x in st.acceptance_per_position)
        print(f"{k:>11} {tps:9.1f} {tps / plain:7.2f}x {st.mean_acceptance_length:13.2f}  {per_pos}")
        if tps > best:
            best_k, best = k, tps
    if best_k:
        print(f"\nrecommended: n_draft_max={best_k} ({best / plain:.2f}x plain decoding on this machine)")
    else:
        print("\nrecommended: plain decoding (mtp=False): MTP does not pay off for this model here")
    if args.plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed (pip install 'llama-mtp[plot]'): no plot", file=sys.stderr)
            return 0
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(drafts, [speeds[k] for k in drafts], "o-", label="MTP")
        ax.axhline(plain, color="gray", ls="--", label="plain")
        ax.set_xlabel("n_draft_max")
        ax.set_ylabel("tokens/s")
        ax.set_title(model.description)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"plot written to {args.plot}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    model = Model(args.model)
    rollback = model.is_recurrent or model.is_hybrid
    n = args.n_draft_max
    print(f"file            {args.model}")
    print(f"architecture    {model.arch} ({model.description})")
    print(f"size            {model.size_bytes / 2**20:.1f} MiB, {model.n_params / 1e6:.1f} M parameters")
    print(f"layers          {model.n_layer} (NextN/MTP: {model.n_layer_nextn})")
    print(f"vocabulary      {model.n_vocab}, context trained {model.n_ctx_train}")
    print(f"memory          {'recurrent' if model.is_recurrent else 'hybrid recurrent + attention' if model.is_hybrid else 'attention (KV cache)'}")
    print(f"MTP capable     {'yes' if model.has_mtp else 'no'}")
    if model.has_mtp:
        print(f"MTP contexts (n_draft_max={n}):")
        print(f"  target: n_batch >= {n + 1}" + (f", n_ubatch >= {n + 1}, n_rs_seq >= {n}" if rollback else ""))
        print("  draft:  ctx_type=MTP, n_batch >= target n_batch, n_seq_max = n_seq")
        kv_per_token = 2 * model.n_head_kv * (model.n_embd // max(model.n_head, 1)) * 2  # f16 K and V, one layer
        print(f"  draft KV estimate: {kv_per_token * args.n_ctx / 2**20:.1f} MiB for n_ctx={args.n_ctx} (one NextN layer, f16)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llama-mtp", description="llama.cpp MTP speculative decoding from Python")
    parser.add_argument("--log-level", default="error", help="llama.cpp log level (debug, info, warn, error, none)")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="tiny synthesized MTP model: plain vs MTP speed and acceptance")
    demo.add_argument("--tokens", type=int, default=256)
    demo.add_argument("--n-draft-max", type=int, default=3)
    demo.add_argument("--threads", type=int, default=None)
    demo.add_argument("--prompt", default="The story begins:")
    demo.set_defaults(func=cmd_demo)

    gen = sub.add_parser("generate", help="stream text from a GGUF model")
    gen.add_argument("-m", "--model", required=True)
    gen.add_argument("-p", "--prompt", required=True)
    gen.add_argument("-n", "--max-tokens", type=int, default=128)
    gen.add_argument("--n-draft-max", type=int, default=3)
    gen.add_argument("--p-min", type=float, default=0.0)
    gen.add_argument("--temp", type=float, default=0.0)
    gen.add_argument("--top-k", type=int, default=0)
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--min-p", type=float, default=0.0)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--threads", type=int, default=None)
    gen.add_argument("--stop", action="append", default=[])
    gen.add_argument("--no-mtp", action="store_true", help="plain decoding")
    gen.add_argument("--n-gpu-layers", type=int, default=0)
    gen.add_argument("--no-repack", action="store_true", help="no weight repacking (CPUs that trap AMX)")
    gen.set_defaults(func=cmd_generate)

    bench = sub.add_parser("bench", help="sweep n_draft_max: tokens/s, speedup, acceptance; recommends the best")
    bench.add_argument("-m", "--model", default=None, help="GGUF model (default: the demo's tiny model)")
    bench.add_argument("--n-draft-max", default="1,2,3,4")
    bench.add_argument("--tokens", type=int, default=256)
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--threads", type=int, default=None)
    bench.add_argument("--prompt", default="The story begins:")
    bench.add_argument("--plot", default=None, help="write a PNG plot (needs matplotlib)")
    bench.set_defaults(func=cmd_bench)

    info = sub.add_parser("info", help="capability report of a GGUF model")
    info.add_argument("-m", "--model", required=True)
    info.add_argument("--n-draft-max", type=int, default=3)
    info.add_argument("--n-ctx", type=int, default=4096)
    info.set_defaults(func=cmd_info)

    args = parser.parse_args(argv)
    set_log_level(args.log_level)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

"""`llama-mtp bench`: a sweep of draft lengths (tokens/s, speedup, acceptance) that recommends
the best, and `--calibrate`, which stores what every length costs for the adaptive length."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._cli_args import UsageError, draft_length
from ._core import Model
from ._report import chosen_lines
from .demo import demo_model_path
from .generation import Generation
from .sizing import DraftLength


def cmd_bench(args: argparse.Namespace) -> int:
    import statistics

    from tqdm import tqdm

    try:
        chosen = {draft_length(x.strip()) for x in args.n_draft_max.split(",")}
    except argparse.ArgumentTypeError:
        raise UsageError(f'--n-draft-max takes integers and "adaptive" separated by commas, not {args.n_draft_max!r}') from None
    drafts: list[DraftLength] = sorted(k for k in chosen if k != "adaptive") + (["adaptive"] if "adaptive" in chosen else [])
    if args.plot:
        try:  # before spending minutes on the runs
            import matplotlib

            matplotlib.use("Agg")
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'llama-mtp[plot]'") from None
    if args.model:
        model = Model(args.model)
    else:
        model = Model(str(demo_model_path(args.demo_model)))
    if args.calibrate:
        return _calibrate_cmd(model, args)
    if not model.has_mtp:
        print(f"llama-mtp bench: {model.description} has no NextN (MTP) layers: plain decoding only", file=sys.stderr)
        drafts = []
    common = dict(max_tokens=args.max_tokens, n_threads=args.threads, ignore_eos=True, draft_vocab=args.draft_vocab)
    # rounds of every setting, so that a slow stretch of the machine hits all of them
    runs: list[DraftLength] = [k for _ in range(args.repeats) for k in (0, *drafts)]
    from .functions import generate

    generate(model, args.prompt, draft="none", **{**common, "max_tokens": 8})  # warm-up
    results: dict[DraftLength, list[Generation]] = {}
    for k in tqdm(runs, desc="benchmarking", unit="run", file=sys.stderr):
        g = generate(model, str(args.prompt), draft="auto" if k else "none", n_draft_max=k or 1, **common)
        assert isinstance(g, Generation)
        results.setdefault(k, []).append(g)
    speeds = {k: [g.tokens_per_s for g in gs] for k, gs in results.items()}
    plain = statistics.median(speeds[0])
    print(f"\n{model.description}, {args.max_tokens} tokens, median of {args.repeats}")
    print(f"{'n_draft_max':>11} {'tokens/s':>9} {'speedup':>8} {'mean acc len':>13}  acceptance per position")
    print(f"{'plain':>11} {plain:9.1f} {1.0:7.2f}x {'-':>13}  -")
    best_k: DraftLength = 0
    best = plain
    for k in drafts:
        tps = statistics.median(speeds[k])
        st = results[k][-1].stats
        assert st is not None
        per_pos = ", ".join(f"{x:.2f}" for x in st.acceptance_per_position)
        print(f"{k:>11} {tps:9.1f} {tps / plain:7.2f}x {st.mean_acceptance_length:13.2f}  {per_pos}")
        if tps > best:
            best_k, best = k, tps
    if "adaptive" in results:
        print("\n" + "\n".join(chosen_lines(results["adaptive"][-1])))
    if best_k == "adaptive":
        print(f'\nrecommended: n_draft_max="adaptive" ({best / plain:.2f}x plain decoding on this machine)')
    elif best_k:
        print(f"\nrecommended: n_draft_max={best_k} ({best / plain:.2f}x plain decoding on this machine)")
    else:
        print('\nrecommended: plain decoding (draft="none"): MTP does not pay off for this model here')
    if args.plot:
        _plot(args.plot, model.description, drafts, speeds, best_k)
        print(f"plot written to {args.plot}")
    return 0


def _calibrate_cmd(model: Model, args: argparse.Namespace) -> int:
    from ._calibrate import calibrate

    if not model.has_mtp:
        raise UsageError(f"--calibrate: {model.description} has no NextN (MTP) layers: nothing to calibrate")
    c = calibrate(model, prompt=str(args.prompt), n_threads=args.threads, budget_seconds=args.calibrate_seconds)
    print(f"{model.description}: every draft length measured on {c.tokens_per_length} tokens in {c.seconds:.1f} s")
    print(f"{'n_draft_max':>11} {'ms/step':>8} {'acceptance at this position':>28}")
    for k, seconds in enumerate(c.step_seconds):
        acc = f"{c.acceptance[k - 1]:.2f}" if k else "-"
        print(f"{k if k else 'plain':>11} {seconds * 1e3:8.2f} {acc:>28}")
    if c.key is None:
        print("the cost cache is off ($LLAMA_MTP_COST_CACHE) or the model file is gone: nothing stored")
    else:
        print(f'stored for n_draft_max="adaptive" with these settings: cost cache entry {c.key}')
    return 0


def _plot(path: str, title: str, drafts: list[DraftLength], speeds: dict[DraftLength, list[float]], best_k: DraftLength) -> None:
    import statistics

    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    plain = statistics.median(speeds[0])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    xs: list[DraftLength] = [0, *(k for k in drafts if k != "adaptive")]  # 0: plain decoding
    med = [statistics.median(speeds[k]) for k in xs]
    err = [[m - min(speeds[k]) for k, m in zip(xs, med, strict=True)], [max(speeds[k]) - m for k, m in zip(xs, med, strict=True)]]
    ax.errorbar(xs, med, yerr=err, fmt="o-", capsize=3, label="median, min-max of the repeats")
    ax.axhline(plain, color="gray", ls="--", label="plain decoding")
    if "adaptive" in speeds:
        ax.axhline(statistics.median(speeds["adaptive"]), color="green", ls="-.", label='n_draft_max="adaptive"')
    if best_k and best_k != "adaptive":
        ax.plot([best_k], [statistics.median(speeds[best_k])], "r*", ms=14, label=f"recommended: {best_k}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("n_draft_max (0 = plain decoding)")
    ax.set_ylabel("tokens/s")

    def to_speedup(tokens_per_s: Any) -> Any:
        return tokens_per_s / plain

    def to_tokens_per_s(speedup: Any) -> Any:
        return speedup * plain

    speedup = ax.secondary_yaxis("right", functions=(to_speedup, to_tokens_per_s))
    speedup.set_ylabel("speedup over plain decoding")
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)

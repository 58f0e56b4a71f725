"""The `llama-mtp` command: demo, generate, bench, info, serve, rpc-server."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import LlamaError, Model, __version__, set_log_level
from ._cli_args import (
    CONTEXT,
    DRAFT_VOCAB_HELP,
    PORT,
    SAMPLED_DRAFTS_HELP,
    THREADS,
    UsageError,
    draft_length,
    draft_vocab_arg,
    endpoints,
    float_in,
    int_in,
)
from ._cli_args import text as text_arg
from ._cli_bench import cmd_bench
from ._report import chosen_lines, drafter_lines, stats_lines
from .demo import DEMO_SHAPE, MODEL_CHOICES, cmd_demo
from .drafters import DEFAULT_NGRAM, NGRAM_KINDS, Draft
from .functions import stream
from .generation import _MAX_SEQUENCES, Generation
from .options import DraftConfig, SamplingParams
from .sizing import AUTO_DRAFT_MAX, draft_ceiling, mtp_context_params

DRAFT_CHOICES: tuple[Draft, ...] = ("auto", "mtp", "ngram", "none")


def cmd_generate(args: argparse.Namespace) -> int:
    model = Model(args.model, n_gpu_layers=args.n_gpu_layers, repack=not args.no_repack, rpc_servers=args.rpc)
    draft = draft_config_of(args)
    if not model.has_mtp and draft.method in ("auto", "mtp"):
        print(f"llama-mtp generate: {args.model} has no NextN (MTP) layers: drafts from the text only", file=sys.stderr)
    sampling = SamplingParams(
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        min_p=args.min_p,
        seed=args.seed,
        stop=args.stop,
    )
    s = stream(model, args.prompt, sampling=sampling, draft=draft, n_threads=args.threads)
    for piece in s:
        sys.stdout.write(str(piece))
        sys.stdout.flush()
    g = s.result
    assert isinstance(g, Generation)
    print()
    print(
        f"\n{len(g.tokens)} tokens, {g.tokens_per_s:.1f} tokens/s, prompt {g.n_prompt_tokens} tokens at "
        f"{g.prompt_tokens_per_s:.1f} tokens/s, finish: {g.finish_reason}",
        file=sys.stderr,
    )
    for line in stats_lines(g) + drafter_lines(g) + chosen_lines(g):
        print(line, file=sys.stderr)
    return 0


def draft_config_of(args: argparse.Namespace) -> DraftConfig:
    """The DraftConfig a command's options give (--draft, --no-mtp, --n-draft-max, --p-min,
    --ngram, --exact: whichever the command has)."""
    method: Draft = "none" if getattr(args, "no_mtp", False) else getattr(args, "draft", "auto")
    return DraftConfig(
        method=method,
        n_draft_max=getattr(args, "n_draft_max", "adaptive"),
        p_min=getattr(args, "p_min", 0.0),
        ngram=getattr(args, "ngram", DEFAULT_NGRAM),
        exact=getattr(args, "exact", False),
        draft_vocab=getattr(args, "draft_vocab", "auto"),
        sampled_drafts=getattr(args, "sampled_drafts", False),
    )


def cmd_info(args: argparse.Namespace) -> int:
    model = Model(args.model)
    rollback = model.is_recurrent or model.is_hybrid
    n = draft_ceiling(args.n_draft_max)
    print(f"file            {args.model}")
    print(f"architecture    {model.arch} ({model.description})")
    print(f"size            {model.size_bytes / 2**20:.1f} MiB, {model.n_params / 1e6:.1f} M parameters")
    print(f"layers          {model.n_layer} (NextN/MTP: {model.n_layer_nextn})")
    print(f"vocabulary      {model.n_vocab}, context trained {model.n_ctx_train}")
    print(
        f"memory          {'recurrent' if model.is_recurrent else 'hybrid recurrent + attention' if model.is_hybrid else 'attention (KV cache)'}"
    )
    print(f"MTP capable     {'yes' if model.has_mtp else 'no'}")
    if model.has_mtp:
        sizes = mtp_context_params(model, n_draft_max=n, n_ctx=args.n_ctx)
        print(f"MTP contexts (n_draft_max={n}; llama_mtp.mtp_context_params() gives these):")
        print(
            f"  target: n_batch >= {n + 1}"
            + (f", n_ubatch >= {n + 1}, n_rs_seq >= {n}" if rollback else "")
            + f"  e.g. Context(model, n_ctx={sizes.n_ctx}, n_batch={sizes.n_batch}, n_rs_seq={sizes.n_rs_seq})"
        )
        print("  draft:  ctx_type=MTP, n_batch >= target n_batch, n_seq_max = n_seq")
        kv_per_token = 2 * model.n_head_kv * (model.n_embd // max(model.n_head, 1)) * 2  # f16 K and V, one layer
        print(f"  draft KV estimate: {kv_per_token * args.n_ctx / 2**20:.1f} MiB for n_ctx={args.n_ctx} (one NextN layer, f16)")
    return 0


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-level", default=argparse.SUPPRESS, help="llama.cpp log level: debug, info, warn, error or none (default: error)"
    )
    parser = argparse.ArgumentParser(
        prog="llama-mtp", description="llama.cpp MTP speculative decoding from Python", formatter_class=fmt
    )
    parser.add_argument("--log-level", default="error", help="llama.cpp log level: debug, info, warn, error or none")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common], formatter_class=fmt)

    def generation_options(p: argparse.ArgumentParser, max_tokens: int) -> None:
        p.add_argument("-n", "--max-tokens", type=int_in(1, 1 << 24), default=max_tokens, help="tokens to generate")
        p.add_argument(
            "-t",
            "--threads",
            type=THREADS,
            default=None,
            help="CPU threads (default: auto, one per physical core at most and fewer while other processes keep cores busy)",
        )

    demo = command("demo", "plain vs MTP speed and acceptance on a synthesized model shaped like a real one")
    generation_options(demo, 256)
    demo.add_argument(
        "--n-draft-max",
        type=draft_length,
        default="adaptive",
        help=f'tokens drafted per step, or "adaptive": chosen each step (0..{AUTO_DRAFT_MAX})',
    )
    demo.add_argument("-p", "--prompt", type=text_arg, default="The story begins:", help="text prompt")
    demo.add_argument(
        "--model",
        choices=MODEL_CHOICES,
        default=DEMO_SHAPE,
        help="the synthesized model (written once and cached; tiny: vocabulary 4096, quick)",
    )
    demo.set_defaults(func=cmd_demo)

    gen = command("generate", "stream text from a GGUF model (MTP drafting when it has NextN layers)")
    gen.add_argument("-m", "--model", required=True, help="GGUF model file")
    gen.add_argument("-p", "--prompt", type=text_arg, required=True, help="text prompt")
    generation_options(gen, 128)
    gen.add_argument(
        "--n-draft-max",
        type=draft_length,
        default="adaptive",
        help=f'tokens drafted per step, or "adaptive": chosen each step (0..{AUTO_DRAFT_MAX})',
    )
    gen.add_argument("--p-min", type=float_in(0.0, 1.0), default=0.0, help="stop drafting below this draft probability")
    gen.add_argument("--temperature", "--temp", type=float_in(0.0, 1e6), default=0.0, help="sampling temperature (0: greedy)")
    gen.add_argument("--top-k", type=int_in(0, 1 << 24), default=0, help="keep the k most likely tokens (0: all)")
    gen.add_argument("--top-p", type=float_in(0.0, 1.0), default=1.0, help="nucleus sampling mass (1: off)")
    gen.add_argument("--min-p", type=float_in(0.0, 1.0), default=0.0, help="drop tokens below min-p times the top probability")
    gen.add_argument("--seed", type=int_in(0, (1 << 32) - 1), default=None, help="sampling seed (default: random)")
    gen.add_argument("--stop", type=text_arg, action="append", default=[], help="stop string (repeatable)")
    gen.add_argument("--no-mtp", action="store_true", help="plain decoding (--draft none)")
    gen.add_argument(
        "--draft",
        choices=DRAFT_CHOICES,
        default="auto",
        help="drafters: auto (MTP where the model has NextN layers, and n-gram drafts from the text, "
        "chosen each step), mtp, ngram or none",
    )
    gen.add_argument(
        "--exact", action="store_true", help="batch-invariant decoding: greedy output that of one token per decode (slower)"
    )
    gen.add_argument("--draft-vocab", type=draft_vocab_arg, default="auto", help=DRAFT_VOCAB_HELP)
    gen.add_argument("--sampled-drafts", action="store_true", help=SAMPLED_DRAFTS_HELP)
    gen.add_argument(
        "--n-gpu-layers",
        "-ngl",
        type=int_in(-1, 1 << 20),
        default=None,
        help="layers offloaded to GPU or RPC devices (-1: all; default: all with --rpc, else 0)",
    )
    gen.add_argument(
        "--rpc", type=endpoints, default=None, help="RPC servers (llama-mtp rpc-server) to place layers on: host:port,host:port"
    )
    gen.add_argument("--no-repack", action="store_true", help="no weight repacking (CPUs that trap AMX)")
    gen.set_defaults(func=cmd_generate)

    bench = command("bench", "sweep n_draft_max: tokens/s, speedup, acceptance; recommends the best")
    bench.add_argument("-m", "--model", default=None, help="GGUF model file (default: the demo's model, --demo-model)")
    bench.add_argument("--demo-model", choices=MODEL_CHOICES, default=DEMO_SHAPE, help="the synthesized model to use without -m")
    generation_options(bench, 256)
    bench.add_argument(
        "--n-draft-max",
        default="1,2,3,4,5,6,adaptive",
        help='draft lengths to try, comma-separated ("adaptive": chosen each step)',
    )
    bench.add_argument("--repeats", type=int_in(1, 1000), default=3, help="runs per setting (the median is reported)")
    bench.add_argument("--draft-vocab", type=draft_vocab_arg, default="auto", help=DRAFT_VOCAB_HELP)
    bench.add_argument("-p", "--prompt", type=text_arg, default="The story begins:", help="text prompt")
    bench.add_argument("--plot", default=None, help="write a PNG plot there (needs matplotlib)")
    bench.add_argument(
        "--calibrate",
        action="store_true",
        help='measure every draft length once and store it for n_draft_max="adaptive" (the cost cache)',
    )
    bench.add_argument(
        "--calibrate-seconds",
        type=float_in(0.0, 1e6, above=True),
        default=30.0,
        help="the time a calibration aims at (each length runs 8 to 64 tokens)",
    )
    bench.set_defaults(func=cmd_bench)

    info = command("info", "capability report of a GGUF model")
    info.add_argument("-m", "--model", required=True, help="GGUF model file")
    info.add_argument(
        "--n-draft-max",
        type=draft_length,
        default="adaptive",
        help=f'draft length the context sizes are shown for ("adaptive": {AUTO_DRAFT_MAX})',
    )
    info.add_argument("--n-ctx", type=CONTEXT, default=4096, help="context size the draft KV estimate is for")
    info.set_defaults(func=cmd_info)
    srv = command("serve", "OpenAI-compatible HTTP server: continuous batching, MTP for every request")
    srv.add_argument("-m", "--model", default=None, help="GGUF model file")
    srv.add_argument("--hf-repo", default=None, help="Hugging Face repository to take the model from (cached)")
    srv.add_argument("--hf-file", default=None, help="file name (or glob) in --hf-repo")
    srv.add_argument(
        "--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine only); several: comma-separated"
    )
    srv.add_argument("--port", type=PORT, default=8080, help="port (0: a free one, printed at start)")
    srv.add_argument("-np", "--parallel", type=int_in(1, _MAX_SEQUENCES), default=4, help="sequences generated together")
    srv.add_argument(
        "-c",
        "--ctx-size",
        type=CONTEXT,
        default=None,
        help="KV cells in all, split across --parallel as llama-server's -c (default: 4096 per slot)",
    )
    srv.add_argument(
        "--n-draft-max",
        type=draft_length,
        default="adaptive",
        help=f'default draft length, or "adaptive" (0..{AUTO_DRAFT_MAX}); requests may ask for less',
    )
    srv.add_argument("--no-mtp", action="store_true", help="plain decoding for every request (--draft none)")
    srv.add_argument(
        "--draft",
        choices=DRAFT_CHOICES,
        default="auto",
        help='drafters: auto, mtp, ngram or none (requests may ask for less with "draft")',
    )
    srv.add_argument("--ngram", choices=NGRAM_KINDS, default=DEFAULT_NGRAM, help="the n-gram drafter (upstream's)")
    srv.add_argument(
        "--exact", action="store_true", help='batch-invariant decoding for requests that do not set "exact" (slower)'
    )
    srv.add_argument("--draft-vocab", type=draft_vocab_arg, default="auto", help=DRAFT_VOCAB_HELP)
    srv.add_argument("--sampled-drafts", action="store_true", help=SAMPLED_DRAFTS_HELP)
    srv.add_argument("-t", "--threads", type=THREADS, default=None, help="CPU threads (default: one per core)")
    srv.add_argument("--max-queue", type=int_in(0, 1 << 20), default=64, help="requests waiting for a slot before 503")
    srv.add_argument(
        "--api-key",
        default=os.environ.get("LLAMA_MTP_API_KEY"),
        help="require 'Authorization: Bearer KEY' (default: $LLAMA_MTP_API_KEY)",
    )
    chat_template = srv.add_mutually_exclusive_group()
    chat_template.add_argument("--chat-template-file", default=None, help="jinja chat template replacing the model's")
    chat_template.add_argument(
        "--chat-template",
        default=None,
        help="jinja source, or one of llama.cpp's built-in template names (chatml, llama3, command-r, ...: text only)",
    )
    srv.add_argument("--alias", default=None, help="model id reported by /v1/models (several: comma-separated)")
    srv.add_argument("--tags", default=None, help="model tags reported by /v1/models, comma-separated")
    srv.add_argument(
        "--reasoning",
        choices=("on", "off", "auto"),
        default="auto",
        help="off: chat templates render without reasoning (llama-server's --reasoning)",
    )
    srv.add_argument(
        "-n", "--n-predict", type=int_in(-1, 1 << 24), default=-1, help="tokens of a request that gives none (-1: the room left)"
    )
    srv.add_argument("-s", "--seed", type=int_in(0, (1 << 32) - 1), default=None, help="seed of requests that give none")
    srv.add_argument(
        "--cors-origins",
        default="localhost",
        help='web origins whose scripts may call the server: "localhost" (this machine\'s), "*" (any, llama-server\'s default) or a comma-separated list',
    )
    srv.add_argument("--no-metrics", action="store_true", help="/metrics answers 501 (llama-server without --metrics)")
    srv.add_argument("--no-slots", action="store_true", help="/slots answers 501 (llama-server's --no-slots)")
    srv.add_argument(
        "--verbose", action="store_true", help="chat responses carry __verbose.prompt, the rendered prompt (llama-server's)"
    )
    srv.add_argument(
        "--n-gpu-layers",
        "-ngl",
        type=int_in(-1, 1 << 20),
        default=None,
        help="layers offloaded to GPU or RPC devices (-1: all; default: all with --rpc, else 0)",
    )
    srv.add_argument(
        "--rpc", type=endpoints, default=None, help="RPC servers (llama-mtp rpc-server) to place layers on: host:port,host:port"
    )
    srv.set_defaults(func=cmd_serve)

    rpc = command("rpc-server", "serve this machine's devices to llama-mtp clients (ggml's RPC server)")
    rpc.add_argument(
        "-H",
        "--host",
        default="127.0.0.1",
        help="address to bind; the protocol is unauthenticated: never expose it to an open network",
    )
    rpc.add_argument("-p", "--port", type=int_in(1, 65535), default=50052, help="port to bind")
    rpc.add_argument("-t", "--threads", type=THREADS, default=None, help="CPU threads (default: one per core)")
    rpc.add_argument(
        "-c",
        "--cache",
        default=None,
        metavar="DIR",
        help="cache large weight tensors in DIR, so that reloading a model skips sending them",
    )
    rpc.set_defaults(func=cmd_rpc_server)
    return parser, {"demo": demo, "generate": gen, "bench": bench, "info": info, "serve": srv, "rpc-server": rpc}


def cmd_rpc_server(args: argparse.Namespace) -> int:
    from .rpc import run_rpc_server

    if not 1 <= args.port <= 65535:
        raise UsageError("--port must be in [1, 65535]")
    run_rpc_server(args.host, args.port, n_threads=args.threads, cache_dir=args.cache)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .serving import serve
    except ImportError as e:
        raise UsageError(f"serve needs the server extra: pip install 'llama-mtp[server]' ({e})") from e
    if (args.model is None) == (args.hf_repo is None):
        raise UsageError("give either -m MODEL or --hf-repo REPO --hf-file FILE")
    if args.hf_repo is not None:
        if args.hf_file is None:
            raise UsageError("--hf-repo needs --hf-file")
        from .hub import download_model

        path = download_model(args.hf_repo, args.hf_file)
    else:
        path = args.model
    if args.ctx_size is not None and args.ctx_size < 64 * args.parallel:
        raise UsageError(
            f"--ctx-size is the total, split across --parallel: at least 64 per slot "
            f"({64 * args.parallel} for {args.parallel} slots)"
        )
    template = Path(args.chat_template_file).read_text() if args.chat_template_file else args.chat_template
    serve(
        path,
        host=args.host,
        port=args.port,
        parallel=args.parallel,
        ctx_size=args.ctx_size,
        draft=draft_config_of(args),
        n_threads=args.threads,
        max_queue=args.max_queue,
        api_key=args.api_key,
        chat_template=template,
        model_id=args.alias,
        tags=args.tags,
        n_gpu_layers=args.n_gpu_layers,
        rpc_servers=args.rpc,
        n_predict=args.n_predict,
        seed=args.seed,
        cors_origins=args.cors_origins,
        metrics=not args.no_metrics,
        slots=not args.no_slots,
        verbose=args.verbose,
        reasoning=args.reasoning,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser, commands = _parser()
    args, extra = parser.parse_known_args(argv)
    command = getattr(args, "command", None)
    if not command:
        parser.print_help()
        return 2
    if extra:  # reported with the subcommand's usage, not the top-level one
        commands[command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        set_log_level(args.log_level)
        return int(args.func(args))
    except UsageError as e:
        commands[command].error(str(e))
    except (LlamaError, OSError, ValueError) as e:  # one line, no traceback
        print(f"llama-mtp {command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"llama-mtp {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

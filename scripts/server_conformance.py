#!/usr/bin/env python3
"""llama.cpp's own server test suite against `llama-mtp serve`: passed / failed per file.

    python scripts/server_conformance.py [--tree build/llama.cpp-all] [--files test_completion.py,...]
        [--server PATH] [--json out.json]

The suite (`tools/server/tests` of the pinned tree; fetched with `fetch_llama_cpp.py --all`
when --tree is missing) starts a `llama-server` binary with llama-server's flags
($LLAMA_SERVER_BIN_PATH) and asks for models by Hugging Face repository. Here that binary is an
adapter (this file, run with --adapter): it maps the flags llama-mtp has (--port, --host,
--ctx-size, --parallel, --alias, --api-key, --threads, --chat-template-file) to `llama-mtp
serve`'s, drops the rest, and serves a synthesized tiny chat model whatever the test asked for
(no download). --server PATH runs the same files against another binary instead (llama-server
built from the same pinned source: the baseline with the same model; it must take
--model, which the adapter adds through $LLAMA_CONFORMANCE_MODEL).

Needs the suite's own requirements (tools/server/tests/requirements.txt: aiohttp, wget, ...).
Out of scope, left out (docs/server.md says why): embeddings, rerank, LoRA, infill, the router,
slot save, vision, the web UI, built-in tools and MCP, the proxy, sleep, GCP compatibility.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IN_SCOPE = (
    "test_basic.py",
    "test_chat_completion.py",
    "test_compat_anthropic.py",
    "test_compat_oai_responses.py",
    "test_completion.py",
    "test_ctx_shift.py",
    "test_ignore_eos.py",
    "test_kv_keep_only_active.py",
    "test_metrics.py",
    "test_security.py",
    "test_speculative.py",
    "test_stream.py",
    "test_template.py",
    "test_tokenize.py",
    "test_tool_call.py",
)
# llama-server flags that take a value, which the adapter drops with it
VALUED = {
    "--hf-repo",
    "-hfr",
    "--hf-file",
    "-hff",
    "--model-url",
    "--model-draft",
    "--models-dir",
    "--models-max",
    "--models-preset",
    "--batch-size",
    "-b",
    "--ubatch-size",
    "-ub",
    "--n-gpu-layers",
    "-ngl",
    "--pooling",
    "--draft-max",
    "--draft-min",
    "--draft-p-min",
    "--ctx-size-draft",
    "--lora",
    "--lora-scaled",
    "--reasoning-format",
    "--reasoning-budget",
    "--mmproj-url",
    "--media-path",
    "--sleep-idle-seconds",
    "--cache-ram",
    "--tools",
    "--tools-runtime",
    "--mcp-servers-config",
    "--mcp-servers-json",
    "--spec-type",
    "--temp",
    "--timeout",
    "--log-file",
    "--model",
    "-m",
    "--grp-attn-n",
    "--grp-attn-w",
    "--keep",
    "--cache-type-k",
    "--cache-type-v",
    "--spec-draft-n-max",
    "--spec-draft-n-min",
    "--device",
    "--fit",
    "--ctx-checkpoints",
    "--cache-reuse",
}
# llama-server flags with a llama-mtp serve equivalent: ours
MAPPED = {"--port": "--port", "--host": "--host", "--ctx-size": "-c", "-c": "-c", "--parallel": "-np", "-np": "-np",
          "--alias": "--alias", "-a": "--alias", "--api-key": "--api-key", "--threads": "-t", "-t": "-t",
          "--chat-template-file": "--chat-template-file", "--n-predict": "-n", "-n": "-n", "--seed": "--seed",
          "-s": "--seed", "--cors-origins": "--cors-origins", "--tags": "--tags",
          "--reasoning": "--reasoning",
          "--chat-template": "--chat-template"}  # fmt: skip
# llama-server switches with a llama-mtp serve equivalent
SWITCHES = {"--no-slots": "--no-slots", "--verbose": "--verbose"}


def adapter_argv(argv: list[str], model: str) -> list[str]:
    """llama-server's command line as `llama-mtp serve`'s (see the module docstring)."""
    # llama-mtp serves /metrics by default, llama-server only with --metrics
    out = ["serve", "-m", model, *([] if "--metrics" in argv else ["--no-metrics"])]
    if "--cors-origins" not in argv:  # llama-server's default: any origin, this machine's with --tools
        out += ["--cors-origins", "localhost" if "--tools" in argv else "*"]
    i = 0
    while i < len(argv):
        flag = argv[i]
        if flag in MAPPED and i + 1 < len(argv):
            out += [MAPPED[flag], argv[i + 1]]
            i += 2
        elif flag in VALUED:
            i += 2
        elif flag in SWITCHES:
            out.append(SWITCHES[flag])
            i += 1
        else:
            i += 1  # a switch (--jinja, --metrics, --cont-batching, --offline, ...): dropped
    return out


def run_adapter(argv: list[str]) -> None:
    model = os.environ["LLAMA_CONFORMANCE_MODEL"]
    os.execv(sys.executable, [sys.executable, "-m", "llama_mtp.cli", *adapter_argv(argv, model)])


def tiny_chat_model(cache: Path) -> Path:
    from llama_mtp.testing import TINY_CHAT_TEMPLATE, tiny_mtp_model

    return tiny_mtp_model(cache / "conformance-chat.gguf", kind="dense", chat_template=TINY_CHAT_TEMPLATE)


def outcomes(junit: Path) -> dict[str, str]:
    """Each test's outcome ("passed", "failed", "skipped") by file::name."""
    out: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("classname", "").split(".")[-1] + ".py::" + case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            out[name] = "failed"
        elif case.find("skipped") is not None:
            out[name] = "skipped"
        else:
            out[name] = "passed"
    return out


def results_per_file(tests: dict[str, str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, outcome in tests.items():
        row = out.setdefault(name.split("::")[0], {"passed": 0, "failed": 0, "skipped": 0})
        row[outcome] += 1
    return out


def main() -> None:
    if sys.argv[1:2] == ["--adapter"]:
        run_adapter(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", default=str(REPO / "build" / "llama.cpp-all"))
    ap.add_argument("--files", default=",".join(IN_SCOPE))
    ap.add_argument("--server", default=None, help="another server binary (llama-server) instead of the adapter")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    tree = Path(args.tree)
    if not (tree / "tools" / "server" / "tests").is_dir():
        subprocess.run([sys.executable, str(REPO / "scripts" / "fetch_llama_cpp.py"), "--all", "--dest", str(tree)], check=True)
    tests = tree / "tools" / "server" / "tests"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = tiny_chat_model(work)
        binary = work / "llama-server"
        if args.server:
            binary.write_text(f'#!/bin/sh\nexec "{args.server}" --model "$LLAMA_CONFORMANCE_MODEL" "$@"\n')
        else:
            binary.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" --adapter "$@"\n')
        binary.chmod(0o755)
        env = {**os.environ, "LLAMA_SERVER_BIN_PATH": str(binary), "LLAMA_CONFORMANCE_MODEL": str(model)}
        junit = work / "junit.xml"
        files = [f"unit/{f}" for f in args.files.split(",")]
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", f"--junitxml={junit}", *files],
            cwd=tests,
            env=env,
            check=False,
        )
        tests = outcomes(junit)
    per_file = results_per_file(tests)
    print("\n| file | passed | failed | skipped |\n|---|---|---|---|")
    for name in sorted(per_file):
        r = per_file[name]
        print(f"| {name} | {r['passed']} | {r['failed']} | {r['skipped']} |")
    total = {k: sum(r[k] for r in per_file.values()) for k in ("passed", "failed", "skipped")}
    print(f"| all | {total['passed']} | {total['failed']} | {total['skipped']} |")
    if args.json:
        server = args.server or "llama-mtp serve"
        Path(args.json).write_text(json.dumps({"server": server, "files": per_file, "tests": tests}, indent=1))


if __name__ == "__main__":
    main()

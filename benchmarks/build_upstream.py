#!/usr/bin/env python3
"""Build (once, cached) upstream's reference programs from the pinned extern/llama.cpp the
way llama.cpp's users build them: upstream's own CMake defaults (Release, GGML_NATIVE on,
GGML_OPENMP on, shared libraries). benchmarks/upstream/CMakeLists.txt sets no compiler or
ggml option; it only picks the programs, because the vendored tree lacks tests/, app/ and
tools/CMakeLists.txt.

- llama-speculative-simple: upstream's own MTP speculative loop (--spec-type draft-mtp);
- llama-completion: plain decoding with a thread option and a decode-only counter.

Prints the directory holding the binaries and the configuration actually used.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("llama-speculative-simple", "llama-completion")
DEFAULT_DIR = ROOT / "build" / "upstream-default"
NO_AMX_DIR = ROOT / "build" / "upstream-noamx"
NO_AMX_FLAGS = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
# llama-server: the vendored extern/ tree leaves tools/ out, so the server is built from the
# whole pinned tree (same sdist, same patches) by upstream's own top-level CMakeLists.txt.
SERVER_SRC = ROOT / "build" / "upstream-src"
SERVER_DIR = ROOT / "build" / "upstream-server"
# RPC: upstream's rpc-server and the two programs with --rpc, built as upstream's RPC docs say
# (tools/rpc/README.md: the defaults plus -DGGML_RPC=ON), from the same whole tree
RPC_DIR = ROOT / "build" / "upstream-rpc"
RPC_TARGETS = ("ggml-rpc-server", "llama-completion", "llama-speculative-simple")


def server_configure_command(build_dir: Path = SERVER_DIR) -> list[str]:
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    launcher = ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"] if shutil.which("ccache") else []
    return ["cmake", "-S", str(SERVER_SRC), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release", *generator, *launcher]


def build_server(build_dir: Path = SERVER_DIR) -> Path:
    """upstream's llama-server (tools/server) with upstream's defaults; returns the binary."""
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fetch_llama_cpp.py"), "--all", "--dest", str(SERVER_SRC)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if not (build_dir / "CMakeCache.txt").exists():
        subprocess.run(server_configure_command(build_dir), check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["cmake", "--build", str(build_dir), "--target", "llama-server", "-j", str(os.cpu_count() or 2)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return build_dir / "bin" / "llama-server"


def rpc_configure_command(build_dir: Path = RPC_DIR) -> list[str]:
    return [*server_configure_command(build_dir), "-DGGML_RPC=ON"]


def build_rpc(build_dir: Path = RPC_DIR) -> Path:
    """upstream's ggml-rpc-server, llama-completion and llama-speculative-simple with GGML_RPC=ON;
    returns the directory holding them."""
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fetch_llama_cpp.py"), "--all", "--dest", str(SERVER_SRC)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if not (build_dir / "CMakeCache.txt").exists():
        subprocess.run(rpc_configure_command(build_dir), check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["cmake", "--build", str(build_dir), "--target", *RPC_TARGETS, "-j", str(os.cpu_count() or 2)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return build_dir / "bin"


def configure_command(build_dir: Path, no_amx: bool = False) -> list[str]:
    # Ninja and ccache change how the build runs, not what it compiles
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    launcher = ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"] if shutil.which("ccache") else []
    # On VMs whose cpuid advertises AMX but which trap its instructions, a GGML_NATIVE build dies
    # with SIGILL on the first quantized multi-row matmul; -mno-amx-* is how such a user builds
    # upstream at all, and what our own native build does (CMakeLists.txt).
    amx = [f"-DCMAKE_{lang}_FLAGS={NO_AMX_FLAGS}" for lang in ("C", "CXX")] if no_amx else []
    return [
        "cmake",
        "-S",
        str(ROOT / "benchmarks" / "upstream"),
        "-B",
        str(build_dir),
        "-DCMAKE_BUILD_TYPE=Release",
        *amx,
        *generator,
        *launcher,
    ]


def build(build_dir: Path = DEFAULT_DIR, no_amx: bool = False) -> Path:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_llama_cpp.py")], check=True, stdout=subprocess.DEVNULL)
    if not (build_dir / "CMakeCache.txt").exists():
        subprocess.run(configure_command(build_dir, no_amx), check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["cmake", "--build", str(build_dir), "--target", *TARGETS, "-j", str(os.cpu_count() or 2)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return build_dir / "bin"


def reference_config(build_dir: Path = DEFAULT_DIR, no_amx: bool = False) -> dict[str, Any]:
    """What the reference build really is: the configure command, the cache values that decide
    speed, and the flags ggml's CPU backend was compiled with."""
    cache = (build_dir / "CMakeCache.txt").read_text()
    values = {
        k: v
        for k, v in re.findall(
            r"^(GGML_NATIVE|GGML_OPENMP|GGML_OPENMP_ENABLED|BUILD_SHARED_LIBS|"
            r"CMAKE_BUILD_TYPE|CMAKE_CXX_COMPILER):[A-Z]+=(.*)$",
            cache,
            re.M,
        )
    }
    flags = ""
    ninja = build_dir / "build.ninja"
    if ninja.exists():
        text = ninja.read_text()
        m = re.search(r"build \S*ggml-cpu\.dir/ggml-cpu/ggml-cpu\.c\.o:.*?\n(?:  .*\n)*?  FLAGS = (.*)\n", text)
        flags = m.group(1) if m else ""
    command = " ".join(configure_command(build_dir, no_amx)).replace(str(ROOT) + "/", "")
    return {"configure": command, "cache": values, "ggml_cpu_flags": flags}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--server", action="store_true", help="build llama-server instead (build/upstream-server)")
    parser.add_argument(
        "--rpc", action="store_true", help="build rpc-server and the programs with GGML_RPC=ON instead (build/upstream-rpc)"
    )
    parser.add_argument(
        "--no-amx",
        action="store_true",
        help=f"compile with {NO_AMX_FLAGS} (build/upstream-noamx): for VMs that advertise AMX "
        "but trap it, where the default build dies with SIGILL",
    )
    args = parser.parse_args()
    if args.rpc:
        print(build_rpc())
        print(" ".join(rpc_configure_command()).replace(str(ROOT) + "/", ""))
        return 0
    if args.server:
        print(build_server())
        print(" ".join(server_configure_command()).replace(str(ROOT) + "/", ""))
        return 0
    build_dir = NO_AMX_DIR if args.no_amx and args.build_dir == DEFAULT_DIR else args.build_dir
    print(build(build_dir, args.no_amx))
    print(json.dumps(reference_config(build_dir, args.no_amx), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

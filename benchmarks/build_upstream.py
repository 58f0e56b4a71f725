#!/usr/bin/env python3
"""Build (once, cached) upstream's reference programs from the pinned extern/llama.cpp:

- llama-speculative-simple: upstream's own MTP speculative loop (--spec-type draft-mtp);
- llama-simple and llama-completion: plain decoding (llama-simple has no thread option,
  so llama-completion -no-cnv -t N is the plain reference at equal thread counts).

Same CPU flags and threading as the extension (benchmarks/upstream/CMakeLists.txt).
Prints the directory holding the binaries.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("llama-simple", "llama-speculative-simple", "llama-completion")


def build(build_dir: Path, native: bool = False) -> Path:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_llama_cpp.py")], check=True,
                   stdout=subprocess.DEVNULL)
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    launcher = ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"] if shutil.which("ccache") else []
    if not (build_dir / "CMakeCache.txt").exists():
        subprocess.run(["cmake", "-S", str(ROOT / "benchmarks" / "upstream"), "-B", str(build_dir),
                        "-DCMAKE_BUILD_TYPE=Release", f"-DLLAMA_MTP_NATIVE={'ON' if native else 'OFF'}",
                        *generator, *launcher], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(build_dir), "--target", *TARGETS, "-j", str(os.cpu_count() or 2)],
                   check=True, stdout=subprocess.DEVNULL)
    return build_dir / "bin"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "upstream-reference")
    parser.add_argument("--native", action="store_true", help="match a LLAMA_MTP_NATIVE=ON extension")
    args = parser.parse_args()
    print(build(args.build_dir, args.native))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Assemble a pinned CUDA 12 toolkit from the official nvidia-* wheels (cibuildwheel
before-all step of the CUDA wheels; no system package repository involved).

    python scripts/install_cuda_toolchain.py /opt/cuda

Result: DEST/bin/nvcc, DEST/include, DEST/lib64 (DEST/lib on Windows), usable as
CUDAToolkit_ROOT / CUDACXX by CMake.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CUDA = "12.6"
PACKAGES = [f"nvidia-cuda-nvcc-cu12=={CUDA}.*", f"nvidia-cuda-runtime-cu12=={CUDA}.*",
            f"nvidia-cuda-cccl-cu12=={CUDA}.*", f"nvidia-cublas-cu12=={CUDA}.*"]


def main() -> int:
    dest = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", tmp, *PACKAGES], check=True)
        for pkg in sorted((Path(tmp) / "nvidia").iterdir()):
            for sub in ("bin", "include", "lib", "nvvm"):
                src = pkg / sub
                if src.is_dir():
                    target = dest / ("lib64" if sub == "lib" and sys.platform != "win32" else sub)
                    shutil.copytree(src, target, dirs_exist_ok=True, symlinks=True)
    # CMake's FindCUDAToolkit looks for the unversioned runtime library name
    lib = dest / "lib64"
    for versioned in lib.glob("lib*.so.12"):
        plain = lib / versioned.name.replace(".so.12", ".so")
        if not plain.exists():
            plain.symlink_to(versioned.name)
    print(f"CUDA {CUDA} toolchain in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

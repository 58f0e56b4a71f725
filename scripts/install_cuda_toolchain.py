#!/usr/bin/env python3
"""Assemble a pinned CUDA toolkit from the official nvidia-* wheels (the before-all step of
the CUDA 13 wheels; no system package repository involved).

    python scripts/install_cuda_toolchain.py DEST [--cuda 13.0]

Result: DEST/bin/nvcc, DEST/include, DEST/lib (+ DEST/lib64 -> lib), DEST/nvvm, usable as
CUDAToolkit_ROOT / CUDACXX by CMake.

Only CUDA 13 can come from wheels: the CUDA 13 nvidia-cuda-nvcc wheel carries the whole
compiler driver (nvcc, cudafe++, fatbinary, nvlink, ptxas; crt and nvvm in their own wheels),
while the nvidia-cuda-nvcc-cu12 wheels (checked: 12.6.85, 12.9.86) carry only ptxas and libnvvm.
CUDA 12 wheels are therefore built with a toolkit installed on the runner (wheels.yml).
There is no libcuda stub in the wheels: build with GGML_CUDA_NO_VMM=ON (the legacy memory
pool instead of CUDA's virtual memory management; the driver is loaded at run time).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Exact pins: the toolkit that built and linked the CUDA module here (CUDA 13.0 update 2).
TOOLKITS = {
    "13.0": [
        "nvidia-cuda-nvcc==13.0.88",
        "nvidia-cuda-crt==13.0.88",
        "nvidia-nvvm==13.0.88",
        "nvidia-cuda-runtime==13.0.96",
        "nvidia-cuda-cccl==13.0.85",
        "nvidia-cuda-culibos==13.0.85",
        "nvidia-cublas==13.0.2.14",
    ],
}


def install(dest: Path, version: str) -> None:
    major = version.split(".")[0]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", tmp, *TOOLKITS[version]], check=True)
        root = Path(tmp) / "nvidia" / f"cu{major}"  # every CUDA 13 wheel installs under nvidia/cu13/
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "__pycache__"):
            shutil.copytree(sub, dest / sub.name, dirs_exist_ok=True, symlinks=True)
    lib = dest / "lib"
    # CMake's FindCUDAToolkit links the unversioned names (libcudart.so, libcublas.so)
    for versioned in lib.glob(f"lib*.so.{major}"):
        plain = lib / versioned.name.removesuffix(f".{major}")
        if not plain.exists():
            plain.symlink_to(versioned.name)
    if not (dest / "lib64").exists():
        (dest / "lib64").symlink_to("lib")
    for tool in ("nvcc", "cudafe++", "fatbinary", "nvlink", "ptxas"):
        exe = dest / "bin" / (tool + (".exe" if sys.platform == "win32" else ""))
        if not exe.is_file():
            raise SystemExit(f"{exe} is missing: the {version} wheels do not make a complete toolkit")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--cuda", default="13.0")
    args = ap.parse_args()
    if args.cuda not in TOOLKITS:
        print(
            f"CUDA {args.cuda} cannot be assembled from wheels (nvidia-cuda-nvcc-cu12 has no nvcc); "
            f"wheel toolkits: {', '.join(TOOLKITS)}",
            file=sys.stderr,
        )
        return 2
    install(args.dest, args.cuda)
    print(f"CUDA {args.cuda} toolchain in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

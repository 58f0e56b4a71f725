"""Load the CUDA runtime of the nvidia-* wheels before the CUDA build of _core is imported.

CUDA wheels (llama-mtp-cu12, llama-mtp-cu13) are repaired without libcudart/libcublas; they
depend on the official nvidia-cuda-runtime(-cu12) / nvidia-cublas(-cu12) wheels instead.
Preloading those libraries (globally) lets the dynamic loader resolve the CUDA backend's
references. CPU and Metal builds have no nvidia packages installed, and this does nothing.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
from pathlib import Path

_LIBS = {
    # CUDA 12 wheels: one package per library
    "nvidia.cuda_runtime": ("libcudart.so.12", "cudart64_12.dll"),
    "nvidia.cublas": ("libcublasLt.so.12", "cublasLt64_12.dll", "libcublas.so.12", "cublas64_12.dll"),
    # CUDA 13 wheels: every library under nvidia/cu13
    "nvidia.cu13": ("libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13"),
}


def preload_cuda_runtime() -> None:
    for package, names in _LIBS.items():
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        for name in names:
            for sub in ("lib", "bin"):
                path = root / sub / name
                if path.exists():
                    try:
                        ctypes.CDLL(str(path), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
                    except OSError as exc:  # a broken install: say so, _core's import will fail clearly
                        print(f"llama_mtp: could not load {path}: {exc}", file=sys.stderr)

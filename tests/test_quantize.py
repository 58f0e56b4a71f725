"""llama_mtp.quantize (src/bindings/quantize.cpp): it writes beside dst and renames, so a
failure never destroys what dst held and a Model mapping dst keeps reading its own pages."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from child import run_child

import llama_mtp


def test_a_failed_quantization_leaves_dst_as_it_was(model_path: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.gguf"
    shutil.copy(model_path, truncated)
    os.truncate(truncated, truncated.stat().st_size // 2)
    precious = tmp_path / "precious.gguf"
    precious.write_bytes(b"the user's own file")
    with pytest.raises(llama_mtp.ModelLoadError):
        llama_mtp.quantize(truncated, precious, "Q8_0")
    assert precious.read_bytes() == b"the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.gguf", "truncated.gguf"]  # no temporary left


def test_a_directory_or_a_missing_directory_as_dst_is_refused(model_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(llama_mtp.InvalidArgumentError, match="not a regular file"):
        llama_mtp.quantize(model_path, folder, "Q8_0")
    assert folder.is_dir()
    with pytest.raises(llama_mtp.InvalidArgumentError, match="directory does not exist"):
        llama_mtp.quantize(model_path, tmp_path / "missing" / "out.gguf", "Q8_0")


def test_quantizing_over_a_loaded_model_replaces_the_file_not_its_pages(model_path: Path, tmp_path: Path) -> None:
    """The old file stays mapped by the loaded Model (a rewrite in place ended in SIGBUS):
    in a child, so that a crash fails the test."""
    dst = tmp_path / "in-use.gguf"
    shutil.copy(model_path, dst)
    out = run_child(
        """
        m = L.Model(sys.argv[2])
        before = L.generate(m, "Once upon a time", max_tokens=16, n_threads=1, draft="none").tokens
        L.quantize(sys.argv[1], sys.argv[2], "Q8_0")
        after = L.generate(m, "Once upon a time", max_tokens=16, n_threads=1, draft="none").tokens
        print(before == after, "Q8_0" in L.Model(sys.argv[2]).description)
    """,
        str(model_path),
        str(dst),
        timeout=120,
    )
    assert out.split() == ["True", "True"]


def test_a_quantization_writes_dst(model_path: Path, tmp_path: Path) -> None:
    dst = tmp_path / "q.gguf"
    dst.write_bytes(b"old")
    llama_mtp.quantize(model_path, dst, "Q8_0")
    assert "Q8_0" in llama_mtp.Model(str(dst)).description
    assert [p.name for p in tmp_path.iterdir()] == ["q.gguf"]

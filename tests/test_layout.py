"""The shape of the source tree: the C++ engine stands without Python (bindings -> engine ->
llama.cpp), and every source file keeps to one job of a readable size."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
ENGINE, BINDINGS = SRC / "engine", SRC / "bindings"
MAX_LINES = 420  # "~400 lines at most"
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.MULTILINE)


def engine_files() -> list[Path]:
    return sorted(p for p in ENGINE.iterdir() if p.suffix in (".h", ".cpp"))


@pytest.mark.parametrize("path", engine_files(), ids=lambda p: p.name)
def test_no_engine_file_includes_python_or_the_bindings(path: Path) -> None:
    bindings_only = {p.name for p in BINDINGS.iterdir()} - {p.name for p in ENGINE.iterdir()}
    text = path.read_text()
    for header in INCLUDE.findall(text):
        assert not header.startswith("nanobind/"), f"{path.name} includes {header}"
        assert header != "Python.h", f"{path.name} includes Python.h"
        assert Path(header).name not in bindings_only, f"{path.name} includes the bindings' {header}"
    assert not re.search(r"\bnb::|\bnanobind::|\bPy[A-Z][A-Za-z]*_[A-Za-z]+\(", text), f"{path.name} uses Python"


def test_the_engine_is_built_without_nanobind() -> None:
    cmake = (SRC.parent / "CMakeLists.txt").read_text()
    engine_links = re.search(r"target_link_libraries\(llama_mtp_engine([^)]*)\)", cmake)
    assert engine_links is not None and "nanobind" not in engine_links.group(1)
    engine_includes = re.search(r"target_include_directories\(llama_mtp_engine([^)]*)\)", cmake)
    assert engine_includes is not None and "bindings" not in engine_includes.group(1)


def test_no_source_file_passes_the_size_limit() -> None:
    sources = [p for p in SRC.rglob("*") if p.suffix in (".py", ".cpp", ".h")]
    assert len(sources) > 50
    too_long = {str(p.relative_to(SRC)): n for p in sources if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not too_long, f"split these by concept (at most {MAX_LINES} lines): {too_long}"

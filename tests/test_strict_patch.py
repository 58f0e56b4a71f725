"""scripts/strict_patch.py and fetch_llama_cpp.py: extern/patches apply only exactly where they say, and a
refetch dates the files it changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import strict_patch  # noqa: E402


def function(name: str, body: str) -> list[str]:
    return [f"static int {name}(int n_max) {{", "    int n = 0;", *body.split("\n"), "    return n;", "}", ""]


def tree_with(tmp_path: Path, lines: list[str]) -> Path:
    (tmp_path / "src").mkdir(parents=True, exist_ok=True)
    (tmp_path / "src" / "spec.cpp").write_text("\n".join(lines) + "\n")
    return tmp_path


CHANGE = "    n = n_max;"
# the same three lines in two functions: draft_eagle3 first, draft_mtp 800 lines later
BLOCK = "    // the draft length\n    n = 3;\n    // done"
PADDING = [f"// line {i}" for i in range(790)]


def pinned() -> list[str]:
    return ["#include <x>", "", *function("draft_eagle3", BLOCK), *PADDING, *function("draft_mtp", BLOCK)]


def make_patch(tmp_path: Path, original: list[str]) -> Path:
    """A patch of draft_mtp's block made for `original`, with the hunk's function in its header."""
    start = len(original) - len(function("draft_mtp", BLOCK)) + 2  # 0-based index of the block
    text = "\n".join(
        [
            "replace the fixed draft length",
            "",
            "--- a/src/spec.cpp",
            "+++ b/src/spec.cpp",
            f"@@ -{start},4 +{start},4 @@ static int draft_mtp(int n_max) {{",
            "     int n = 0;",
            "     // the draft length",
            "-    n = 3;",
            "+" + CHANGE,
            "     // done",
            "",
        ]
    )
    patch = tmp_path / "0001-test.patch"
    patch.write_text(text)
    return patch


def test_a_patch_applies_where_it_says(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    original = pinned()
    patch = make_patch(tmp_path / "p", original)
    tree = tree_with(tmp_path / "t", original)
    strict_patch.apply(tree, patch)
    text = (tree / "src" / "spec.cpp").read_text().split("\n")
    mtp = text.index("static int draft_mtp(int n_max) {")
    assert text[mtp + 3] == CHANGE and CHANGE not in text[:mtp]


def test_a_patch_refuses_the_same_context_in_another_function_far_away(tmp_path: Path) -> None:
    # upstream moved draft_mtp up by 795 lines (the b11434 case): git apply takes the first
    # match, in draft_eagle3, silently; the fetch must fail instead
    (tmp_path / "p").mkdir()
    patch = make_patch(tmp_path / "p", pinned())
    moved = [
        "#include <x>",
        "",
        *function("draft_eagle3", BLOCK),
        *PADDING[:5],
        *function("draft_mtp", "    n = 1;"),
        *PADDING[5:],
    ]
    tree = tree_with(tmp_path / "t", moved)
    before = (tree / "src" / "spec.cpp").read_text()
    git = subprocess.run(["git", "apply", "--check", "-p1", str(patch)], cwd=tree, capture_output=True, text=True)
    assert git.returncode == 0, "the hazard: git apply would take this patch"
    with pytest.raises(strict_patch.PatchError, match="does not match the tree within 3 lines"):
        strict_patch.apply(tree, patch)
    assert (tree / "src" / "spec.cpp").read_text() == before  # nothing written


def test_a_patch_allows_a_small_offset_and_no_fuzz(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    original = pinned()
    patch = make_patch(tmp_path / "p", original)
    shifted = ["// one more line", "// and another", *original]
    strict_patch.apply(tree_with(tmp_path / "a", shifted), patch)
    fuzzed = [line.replace("// done", "// done.") for line in original]
    with pytest.raises(strict_patch.PatchError):
        strict_patch.apply(tree_with(tmp_path / "b", fuzzed), patch)


def test_a_patch_refuses_a_change_that_lands_in_another_function(tmp_path: Path) -> None:
    # the context matches within the offset, but the function around it was renamed: the
    # change would no longer be in the function the hunk names
    (tmp_path / "p").mkdir()
    original = pinned()
    patch = make_patch(tmp_path / "p", original)
    renamed = [line.replace("draft_mtp", "draft_dflash") for line in original]
    with pytest.raises(strict_patch.PatchError, match="lands in 'static int draft_dflash"):
        strict_patch.apply(tree_with(tmp_path / "t", renamed), patch)


def test_every_hunk_of_extern_patches_names_its_function() -> None:
    for patch in sorted((ROOT / "extern" / "patches").glob("*.patch")):
        for fp in strict_patch.parse(patch.read_text(), patch.name):
            for hunk in fp.hunks:
                # a hunk above every function (includes) names none: only those may be empty
                assert hunk.heading or hunk.old_start < 40, f"{patch.name}: {fp.path} line {hunk.old_start}"


def test_annotate_writes_the_heading_git_would(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    original = pinned()
    patch = make_patch(tmp_path / "p", original)
    patch.write_text(patch.read_text().replace(" static int draft_mtp(int n_max) {", ""))
    tree = tree_with(tmp_path / "t", original)
    with pytest.raises(strict_patch.PatchError, match="without headings"):
        strict_patch.apply(tree, patch)
    strict_patch.annotate(tree, patch)
    assert "@@ static int draft_mtp(int n_max) {" in patch.read_text()
    assert CHANGE in (tree / "src" / "spec.cpp").read_text()


def test_a_refetch_dates_only_what_changed(tmp_path: Path) -> None:
    # a withdrawn patch brings a file back to the archive's content and old time: it must look
    # new to the build, while untouched files keep their times (no rebuild)
    import os

    import fetch_llama_cpp

    old, new = tmp_path / "old", tmp_path / "new"
    for tree in (old, new):
        (tree / "src").mkdir(parents=True)
    (old / "src" / "same.c").write_text("int a;\n")
    (old / "src" / "patched.c").write_text("int b = 1;  /* patched */\n")
    os.utime(old / "src" / "same.c", (1_000_000, 1_000_000))
    os.utime(old / "src" / "patched.c", (2_000_000, 2_000_000))
    (new / "src" / "same.c").write_text("int a;\n")
    (new / "src" / "patched.c").write_text("int b = 0;\n")
    (new / "src" / "added.c").write_text("int c;\n")
    for name in ("same.c", "patched.c", "added.c"):
        os.utime(new / "src" / name, (500, 500))  # the archive's times
    fetch_llama_cpp.carry_times(old, new)
    assert (new / "src" / "same.c").stat().st_mtime == 1_000_000
    assert (new / "src" / "patched.c").stat().st_mtime > 2_000_000
    assert (new / "src" / "added.c").stat().st_mtime > 2_000_000

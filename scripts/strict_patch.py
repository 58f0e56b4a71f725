"""Apply a unified diff so that it cannot land in the wrong place.

`git apply` and `patch` move a hunk to wherever its context matches (git: any offset; patch:
with fuzz), so a patch made for one llama.cpp tree can apply silently to the wrong function
of another (extern/patches/0003 applies to b11434 at offset -795, inside draft-eagle3 instead
of draft-mtp). Here a hunk applies only where its header says, give or take MAX_OFFSET lines,
with every context and removed line exactly as written (no fuzz, no whitespace leniency), and
only when the function its header names (git's heading: the last line before the hunk that
starts with a letter, '_' or '$') is still the one it lands in. Anything else raises
PatchError, naming the patch, the file and the hunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MAX_OFFSET = 3
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_HEADING = re.compile(r"^[A-Za-z_$]")
_HEADING_WIDTH = 80  # git keeps this much of a heading


class PatchError(RuntimeError):
    """A patch that does not apply exactly where it says."""


@dataclass
class Hunk:
    old_start: int
    new_start: int
    heading: str
    header_line: int  # index of its @@ line in the patch text
    lines: list[str] = field(default_factory=list)  # ' ', '-', '+' lines without newlines

    def old(self) -> list[str]:
        return [line[1:] for line in self.lines if line[:1] in (" ", "-")]

    def new(self) -> list[str]:
        return [line[1:] for line in self.lines if line[:1] in (" ", "+")]


@dataclass
class FilePatch:
    path: str
    hunks: list[Hunk] = field(default_factory=list)


def parse(text: str, name: str = "patch") -> list[FilePatch]:
    files: list[FilePatch] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            target = lines[i + 1][4:].split("\t")[0].strip()
            if target == "/dev/null" or not target.startswith("b/"):
                raise PatchError(f"{name}: only changes to existing files (b/...) are supported, not {target}")
            files.append(FilePatch(target[2:]))
            i += 2
            continue
        m = _HUNK.match(line)
        if m:
            if not files:
                raise PatchError(f"{name}: a hunk before any file header (line {i + 1})")
            old_len = int(m.group(2) or 1)
            new_len = int(m.group(4) or 1)
            hunk = Hunk(int(m.group(1)), int(m.group(3)), m.group(5).strip(), i)
            i += 1
            n_old = n_new = 0
            while n_old < old_len or n_new < new_len:
                if i >= len(lines):
                    raise PatchError(f"{name}: hunk at line {hunk.header_line + 1} is cut short")
                body = lines[i]
                if body.startswith("\\"):  # "\ No newline at end of file"
                    i += 1
                    continue
                kind = body[:1] or " "  # an empty context line may lose its space
                if kind not in (" ", "-", "+"):
                    raise PatchError(f"{name}: malformed hunk line {i + 1}: {body!r}")
                hunk.lines.append(kind + body[1:])
                n_old += kind in (" ", "-")
                n_new += kind in (" ", "+")
                i += 1
            files[-1].hunks.append(hunk)
            continue
        i += 1
    if not files:
        raise PatchError(f"{name}: no file changes found")
    return files


def _lines(text: str) -> list[str]:
    """A file's lines without their newlines (no empty last one for a final newline)."""
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def heading_at(lines: list[str], index: int) -> str:
    """git's default function heading for a hunk starting at lines[index]."""
    for j in range(index - 1, -1, -1):
        if _HEADING.match(lines[j]):
            return lines[j].rstrip()[:_HEADING_WIDTH].strip()
    return ""


def _place(lines: list[str], hunk: Hunk, expected: int) -> int | None:
    old = hunk.old()
    for distance in range(MAX_OFFSET + 1):
        for at in (expected,) if distance == 0 else (expected - distance, expected + distance):
            if 0 <= at <= len(lines) - len(old) and lines[at : at + len(old)] == old:
                return at
    return None


def apply_to_lines(lines: list[str], fp: FilePatch, name: str, headings: list[str] | None = None) -> list[str]:
    """The file's lines with fp applied. headings: when given, the heading found for each hunk is
    appended to it (annotation) instead of being checked against the hunk's own."""
    out = list(lines)
    delta = 0
    for k, hunk in enumerate(fp.hunks, 1):
        # a pure insertion's header names the line after which it goes (0: the top)
        expected = hunk.old_start - 1 + delta + (1 if not hunk.old() else 0)
        at = _place(out, hunk, expected)
        where = f"{name}: hunk {k} of {fp.path} (line {hunk.old_start})"
        if at is None:
            raise PatchError(
                f"{where} does not match the tree within {MAX_OFFSET} lines of where it says "
                "(no fuzz, no larger offset: the patch was made for another tree)"
            )
        found = heading_at(out, at)
        if headings is not None:
            headings.append(found)
        elif found != hunk.heading[:_HEADING_WIDTH].strip():
            raise PatchError(
                f"{where} lands in {found or 'no function'!r}, not in {hunk.heading or 'no function'!r}"
                " (a patch made without headings: fetch_llama_cpp.py --annotate-patches)"
            )
        out[at : at + len(hunk.old())] = hunk.new()
        delta += len(hunk.new()) - len(hunk.old())
    return out


def apply(tree: Path, patch: Path) -> None:
    """Apply patch to the files under tree, every file checked before any is written."""
    files = parse(patch.read_text(), patch.name)
    results: dict[Path, str] = {}
    for fp in files:
        target = tree / fp.path
        if not target.is_file():
            raise PatchError(f"{patch.name}: {fp.path} is not in the tree")
        text = results[target] if target in results else target.read_text()
        new = apply_to_lines(_lines(text), fp, patch.name)
        results[target] = "\n".join(new) + ("\n" if text.endswith("\n") else "")
    for target, text in results.items():
        target.write_text(text)


def annotate(tree: Path, patch: Path) -> None:
    """Write each hunk's function heading (as found in tree) into patch's @@ lines, then apply it."""
    text = patch.read_text()
    files = parse(text, patch.name)
    patch_lines = text.split("\n")
    for fp in files:
        target = tree / fp.path
        headings: list[str] = []
        apply_to_lines(_lines(target.read_text()), fp, patch.name, headings)
        for hunk, heading in zip(fp.hunks, headings, strict=True):
            m = _HUNK.match(patch_lines[hunk.header_line])
            assert m is not None
            old = m.group(1) + ("," + m.group(2) if m.group(2) is not None else "")
            new = m.group(3) + ("," + m.group(4) if m.group(4) is not None else "")
            patch_lines[hunk.header_line] = f"@@ -{old} +{new} @@" + (" " + heading if heading else "")
    patch.write_text("\n".join(patch_lines))
    apply(tree, patch)

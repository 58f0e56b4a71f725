"""docs/porting-from-rust.md names only things that exist: every `MtpSession.x`/`session.x`,
`config.x` and error class in its llama-mtp column."""

from __future__ import annotations

import re
from pathlib import Path

import llama_mtp

DOC = Path(__file__).resolve().parent.parent / "docs" / "porting-from-rust.md"


def llama_mtp_column() -> list[str]:
    cells = []
    for line in DOC.read_text().splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) > 3 and not set(parts[2]) <= set("-"):
            cells.append(parts[2])
    return cells


def test_every_name_in_the_porting_guide_exists() -> None:
    names = [name for cell in llama_mtp_column() for name in re.findall(r"`([^`]+)`", cell)]
    assert len(names) > 30
    checked = 0
    for name in names:
        for attr in re.findall(r"\b(?:session|MtpSession)\.(\w+)", name):
            assert hasattr(llama_mtp.MtpSession, attr), attr
            checked += 1
        for attr in re.findall(r"\bconfig\.(\w+)", name):
            assert hasattr(llama_mtp.MtpSessionConfig, attr), attr
            checked += 1
        for cls in re.findall(r"\b(\w+Error)\b", name):
            assert isinstance(getattr(llama_mtp, cls), type), cls
            checked += 1
    assert checked > 25

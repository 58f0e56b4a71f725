from __future__ import annotations

from pathlib import Path

import pytest

from llama_mtp.cli import main


def test_demo(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import llama_mtp.cli as cli

    # the real demo model is large; the command's logic is the same on a small one
    monkeypatch.setattr(cli, "DEMO_MODEL", dict(kind="hybrid", acceptance=0.9))
    monkeypatch.setenv("LLAMA_MTP_CACHE", str(tmp_path))
    assert main(["demo", "--tokens", "40"]) == 0
    out = capsys.readouterr()
    assert "speedup" in out.out and "acceptance per position" in out.out
    assert "output identical to plain   yes" in out.out
    assert "plain decoding" in out.err  # progress bars


def test_generate(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    assert main(["generate", "-m", str(model_path), "-p", "Hello", "-n", "12", "--n-draft-max", "2"]) == 0
    out = capsys.readouterr()
    assert len(out.out.split()) == 12
    assert "mean acceptance length" in out.err


def test_info(capsys: pytest.CaptureFixture[str], model_path: Path, kind: str) -> None:
    assert main(["info", "-m", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "MTP capable     yes" in out
    assert ("n_rs_seq >= 3" in out) == (kind == "hybrid")


def test_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2


def test_bench(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    assert main(["bench", "-m", str(model_path), "--n-draft-max", "1,3", "--tokens", "24", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "recommended" in out and "plain" in out
    assert len([line for line in out.splitlines() if line.strip().startswith(("1 ", "3 "))]) == 2

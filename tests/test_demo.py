"""llama-mtp demo: the run on a small model (the real-sized one is the benchmarks'), and the
verdict it prints: a speedup where MTP pays, a plain statement with the measured costs where not."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from llama_mtp import demo
from llama_mtp.cli import main


def test_demo_runs_on_the_tiny_model(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # the default model is shaped like a real one (written once, ~1 min); the logic is the same
    monkeypatch.setattr(demo, "DEMO_MODEL", dict(kind="hybrid", acceptance=0.9))
    monkeypatch.setenv("LLAMA_MTP_CACHE_DIR", str(tmp_path))
    assert main(["demo", "-n", "40", "--model", "tiny"]) == 0
    out = capsys.readouterr()
    assert "acceptance per position" in out.out
    assert "speedup" in out.out or "MTP cannot pay" in out.out
    assert "output identical to plain   yes" in out.out
    assert "plain decoding" in out.err and "40/40" in out.err  # progress bars (tqdm)
    # the adaptive length is the default, and the demo says what it chose
    assert "MTP (n_draft_max=adaptive)" in out.err
    assert "draft lengths chosen" in out.out and "speed predicted / measured" in out.out


def test_the_default_model_is_a_real_shape() -> None:
    from llama_mtp.shapes import SHAPES

    assert demo.DEMO_SHAPE in SHAPES and SHAPES[demo.DEMO_SHAPE].n_vocab > 100_000
    with pytest.raises(SystemExit):
        main(["demo", "--model", "huge"])  # argparse's choices


def generation(tokens_per_s: float, lengths: list[int], plain_ms: float = 25.0) -> Any:
    """What verdict_lines reads of a Generation: speed, lengths chosen, the controller's costs."""
    controller = SimpleNamespace(
        n_max=6,
        step_seconds=np.array([plain_ms, 2.1 * plain_ms, 2.6 * plain_ms, 3.0 * plain_ms, 0, 0, 0]) / 1e3,
        expected_tokens=np.array([1.0, 1.8, 2.3, 2.5, 2.6, 2.7, 2.7]),
        acceptance=np.array([0.8, 0.65, 0.5, 0.4, 0.3, 0.3]),
    )
    return SimpleNamespace(tokens_per_s=tokens_per_s, draft_lengths=np.array(lengths), controller=controller)


def test_where_auto_decoded_plainly_the_demo_says_mtp_cannot_pay_and_why() -> None:
    lines = demo.verdict_lines(generation(40.0, [0]), generation(38.0, [0] * 95 + [1] * 5), "adaptive")
    text = "\n".join(lines)
    assert "MTP cannot pay for this model on this machine" in text and "95% of its steps" in text
    assert not any(line.startswith("speedup") for line in lines)  # no slowdown printed as a result
    assert "k=1: 2.10x the time for 1.80 tokens" in text  # why: its measured costs
    assert "0.80, 0.65, 0.50" in text and "upper bound" in text


def test_a_warm_auto_that_never_drafted_says_the_speeds_differ_by_noise_only() -> None:
    lines = demo.verdict_lines(generation(40.0, [0]), generation(37.0, [0] * 256), "adaptive")
    assert "plainly on every step, as plain decoding does" in lines[0] and "noise only" in lines[0]


def test_where_mtp_pays_the_demo_prints_the_speedup() -> None:
    lines = demo.verdict_lines(generation(40.0, [0]), generation(60.0, [3] * 50), "adaptive")
    assert lines == ["speedup                         1.50x"]


def test_a_fixed_length_that_loses_is_named() -> None:
    lines = demo.verdict_lines(generation(40.0, [0]), generation(30.0, [3] * 50), 3)
    assert lines[0].endswith("0.75x")
    assert "slower than plain decoding: n_draft_max=3 cannot pay" in lines[1]


def test_the_demo_drafts_from_a_vocabulary_that_loses_what_real_text_loses(tmp_path: Path) -> None:
    import llama_mtp
    from llama_mtp.draft_vocab import AUTO_DRAFT_VOCAB, AUTO_DRAFT_VOCAB_MIN_VOCAB, coverage
    from llama_mtp.testing import tiny_mtp_model

    big = llama_mtp.Model(str(tiny_mtp_model(tmp_path / "big.gguf", n_vocab=AUTO_DRAFT_VOCAB_MIN_VOCAB, n_embd=64)))
    plain = llama_mtp.generate(big, "bapa bobe", max_tokens=100, draft="none")
    assert isinstance(plain, llama_mtp.Generation)
    vocab, line = demo.demo_draft_vocab(big, "bapa bobe", plain)
    assert f"{AUTO_DRAFT_VOCAB} most frequent" in line and "2% of the text's tokens" in line
    rank_of = np.full(big.n_vocab, big.n_vocab)
    rank_of[vocab] = 0
    reach = coverage(rank_of, 1, big.tokenize("bapa bobe").tolist(), plain.tokens)[1]
    assert reach == pytest.approx(demo.DEMO_COVERAGE, abs=0.01)
    small = llama_mtp.Model(str(tiny_mtp_model(tmp_path / "small.gguf")))
    assert demo.demo_draft_vocab(small, "bapa", plain)[0] == "full"

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import llama_mtp
from llama_mtp.testing import tiny_model_spec, tiny_mtp_model


def test_cached_by_parameters(tmp_path: Path) -> None:
    p = tmp_path / "m.gguf"
    tiny_mtp_model(p, kind="dense", seed=3)
    mtime = os.stat(p).st_mtime_ns
    assert tiny_mtp_model(p, kind="dense", seed=3) == p
    assert os.stat(p).st_mtime_ns == mtime  # reused, not rewritten
    tiny_mtp_model(p, kind="dense", seed=4)  # other parameters: rewritten
    assert os.stat(p).st_mtime_ns != mtime


def test_default_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_MTP_CACHE", str(tmp_path))
    a = tiny_mtp_model(kind="hybrid", n_vocab=800)
    assert a.parent == tmp_path and a.is_file()
    assert tiny_mtp_model(kind="hybrid", n_vocab=800) == a


def test_acceptance_dial_marks_a_fraction_of_words() -> None:
    spec = tiny_model_spec(acceptance=0.75)
    wrong = sum(not spec.mtp_agrees(t) for t in spec.words)
    assert abs(wrong / len(spec.words) - 0.25) < 0.01
    full = tiny_model_spec(acceptance=1.0)
    assert all(full.mtp_agrees(t) for t in full.words)


def test_cycle_covers_every_word() -> None:
    spec = tiny_model_spec(n_vocab=900)
    seen = spec.expected_tokens([spec.start], len(spec.words))
    assert sorted(seen) == sorted(spec.words)


@pytest.mark.parametrize("bad", [dict(kind="moe"), dict(acceptance=1.5), dict(n_vocab=10),
                                 dict(n_embd=48), dict(n_layer=0)])
def test_invalid_parameters(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        tiny_model_spec(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["dense", "hybrid"])
def test_other_sizes_decode_as_crafted(tmp_path: Path, kind: str) -> None:
    path = tiny_mtp_model(tmp_path / "big.gguf", kind=kind, n_embd=128, n_layer=3, n_vocab=2000, seed=5)  # type: ignore[arg-type]
    spec = tiny_model_spec(kind=kind, n_embd=128, n_layer=3, n_vocab=2000, seed=5)  # type: ignore[arg-type]
    model = llama_mtp.Model(str(path))
    assert model.n_embd == 128 and model.n_vocab == 2000
    ctx = model.new_context(n_ctx=256, n_batch=64)
    b = llama_mtp.Batch(64)
    prompt = model.tokenize("xyz")
    b.set_tokens(prompt)
    ctx.decode(b)
    s = llama_mtp.Sampler()
    out = []
    pos = len(prompt)
    for _ in range(12):
        t = s.sample(ctx)
        out.append(t)
        b.set_tokens(np.array([t], dtype=np.int32), pos0=pos)
        pos += 1
        ctx.decode(b)
    assert out == spec.expected_tokens(list(prompt), 12)

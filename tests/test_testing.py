from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import llama_mtp
from llama_mtp.testing import TinyModelSpec, tiny_model_spec, tiny_mtp_model


def test_cached_by_parameters(tmp_path: Path) -> None:
    p = tmp_path / "m.gguf"
    tiny_mtp_model(p, kind="dense", seed=3)
    mtime = os.stat(p).st_mtime_ns
    assert tiny_mtp_model(p, kind="dense", seed=3) == p
    assert os.stat(p).st_mtime_ns == mtime  # reused, not rewritten
    tiny_mtp_model(p, kind="dense", seed=4)  # other parameters: rewritten
    assert os.stat(p).st_mtime_ns != mtime


def test_default_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_MTP_CACHE_DIR", str(tmp_path))
    a = tiny_mtp_model(kind="hybrid", n_vocab=800)
    assert a.parent == tmp_path and a.is_file()
    assert tiny_mtp_model(kind="hybrid", n_vocab=800) == a
    # the older name still works where the new one is not set
    monkeypatch.delenv("LLAMA_MTP_CACHE_DIR")
    monkeypatch.setenv("LLAMA_MTP_CACHE", str(tmp_path / "old"))
    assert tiny_mtp_model(kind="hybrid", n_vocab=800).parent == tmp_path / "old"


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


@pytest.mark.parametrize("bad", [dict(kind="moe"), dict(acceptance=1.5), dict(n_vocab=10), dict(n_embd=48), dict(n_layer=0)])
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


def _draft_steps(spec: TinyModelSpec, k: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy MTP with k drafts per step walked along the crafted text: per draft position, how
    often it was drafted with the ones before accepted, and how often then accepted."""
    tried, accepted = np.zeros(k), np.zeros(k)
    last = spec.start
    for _ in range(steps):
        x, n = last, 0
        while n < k:
            tried[n] += 1
            if not spec.mtp_agrees(x):
                break
            accepted[n] += 1
            x, n = spec.next_token(x), n + 1
        for _ in range(n + 1):  # the accepted drafts and the target's own token
            last = spec.next_token(last)
    return tried, accepted


def test_an_acceptance_profile_falls_with_the_draft_position() -> None:
    profile = (0.8, 0.65, 0.5)
    spec = tiny_model_spec(n_vocab=30000, acceptance_profiles=[profile])
    tried, accepted = _draft_steps(spec, 3, 6000)
    conditional = accepted / tried
    # after a rejection a step starts at a run's first word: position j sees p_j; after a full
    # acceptance it starts deeper in a run, so the measured values sit a little below
    assert conditional[0] > conditional[1] > conditional[2]
    for got, want in zip(conditional, profile, strict=True):
        assert want - 0.1 < got < want + 0.03, conditional
    assert spec.params()["acceptance_profiles"] == [list(profile)]
    assert tiny_model_spec(acceptance=0.8).params().get("acceptance_profiles") is None  # names kept


def test_acceptance_regions_change_inside_one_text() -> None:
    spec = tiny_model_spec(n_vocab=30000, acceptance_profiles=[[0.97], [0.2]], region_tokens=500)
    text = spec.expected_tokens([spec.start], 4000)
    agree = np.array([spec.mtp_agrees(t) for t in text], dtype=float)
    # the cycle starts at the first region: the first 500 words are easy, the next 500 hard
    assert agree[:500].mean() > 0.9 and agree[500:1000].mean() < 0.35
    assert agree[1000:1500].mean() > 0.9


@pytest.mark.parametrize(
    "bad",
    [
        dict(acceptance_profiles=[[]]),
        dict(acceptance_profiles=[[1.2]]),
        dict(acceptance_profiles=[[0.9], [0.2]], region_tokens=0),
    ],
)
def test_invalid_acceptance_profiles(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="acceptance|region"):
        tiny_model_spec(**bad)  # type: ignore[arg-type]


def test_a_profile_model_decodes_as_crafted(tmp_path: Path) -> None:
    # the head's drafts follow the layout: generate() measures the profile's falling acceptance
    path = tiny_mtp_model(tmp_path / "p.gguf", n_vocab=4000, acceptance_profiles=[[0.9, 0.5]])
    spec = tiny_model_spec(n_vocab=4000, acceptance_profiles=[[0.9, 0.5]])
    g = llama_mtp.generate(llama_mtp.Model(str(path)), "xyz", max_tokens=400, n_draft_max=2, ignore_eos=True, n_threads=1)
    model = llama_mtp.Model(str(path))
    assert g.tokens == spec.expected_tokens(model.tokenize("xyz"), 400)
    assert g.stats is not None
    first, second = g.stats.acceptance_per_position  # of all drafts: position 2 chains position 1
    assert 0.75 < first < 0.97 and second / first < 0.7

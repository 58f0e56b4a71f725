"""The draft vocabulary's ranking and coverage (llama_mtp/draft_vocab.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import llama_mtp
from llama_mtp import draft_vocab
from llama_mtp.testing import tiny_mtp_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> llama_mtp.Model:
    return llama_mtp.Model(str(tiny_mtp_model(tmp_path_factory.mktemp("dv") / "m.gguf")))


def test_counts_rank_most_frequent_first_and_ties_in_id_order(model: llama_mtp.Model) -> None:
    texts = ["bapa bapa bapa bobe", "bobe bapa"]
    counts = draft_vocab.token_counts(model, texts)
    tokens = np.concatenate([model.tokenize(t, add_special=False) for t in texts])
    assert counts.sum() == tokens.size and counts.shape == (model.n_vocab,)
    ranking = draft_vocab.ranked_tokens(counts)
    assert sorted(ranking.tolist()) == list(range(model.n_vocab))  # a permutation
    seen = ranking[: int((counts > 0).sum())]
    assert list(counts[seen]) == sorted(counts[seen], reverse=True)
    unseen = ranking[int((counts > 0).sum()) :]
    assert list(unseen) == sorted(unseen)  # the tokenizer's order


def test_the_vocabulary_holds_the_top_k_the_end_tokens_and_the_text(model: llama_mtp.Model) -> None:
    ranking = draft_vocab.ranked_tokens(np.arange(model.n_vocab)[::-1])  # id 0 most frequent
    prompt = [model.n_vocab - 1, model.n_vocab - 2]
    vocab = draft_vocab.draft_vocabulary(model, 10, ranking, always=prompt)
    assert set(range(10)) <= set(vocab.tolist()) and set(prompt) <= set(vocab.tolist())
    assert all(t in vocab for t in range(model.n_vocab) if model.is_eog(t))
    assert list(vocab) == sorted(set(vocab.tolist()))
    with pytest.raises(llama_mtp.InvalidArgumentError):
        draft_vocab.draft_vocabulary(model, 0, ranking)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        draft_vocab.draft_vocabulary(model, model.n_vocab + 1, ranking)


def test_coverage_counts_the_set_and_what_the_text_already_used() -> None:
    rank_of = np.array([0, 1, 2, 3, 4, 5])  # token t ranks t-th
    # k=2 holds tokens 0 and 1; the prompt holds 5; token 4 is new once, then seen
    static, context = draft_vocab.coverage(rank_of, 2, prompt=[5], generated=[0, 4, 4, 5, 1, 3])
    assert static == pytest.approx(2 / 6)  # 0, 1
    assert context == pytest.approx(4 / 6)  # 0, 4 (the second), 5, 1; the first 4 and 3 are out
    assert draft_vocab.coverage(rank_of, 2, [], []) == (1.0, 1.0)


def test_the_python_corpus_is_fixed_bounded_and_excludes() -> None:
    a = list(draft_vocab.python_corpus(max_bytes=200_000))
    assert a == list(draft_vocab.python_corpus(max_bytes=200_000))  # the same order everywhere
    assert 0 < sum(len(t.encode()) for t in a) <= 200_000
    every = list(draft_vocab.python_corpus(max_bytes=20_000_000))
    without = list(draft_vocab.python_corpus(max_bytes=20_000_000, exclude=("json/",)))
    assert len(without) < len(every)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        list(draft_vocab.python_corpus(max_bytes=-1))


def test_with_coverage_leaves_out_first_uses_at_the_asked_rate() -> None:
    text = [10, 11, 12, 10, 13, 14, 15, 11, 16, 17] * 2  # 8 distinct tokens, 20 positions
    vocab = np.arange(5, dtype=np.int32)
    for coverage in (1.0, 0.9, 0.75, 0.7):
        kept = draft_vocab.with_coverage(vocab, text, prompt=[12], coverage=coverage, seed=3)
        assert set(vocab.tolist()) <= set(kept.tolist()) and 12 in kept  # the base and the prompt stay
        rank_of = np.full(20, 10**6)
        rank_of[kept] = 0
        assert draft_vocab.coverage(rank_of, 1, [12], text)[1] == pytest.approx(coverage)
    # more asked out than the text has first uses: all of them (but the prompt's) are out
    kept = draft_vocab.with_coverage(vocab, text, prompt=[12], coverage=0.0)
    assert set(kept.tolist()) == set(vocab.tolist()) | {12}
    with pytest.raises(llama_mtp.InvalidArgumentError):
        draft_vocab.with_coverage(vocab, text, coverage=1.5)


def test_draft_vocab_ids_resolves_every_setting(model: llama_mtp.Model) -> None:
    assert draft_vocab.draft_vocab_ids(model, "full") is None
    assert draft_vocab.draft_vocab_ids(model, None) is None
    assert model.n_vocab < draft_vocab.AUTO_DRAFT_VOCAB_MIN_VOCAB
    assert draft_vocab.draft_vocab_ids(model, "auto") is None  # a small vocabulary keeps its head whole
    assert draft_vocab.draft_vocab_ids(model, model.n_vocab) is None
    ids = draft_vocab.draft_vocab_ids(model, 100)
    assert ids is not None and 100 <= ids.size <= 100 + 8 and list(ids) == sorted(set(ids.tolist()))
    exact = draft_vocab.draft_vocab_ids(model, (7, 3, 7))
    assert exact is not None and {3, 7} <= set(exact.tolist()) and all(t in (3, 7) or model.is_eog(t) for t in exact)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        draft_vocab.draft_vocab_ids(model, [model.n_vocab])
    with pytest.raises(llama_mtp.InvalidArgumentError):
        draft_vocab.draft_vocab_ids(model, "most")


def test_the_ranking_is_cached_and_a_corrupt_cache_entry_is_a_miss(
    model: llama_mtp.Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLAMA_MTP_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(draft_vocab, "DEFAULT_CORPUS_BYTES", 100_000)
    draft_vocab._rankings.clear()
    first = draft_vocab.ranking_for(model)
    (entry,) = (tmp_path / "draft-vocab").iterdir()
    assert np.array_equal(np.load(entry), first)
    draft_vocab._rankings.clear()
    entry.write_bytes(b"not an array")  # corrupt: ranked again and rewritten
    assert np.array_equal(draft_vocab.ranking_for(model), first)
    assert np.array_equal(np.load(entry), first)
    draft_vocab._rankings.clear()
    np.save(entry, np.zeros(model.n_vocab, dtype=np.int32))  # not a permutation
    assert np.array_equal(draft_vocab.ranking_for(model), first)
    draft_vocab._rankings.clear()

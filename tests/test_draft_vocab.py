"""The draft vocabulary's ranking and coverage (llama_mtp/draft_vocab.py)."""

from __future__ import annotations

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

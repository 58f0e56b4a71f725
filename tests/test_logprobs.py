"""SamplingParams.logprobs and .logit_bias (src/engine/token_probs.cpp, greedy.cpp's
argmax_biased, sampler.cpp's merged_bias): each token's log-probability under the target's
distribution, drafted tokens scored as plain decoding scores them; a logit bias that greedy,
sampled, grammar and drafted tokens all obey."""

from __future__ import annotations

import math

import numpy as np
import pytest

import llama_mtp
from llama_mtp import LlamaError

PROMPT = "The quick brown fox"


def test_logprobs_describe_each_token(model: llama_mtp.Model) -> None:
    g = llama_mtp.generate(model, PROMPT, max_tokens=24, logprobs=4)
    assert g.logprobs is not None and [p.token for p in g.logprobs] == g.tokens
    for p in g.logprobs:
        assert p.logprob <= 0 and len(p.top_ids) == 4
        assert list(p.top_logprobs) == sorted(p.top_logprobs, reverse=True)
        assert p.top_ids[0] == p.token and p.top_logprobs[0] == pytest.approx(p.logprob)  # greedy: the argmax
    assert llama_mtp.generate(model, PROMPT, max_tokens=4).logprobs is None  # only when asked


def test_drafted_tokens_are_scored_as_plain_decoding_scores_them(model: llama_mtp.Model) -> None:
    mtp = llama_mtp.generate(model, PROMPT, max_tokens=32, logprobs=3, draft="mtp", ignore_eos=True)
    plain = llama_mtp.generate(model, PROMPT, max_tokens=32, logprobs=3, draft="none", ignore_eos=True)
    assert mtp.stats is not None and mtp.stats.accepted_tokens > 0  # drafted tokens among them
    assert mtp.tokens == plain.tokens and mtp.logprobs is not None and plain.logprobs is not None
    for a, b in zip(mtp.logprobs, plain.logprobs, strict=True):
        assert a.top_ids == b.top_ids
        np.testing.assert_allclose(a.top_logprobs, b.top_logprobs, atol=2e-3)


def test_logprobs_of_the_whole_vocabulary_sum_to_one(dense_model: llama_mtp.Model) -> None:
    n = min(dense_model.n_vocab, llama_mtp.options.MAX_LOGPROBS)
    g = llama_mtp.generate(dense_model, PROMPT, max_tokens=3, logprobs=n, temperature=0.8, seed=1)
    assert g.logprobs is not None
    for p in g.logprobs:
        total = float(np.exp(np.asarray(p.top_logprobs, dtype=np.float64)).sum())
        assert total == pytest.approx(1.0, abs=1e-4) if n == dense_model.n_vocab else total <= 1.0 + 1e-6
        assert p.token in p.top_ids or n < dense_model.n_vocab
        only = llama_mtp.generate(dense_model, PROMPT, max_tokens=1, logprobs=0).logprobs
        assert only is not None and only[0].top_ids == []  # 0: the token's own logprob alone


@pytest.mark.parametrize("draft", ["none", "mtp", "auto"])
def test_a_ban_moves_greedy_to_the_next_best(model: llama_mtp.Model, draft: str) -> None:
    free = llama_mtp.generate(model, PROMPT, max_tokens=1, logprobs=2)
    assert free.logprobs is not None
    banned = llama_mtp.generate(model, PROMPT, max_tokens=1, logit_bias={free.tokens[0]: -math.inf}, draft=draft)
    assert banned.tokens[0] == free.logprobs[0].top_ids[1]
    # every later token too: the biased text is plain decoding's biased text, drafts or not
    ban = {t: -math.inf for t in free.logprobs[0].top_ids}
    plain = llama_mtp.generate(model, PROMPT, max_tokens=24, logit_bias=ban, draft="none", ignore_eos=True)
    other = llama_mtp.generate(model, PROMPT, max_tokens=24, logit_bias=ban, draft=draft, ignore_eos=True)
    assert other.tokens == plain.tokens and not set(plain.tokens) & set(ban)


def test_a_positive_bias_wins_and_sampling_obeys_bans(model: llama_mtp.Model) -> None:
    favourite = 7
    g = llama_mtp.generate(model, PROMPT, max_tokens=5, logit_bias={favourite: 100.0}, ignore_eos=True)
    assert g.tokens == [favourite] * 5
    free = llama_mtp.generate(model, PROMPT, max_tokens=48, temperature=1.5, seed=3, ignore_eos=True)
    ban = dict.fromkeys(set(free.tokens), -math.inf)
    sampled = llama_mtp.generate(model, PROMPT, max_tokens=48, temperature=1.5, seed=3, ignore_eos=True, logit_bias=ban)
    assert not set(sampled.tokens) & set(ban)


def test_a_grammar_and_a_bias_together(model: llama_mtp.Model) -> None:
    letters = {t: -math.inf for t in range(model.n_vocab) if model.token_to_piece(t) == "a"}
    g = llama_mtp.generate(model, PROMPT, max_tokens=8, grammar='root ::= ("a" | "b")+', logit_bias=letters)
    assert g.text and set(g.text) <= {"b"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"logit_bias": {-1: 1.0}},
        {"logit_bias": {0: math.nan}},
        {"logit_bias": {0: math.inf}},
        {"logit_bias": {1 << 40: 1.0}},
        {"logit_bias": [(1, 2.0)]},
        {"logprobs": -1},
        {"logprobs": 5000},
    ],
)
def test_bad_values_are_typed_errors(model: llama_mtp.Model, kwargs: dict[str, object]) -> None:
    with pytest.raises(LlamaError):
        llama_mtp.generate(model, PROMPT, max_tokens=2, **kwargs)  # type: ignore[arg-type]


def test_a_token_outside_the_vocabulary_is_refused_and_the_llm_goes_on(model: llama_mtp.Model) -> None:
    with llama_mtp.LLM(model) as llm:
        with pytest.raises(llama_mtp.InvalidArgumentError, match="logit_bias"):
            llm.generate(PROMPT, max_tokens=2, logit_bias={model.n_vocab: 1.0})
        assert llm.generate(PROMPT, max_tokens=2).tokens

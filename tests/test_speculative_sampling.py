"""Speculative sampling draws from the target's distribution (src/engine/generator_verify.cpp):
at temperature > 0, the tokens generated with MTP drafting, fixed and "auto", sampled from the
head and verified by rejection sampling or the head's top token verified by sample-and-match,
with and without a draft vocabulary, and with n-gram drafts taken from the text, have the same
distribution at every position as plain sampling; rejection sampling accepts at least as much. A chi-square test of homogeneity per
position over a few thousand independently seeded samples per arm, on a model whose drafts are
right about 60 % of the time; and a check that the test does see a slightly different sampler."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2_contingency

import llama_mtp
from llama_mtp.testing import tiny_mtp_model

N_SAMPLES = 3000  # per arm
LENGTH = 5  # generated positions compared
TEMPERATURE = 1.0
ALPHA = 1e-4  # per position and arm: the seeds are fixed, so a pass is reproducible
PROMPT = "The story begins:"


@pytest.fixture(scope="module")
def model() -> llama_mtp.Model:
    # crafted greedy acceptance 0.9; at temperature 1 the target's sample agrees with the
    # draft about 60 % of the time (checked below)
    return llama_mtp.Model(str(tiny_mtp_model(kind="dense", acceptance=0.9)))


def samples(
    model: llama_mtp.Model, first_seed: int, temperature: float = TEMPERATURE, **kwargs: object
) -> tuple[np.ndarray, list[llama_mtp.Generation]]:
    """N_SAMPLES generations, sequence i seeded with first_seed + i: (tokens, generations)."""
    gens = llama_mtp.generate(
        model,
        [PROMPT] * N_SAMPLES,
        max_tokens=LENGTH,
        temperature=temperature,
        seed=first_seed,
        ignore_eos=True,
        n_threads=1,
        **kwargs,
    )  # type: ignore[call-overload]
    return np.array([g.tokens for g in gens]), gens


def homogeneity_p_values(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Per position, the chi-square test of homogeneity of two samples of tokens; tokens
    expected fewer than 5 times in either sample are pooled into one category."""
    out = []
    for j in range(a.shape[1]):
        tokens = np.union1d(a[:, j], b[:, j])
        table = np.array([[np.count_nonzero(x[:, j] == t) for t in tokens] for x in (a, b)])
        expected = table.sum(axis=0) / 2
        frequent = expected >= 5
        pooled = np.column_stack([table[:, frequent], table[:, ~frequent].sum(axis=1)])
        pooled = pooled[:, pooled.sum(axis=0) > 0]
        out.append(float(chi2_contingency(pooled).pvalue) if pooled.shape[1] > 1 else 1.0)
    return out


@pytest.fixture(scope="module")
def plain(model: llama_mtp.Model) -> np.ndarray:
    return samples(model, 0, draft="none")[0]


# the even tokens: a draft vocabulary that leaves half the model's words out of the head's reach
EVEN = "even"


@pytest.mark.parametrize(
    "n_draft_max, sampled_drafts, draft_vocab",
    [(3, True, "full"), (3, False, "full"), ("adaptive", True, "full"), (3, True, EVEN), (3, False, EVEN)],
)
def test_speculative_sampling_draws_from_the_plain_distribution(
    model: llama_mtp.Model, plain: np.ndarray, n_draft_max: int | str, sampled_drafts: bool, draft_vocab: str
) -> None:
    vocab: object = range(0, model.n_vocab, 2) if draft_vocab == EVEN else draft_vocab
    spec, gens = samples(
        model, 1_000_000, draft="auto", n_draft_max=n_draft_max, sampled_drafts=sampled_drafts, draft_vocab=vocab
    )
    # the samples are independent (other seeds), not a replay of plain's
    assert (spec != plain).any(axis=1).mean() > 0.5
    stats = gens[0].stats
    assert stats is not None
    if n_draft_max == 3 and draft_vocab == "full":
        assert 0.45 < stats.acceptance_rate < 0.8  # drafts right about 60 % of the time
    else:
        assert stats.verified_tokens > 0  # "auto" did draft
    p_values = homogeneity_p_values(plain, spec)
    assert min(p_values) > ALPHA, p_values


@pytest.mark.parametrize("temperature", [0.7, 1.0])
def test_rejection_sampling_accepts_at_least_what_sample_and_match_does(model: llama_mtp.Model, temperature: float) -> None:
    rates = {}
    for sampled in (False, True):
        gens = llama_mtp.generate(
            model,
            [PROMPT] * 400,
            max_tokens=24,
            temperature=temperature,
            seed=7,
            ignore_eos=True,
            n_threads=1,
            draft="mtp",
            n_draft_max=3,
            sampled_drafts=sampled,
        )
        stats = gens[0].stats
        assert stats is not None and stats.draft_tokens > 0
        rates[sampled] = stats.acceptance_rate
    assert rates[True] >= rates[False] - 0.01, rates


def test_the_test_sees_a_different_sampler(model: llama_mtp.Model, plain: np.ndarray) -> None:
    hotter, _ = samples(model, 2_000_000, temperature=TEMPERATURE * 1.15, draft="none")
    assert min(homogeneity_p_values(plain, hotter)) < ALPHA


@pytest.fixture(scope="module")
def echo_prompt(model: llama_mtp.Model) -> list[int]:
    """The prompt, the words the model continues it with, and the prompt again: n-gram drafts
    (matching one token) then propose those words, right as often as sampling follows them."""
    story = list(model.tokenize(PROMPT))
    words = llama_mtp.generate(model, story, max_tokens=12, draft="none", ignore_eos=True).tokens
    return story + words + story[1:]


@pytest.mark.parametrize("n_draft_max", [3, "adaptive"])
def test_ngram_drafts_keep_the_plain_distribution(model: llama_mtp.Model, echo_prompt: list[int], n_draft_max: int | str) -> None:
    with llama_mtp.LLM(model, n_ctx=64 * 256, n_parallel=64, draft="none", n_threads=1) as llm:
        gens = llm.generate([echo_prompt] * N_SAMPLES, max_tokens=LENGTH, temperature=TEMPERATURE, seed=0, ignore_eos=True)
        reference = np.array([g.tokens for g in gens])
    with llama_mtp.LLM(
        model,
        n_ctx=64 * 256,
        n_parallel=64,
        draft="ngram",
        ngram="ngram-simple",
        ngram_size_n=1,
        n_draft_max=n_draft_max,
        n_threads=1,
    ) as llm:  # type: ignore[arg-type]
        gens = llm.generate(
            [echo_prompt] * N_SAMPLES, max_tokens=LENGTH, temperature=TEMPERATURE, seed=1_000_000, ignore_eos=True
        )
    spec = np.array([g.tokens for g in gens])
    assert (spec != reference).any(axis=1).mean() > 0.5
    if n_draft_max == 3:  # every draft on offer verified: right part of the time
        tally = gens[-1].drafter_stats["ngram"]
        assert tally["draft_tokens"] > 0 and 0.2 < tally["acceptance_rate"] < 0.9, tally
    else:  # "auto" verifies them while it finds they pay (timing decides how long): it did
        assert sum(g.drafter_stats["ngram"]["draft_tokens"] for g in gens) > 0
    p_values = homogeneity_p_values(reference, spec)
    assert min(p_values) > ALPHA, p_values


# the target's sampler chain shaped by top-k, top-p and min-p: verification samples through the
# same chain, so every drafter keeps the filtered distribution too
FILTERS = [dict(top_k=4), dict(top_p=0.6), dict(min_p=0.2), dict(top_k=6, top_p=0.8, min_p=0.05)]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_every_drafter_keeps_the_filtered_distribution(
    model: llama_mtp.Model, echo_prompt: list[int], filters: dict[str, float]
) -> None:
    with llama_mtp.LLM(model, n_ctx=64 * 256, n_parallel=64, draft="none", n_threads=1) as llm:
        gens = llm.generate(
            [echo_prompt] * N_SAMPLES, max_tokens=LENGTH, temperature=TEMPERATURE, seed=0, ignore_eos=True, **filters
        )  # type: ignore[arg-type]
        reference = np.array([g.tokens for g in gens])
    # the filter changes what plain sampling draws (or this test would check nothing new)
    with llama_mtp.LLM(model, n_ctx=64 * 256, n_parallel=64, draft="none", n_threads=1) as llm:
        gens = llm.generate([echo_prompt] * N_SAMPLES, max_tokens=LENGTH, temperature=TEMPERATURE, seed=0, ignore_eos=True)
        unfiltered_echo = np.array([g.tokens for g in gens])
    assert min(homogeneity_p_values(unfiltered_echo, reference)) < ALPHA
    # MTP alone (sampled drafts and rejection sampling; the head's top token and sample-and-match),
    # n-gram alone, both chosen step by step
    for draft, sampled in (("mtp", True), ("mtp", False), ("ngram", True), ("auto", True)):
        with llama_mtp.LLM(
            model, n_ctx=64 * 256, n_parallel=64, draft=draft, ngram_size_n=1, n_draft_max=3, n_threads=1, sampled_drafts=sampled
        ) as llm:
            gens = llm.generate(
                [echo_prompt] * N_SAMPLES, max_tokens=LENGTH, temperature=TEMPERATURE, seed=2_000_000, ignore_eos=True, **filters
            )  # type: ignore[arg-type]
        spec = np.array([g.tokens for g in gens])
        drafted = sum(t["draft_tokens"] for g in gens for t in g.drafter_stats.values())
        assert drafted > 0, draft
        p_values = homogeneity_p_values(reference, spec)
        assert min(p_values) > ALPHA, (draft, p_values)

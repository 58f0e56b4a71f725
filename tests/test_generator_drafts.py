"""Drafts from the text itself (src/engine/generator_drafts.cpp, ngram_draft.cpp): upstream's
n-gram drafters beside MTP in the generator's step loop. Greedy output equals plain greedy for
every drafter, on prompts that make the text repeat; each drafter's statistics add up; a
sequence drafts from its own text only."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llama_mtp
from llama_mtp.drafters import NGRAM_KINDS
from llama_mtp.sizing import mtp_context_params

N_MAX = 8  # the n-gram drafts' longest here


def plain(model: llama_mtp.Model, prompt: list[int], n: int) -> list[int]:
    return llama_mtp.generate(model, prompt, max_tokens=n, draft="none", ignore_eos=True).tokens


def echo_prompt(model: llama_mtp.Model, n: int = 40) -> tuple[list[int], list[int]]:
    """(a prompt holding the text the model is about to write, that text): the tiny models
    continue one cycle of words after any non-word token, so the prompt repeats it."""
    story = list(model.tokenize("The story begins:"))
    continuation = plain(model, story, n)
    return story + continuation + list(model.tokenize("\nAgain:", add_special=False)), continuation


def generator(
    model: llama_mtp.Model, prompts: list[list[int]], *, mtp: bool, ngram: str | None, adaptive: bool, n: int, **kw: object
) -> llama_mtp.Generator:
    sizes = mtp_context_params(model, n_draft_max=N_MAX, n_seq=len(prompts), n_ctx=512, n_threads=2)
    target = llama_mtp.Context(model, **sizes.target())  # type: ignore[arg-type]
    draft = llama_mtp.Context(model, **sizes.draft()) if mtp else None  # type: ignore[arg-type]
    g = llama_mtp.Generator(
        target,
        draft,
        prompts,
        max_tokens=n,
        ignore_eos=True,
        n_draft_max=3,
        adaptive=adaptive,
        ngram=ngram,
        ngram_n_max=N_MAX,
        ngram_size_n=2,
        **kw,
    )  # type: ignore[arg-type]
    while not g.done:
        g.step()
    return g


@pytest.mark.parametrize("mtp", [False, True])
@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("ngram", NGRAM_KINDS)
def test_every_drafter_gives_plain_greedy_text(model: llama_mtp.Model, ngram: str, adaptive: bool, mtp: bool) -> None:
    prompt, continuation = echo_prompt(model)
    expected = plain(model, prompt, 48)
    assert expected[:40] == continuation  # the workload repeats itself, as a code edit does
    g = generator(model, [prompt], mtp=mtp, ngram=ngram, adaptive=adaptive, n=48)
    assert g.tokens[0] == expected
    assert g.ngram == ngram
    tally = g.drafter_stats["ngram"]
    assert tally["drafts"] > 0 and 0 < tally["accepted_tokens"] <= tally["draft_tokens"]
    assert len(tally["accepted_at"]) <= N_MAX and tally["accepted_at"][0] <= tally["drafts"]
    # a step verifies fewer rows than it decodes tokens when drafts are right
    assert g.n_steps < len(expected)
    kinds = g.step_drafters
    assert len(kinds) == g.n_steps == len(g.step_draft_lengths)
    assert set(kinds) <= {"plain", "mtp", "ngram", "both"} and "ngram" in kinds
    lengths = np.asarray(g.step_draft_lengths)
    assert lengths.max() <= N_MAX and all(k == "plain" for k, n in zip(kinds, lengths, strict=True) if n == 0)
    assert tally["steps"] == sum(k in ("ngram", "both") for k in kinds)
    # what one request reads of the per-step logs: their tails, not the whole history
    assert g.step_drafters_from(3) == kinds[3:] and g.step_drafters_from(10**6) == []
    assert np.array_equal(g.step_draft_lengths_from(3), lengths[3:])
    assert g.n_draft_lengths == len(g.draft_lengths) and np.array_equal(g.draft_lengths_from(1), g.draft_lengths[1:])
    with pytest.raises(llama_mtp.InvalidArgumentError):
        g.step_drafters_from(-1)


def test_mtp_stays_warm_beside_ngram_drafts(model: llama_mtp.Model) -> None:
    """The n-gram rows go through the MTP session as its own would: after the repeated part, the
    MTP drafts of the new text are still right (the tiny models' heads are always right)."""
    prompt, _ = echo_prompt(model, 24)
    g = generator(model, [prompt], mtp=True, ngram="ngram-simple", adaptive=False, n=64)
    assert g.tokens[0] == plain(model, prompt, 64)
    mtp, ngram = g.drafter_stats["mtp"], g.drafter_stats["ngram"]
    assert ngram["accepted_tokens"] > 0 and mtp["draft_tokens"] > 0
    assert mtp["acceptance_rate"] == 1.0
    assert g.session is not None and g.session.stats.verified_tokens == mtp["draft_tokens"]


def test_a_sequence_drafts_from_its_own_text_only(model: llama_mtp.Model) -> None:
    story = list(model.tokenize("The story begins:"))
    with llama_mtp.LLM(model, n_ctx=1024, draft="ngram", n_draft_max=3, ngram="ngram-mod", ngram_size_n=2) as llm:
        first = llm.generate(story, max_tokens=40, ignore_eos=True)
        again = llm.generate(story, max_tokens=40, ignore_eos=True)
    assert again.tokens == first.tokens
    # the text does not repeat within one sequence: nothing to draft from, whatever an earlier
    # request wrote (upstream's ngram-mod would remember it)
    assert first.drafter_stats["ngram"]["drafts"] == again.drafter_stats["ngram"]["drafts"] == 0


def test_models_without_nextn_layers_speculate_from_the_text(model_path: object) -> None:
    no_mtp = llama_mtp.Model(str(model_path), load_mtp=False)
    prompt, _ = echo_prompt(no_mtp)
    with llama_mtp.LLM(no_mtp, n_ctx=1024) as llm:
        assert llm.draft == "ngram" and not llm.mtp
        g = llm.generate(prompt, max_tokens=48, ignore_eos=True)
        plain_too = llm.generate(prompt, max_tokens=48, ignore_eos=True, draft="none")
        with pytest.raises(llama_mtp.InvalidArgumentError, match='draft="mtp"'):
            llm.generate(prompt, max_tokens=4, draft="mtp")
    assert g.tokens == plain_too.tokens
    assert g.drafter_stats["ngram"]["accepted_tokens"] > 0 and plain_too.drafter_stats["ngram"]["drafts"] == 0
    assert g.n_steps < plain_too.n_steps


def test_bad_ngram_settings_raise_typed_errors(model: llama_mtp.Model) -> None:
    sizes = mtp_context_params(model, n_draft_max=4, n_ctx=256, n_threads=2)
    target = llama_mtp.Context(model, **sizes.target())  # type: ignore[arg-type]
    prompt = [list(model.tokenize("x"))]
    with pytest.raises(llama_mtp.InvalidArgumentError, match="unknown n-gram drafter"):
        llama_mtp.Generator(target, None, prompt, max_tokens=4, ngram="ngram-cache")
    with pytest.raises(llama_mtp.InvalidArgumentError, match="ngram_n_max"):
        llama_mtp.Generator(target, None, prompt, max_tokens=4, ngram="ngram-simple", ngram_n_max=0)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="ngram_n_min"):
        llama_mtp.Generator(target, None, prompt, max_tokens=4, ngram="ngram-mod", ngram_n_max=4, ngram_n_min=5)
    if model.is_hybrid:  # rollback of rejected drafts: one recurrent snapshot per draft token
        with pytest.raises(llama_mtp.InvalidArgumentError, match="n_rs_seq >= 16"):
            llama_mtp.Generator(target, None, prompt, max_tokens=4, ngram="ngram-simple", ngram_n_max=16)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="verify batches"):
        llama_mtp.Generator(target, None, prompt, max_tokens=4, ngram="ngram-simple", ngram_n_max=256)
    for bad in (dict(ngram="ngram-cache"), dict(ngram_n_max=0), dict(draft="eagle")):
        with pytest.raises(llama_mtp.InvalidArgumentError):
            llama_mtp.LLM(model, n_ctx=256, **bad)  # type: ignore[arg-type]
    # the generator is still usable after a refused one
    g = llama_mtp.Generator(target, None, prompt, max_tokens=4, ngram="ngram-simple", ngram_n_max=4)
    while not g.done:
        g.step()
    assert len(g.tokens[0]) == 4


@pytest.fixture(scope="module")
def llms() -> Iterator[dict[str, llama_mtp.LLM]]:
    from llama_mtp.testing import tiny_mtp_model

    m = llama_mtp.Model(str(tiny_mtp_model(kind="dense")))
    made = {
        draft: llama_mtp.LLM(m, n_ctx=3 * 512, n_parallel=3, draft=draft, ngram="ngram-simple", ngram_size_n=2)
        for draft in ("none", "ngram", "auto")
    }
    yield made
    for llm in made.values():
        llm.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_greedy_text_is_plain_greedy_text_for_repeating_prompts(llms: dict[str, llama_mtp.LLM], data: st.DataObject) -> None:
    """Prompts made of stretches of the text the model writes, some altered (drafts that go
    wrong part-way), in batches, with stop strings: every drafter gives plain's tokens."""
    m = llms["none"].model
    story = list(m.tokenize("The story begins:"))
    words = llms["none"].generate(story, max_tokens=48, ignore_eos=True).tokens
    n_prompts = data.draw(st.integers(1, 3), label="prompts")
    prompts = []
    for _ in range(n_prompts):
        pieces = data.draw(
            st.lists(st.tuples(st.integers(0, 40), st.integers(1, 16), st.booleans()), min_size=1, max_size=4), label="stretches"
        )
        p = list(story)
        for start, length, altered in pieces:
            stretch = list(words[start : start + length])
            if altered and len(stretch) > 2:
                stretch[len(stretch) // 2] = words[(start + 7) % len(words)]
            p += stretch
        p += list(m.tokenize(data.draw(st.sampled_from(["\nAgain:", ".", ""]), label="end"), add_special=False))
        prompts.append(p)
    n = data.draw(st.integers(1, 40), label="max_tokens")
    stop = data.draw(st.one_of(st.none(), st.sampled_from([m.detokenize([w]).strip() for w in words[5:12]])), label="stop")
    expected = llms["none"].generate(prompts, max_tokens=n, stop=stop)
    for draft in ("ngram", "auto"):
        got = llms[draft].generate(prompts, max_tokens=n, stop=stop)
        for e, g in zip(expected, got, strict=True):
            assert (g.tokens, g.text, g.finish_reason) == (e.tokens, e.text, e.finish_reason), draft

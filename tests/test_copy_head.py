"""A tiny model whose MTP head needs the draft context's history (llama_mtp/_tiny_copy_head.py),
and the loop's shortcuts measured on it: a draft context that misses positions drafts wrong, so
plain stretches of "auto" (generator_lag.cpp) and a reused prompt prefix must leave the draft
context its whole history."""

from __future__ import annotations

import numpy as np
import pytest

import llama_mtp
from llama_mtp.testing import TinyModelSpec, tiny_model_spec, tiny_mtp_model

PERIOD = 24


@pytest.fixture(scope="module", params=["hybrid", "dense"])
def copy_model(request: pytest.FixtureRequest) -> tuple[llama_mtp.Model, TinyModelSpec]:
    args = dict(kind=request.param, mtp_head="copy", cycle_length=PERIOD)
    return llama_mtp.Model(tiny_mtp_model(**args)), tiny_model_spec(**args)  # type: ignore[arg-type]


def one_period(spec: TinyModelSpec) -> list[int]:
    words = [spec.start]
    while len(words) < PERIOD:
        words.append(spec.cycle[words[-1]])
    return words


def mtp_acceptance(drafter_stats: dict[str, dict[str, object]]) -> tuple[int, int]:
    mtp = drafter_stats["mtp"]
    return int(mtp["accepted_tokens"]), int(mtp["draft_tokens"])  # type: ignore[call-overload]


def test_the_copy_head_drafts_right_only_from_history(copy_model: tuple[llama_mtp.Model, TinyModelSpec]) -> None:
    model, spec = copy_model
    with_history = [1, *one_period(spec), spec.start]  # the last token occurred before too
    without = [1, 5]  # a non-word: the text starts the period, which the draft context never saw
    for prompt in (with_history, without):
        g = llama_mtp.generate(model, prompt, max_tokens=PERIOD, n_draft_max=3, draft="mtp", ignore_eos=True)
        assert g.tokens == spec.expected_tokens(prompt, PERIOD)  # drafts never change the text
        accepted, drafted = mtp_acceptance(g.drafter_stats)
        if prompt is with_history:
            assert accepted >= 0.9 * drafted > 0
        else:
            assert accepted <= 0.1 * drafted


def test_the_spec_checks_the_copy_options() -> None:
    with pytest.raises(ValueError, match="mtp_head"):
        tiny_model_spec(mtp_head="attention")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cycle_length"):
        tiny_model_spec(cycle_length=1)
    with pytest.raises(ValueError, match="one cycle"):
        tiny_model_spec(cycle_length=8, acceptance_profiles=[[0.5]])
    spec = tiny_model_spec(cycle_length=8)
    recurring = [spec.expected_tokens([w], 8)[-1] == w for w in spec.words]
    assert sum(recurring) >= len(spec.words) - 15  # each word recurs 8 later (the last cycle takes the rest)
    assert tiny_model_spec().digest() == tiny_model_spec(mtp_head="token", cycle_length=0).digest()  # names kept


def plain_prior() -> dict[str, object]:
    """A controller state that learned that drafting never pays (acceptance 0): the next
    generation starts with plain steps, which skip the draft context, and probes later."""
    c = llama_mtp.DraftController(llama_mtp.AUTO_DRAFT_MAX, plain_skips_process=True)
    for _ in range(300):
        k = c.next()
        c.observe(k, k, 0, t_draft=0.0005 * k, t_verify=0.010 + 0.002 * k, t_process=0.001 if k else 0.0)
    return c.state()


def test_drafts_after_a_plain_stretch_see_the_whole_history(copy_model: tuple[llama_mtp.Model, TinyModelSpec]) -> None:
    # the draft context decodes what plain steps skipped (kept per position) before drafting
    # again; restarting it empty instead made every draft after the stretch wrong (0 of 1 here,
    # and auto then never drafted again). Whatever the timing makes the controller do later,
    # every draft it makes is right.
    model, spec = copy_model
    prompt = [1, *one_period(spec), spec.start]
    s = llama_mtp.stream(model, prompt, max_tokens=300, draft="mtp", n_threads=1, ignore_eos=True)
    s.generator.start_controller_from(plain_prior())
    tokens = list(s)
    lengths = np.asarray(s.generator.draft_lengths_from(0))
    assert lengths[0] == 0 and (lengths > 0).any()  # a plain stretch, then drafts
    accepted, drafted = mtp_acceptance(s.generator.drafter_stats)
    assert accepted == drafted > 0
    assert len(tokens) > 0


def test_a_reused_prefix_carries_its_draft_history(copy_model: tuple[llama_mtp.Model, TinyModelSpec]) -> None:
    model, spec = copy_model
    llm = llama_mtp.LLM(model, n_ctx=512)
    first_prompt = [1, *one_period(spec), spec.start]
    first = llm.generate(first_prompt, max_tokens=4, n_draft_max=3, draft="mtp", ignore_eos=True)
    second_prompt = first_prompt + first.tokens + spec.expected_tokens(first_prompt + first.tokens, 2)
    second = llm.generate(second_prompt, max_tokens=PERIOD, n_draft_max=3, draft="mtp", ignore_eos=True)
    assert second.n_cached_tokens > len(first_prompt) // 2
    accepted, drafted = mtp_acceptance(second.drafter_stats)
    assert accepted >= 0.9 * drafted > 0
    llm.close()


def test_a_plain_request_leaves_the_draft_context_in_step(copy_model: tuple[llama_mtp.Model, TinyModelSpec]) -> None:
    # an draft="none" request on an LLM skips the draft context; its positions are caught up, so the
    # next request that reuses its prefix drafts from the whole history
    model, spec = copy_model
    llm = llama_mtp.LLM(model, n_ctx=512)
    first_prompt = [1, *one_period(spec), spec.start]
    first = llm.generate(first_prompt, max_tokens=40, draft="none", ignore_eos=True)
    second_prompt = first_prompt + first.tokens + spec.expected_tokens(first_prompt + first.tokens, 2)
    second = llm.generate(second_prompt, max_tokens=PERIOD, n_draft_max=3, draft="mtp", ignore_eos=True)
    assert second.n_cached_tokens > len(first_prompt)
    accepted, drafted = mtp_acceptance(second.drafter_stats)
    assert accepted >= 0.9 * drafted > 0
    llm.close()


@pytest.mark.parametrize("continuation", ["parts after the prompt", "parts inside the prompt"])
def test_a_prompt_that_parts_from_the_kept_one_drafts_as_a_fresh_one(
    copy_model: tuple[llama_mtp.Model, TinyModelSpec], continuation: str
) -> None:
    # the second prompt keeps only part of what the slot holds: an attention target reuses the
    # common prefix, a hybrid one rolls back to its checkpoint after the first prompt. Either way
    # the draft context must pair the first new position with the target's row of the prefix's
    # last one (not of the last position the first request decoded): its drafts are then those of
    # a fresh LLM given the same prompt, draft for draft
    model, spec = copy_model
    first_prompt = [1, *one_period(spec), spec.start]
    words = one_period(spec)
    cut = len(first_prompt) if continuation == "parts after the prompt" else len(first_prompt) - 6
    jump = words[(words.index(first_prompt[cut - 1]) + 7) % PERIOD] if cut < len(first_prompt) else words[5]
    second_prompt = first_prompt[:cut] + spec.expected_tokens([jump], 5)[:4]
    runs = []
    for reuse in (True, False):
        with llama_mtp.LLM(model, n_ctx=512, n_threads=1) as llm:
            if reuse:
                llm.generate(first_prompt, max_tokens=12, n_draft_max=3, draft="mtp", ignore_eos=True)
            g = llm.generate(second_prompt, max_tokens=PERIOD, n_draft_max=3, draft="mtp", ignore_eos=True)
            runs.append((g.tokens, mtp_acceptance(g.drafter_stats), g.n_cached_tokens))
    (tokens, acceptance, cached), (fresh_tokens, fresh_acceptance, _) = runs
    # the reuse happened (a hybrid target keeps no state inside its prompt: nothing to reuse there)
    assert cached > 0 or (spec.kind == "hybrid" and cut < len(first_prompt))
    assert tokens == fresh_tokens
    assert acceptance == fresh_acceptance

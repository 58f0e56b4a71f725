"""n_draft_max="adaptive" in the generation loop (src/engine/generator.cpp with its DraftController):
the default, the same tokens as plain decoding whatever it chooses, plain stretches that skip
the draft context and restart it, and the stats it leaves."""

from __future__ import annotations

import numpy as np
import pytest

import llama_mtp
from llama_mtp.testing import tiny_model_spec, tiny_mtp_model

KINDS = ["dense", "hybrid"]


def model_of(kind: str, acceptance: float) -> llama_mtp.Model:
    return llama_mtp.Model(str(tiny_mtp_model(kind=kind, acceptance=acceptance)))  # type: ignore[arg-type]


def test_auto_is_the_default(model: llama_mtp.Model) -> None:
    g = llama_mtp.generate(model, "Default", max_tokens=40)
    assert isinstance(g, llama_mtp.Generation)
    assert isinstance(g.controller, llama_mtp.DraftController)
    assert g.controller.n_max == llama_mtp.AUTO_DRAFT_MAX
    assert g.draft_lengths.dtype == np.int32 and len(g.draft_lengths) == g.n_steps
    np.testing.assert_array_equal(g.draft_lengths, g.controller.history)
    assert list(g.draft_lengths[:3]) == [1, 0, 0]  # the warm-up
    assert g.draft_seconds > 0 and g.verify_seconds > 0 and g.process_seconds > 0
    assert g.draft_seconds + g.verify_seconds + g.process_seconds <= g.generation_seconds


def test_fixed_and_plain_runs_report_their_lengths(model: llama_mtp.Model) -> None:
    fixed = llama_mtp.generate(model, "Fixed", max_tokens=20, n_draft_max=2)
    assert isinstance(fixed, llama_mtp.Generation) and fixed.controller is None
    assert set(fixed.draft_lengths.tolist()) == {2} and len(fixed.draft_lengths) == fixed.n_steps
    plain = llama_mtp.generate(model, "Plain", max_tokens=20, draft="none")
    assert isinstance(plain, llama_mtp.Generation) and plain.controller is None
    assert len(plain.draft_lengths) == 0 and plain.draft_seconds == 0 and plain.process_seconds == 0


@pytest.mark.parametrize("kind", KINDS)
def test_plain_stretches_skip_the_draft_context_and_restart_it(kind: str) -> None:
    # drafts that are always wrong: "auto" decodes plainly between probes; each probe starts the
    # draft context over at the current position, on both the KV (dense) and hybrid targets
    model = model_of(kind, 0.0)
    prompts = ["Plain stretches", "and probes"]
    auto = llama_mtp.generate(model, prompts, max_tokens=300, ignore_eos=True)
    plain = llama_mtp.generate(model, prompts, max_tokens=300, draft="none", ignore_eos=True)
    for a, p in zip(auto, plain, strict=True):
        assert a.tokens == p.tokens
    lengths = auto[0].draft_lengths
    restarts = np.flatnonzero((lengths[:-1] == 0) & (lengths[1:] > 0))
    # mostly plain (the choice is timed: a loaded or sanitized machine probes more), with restarts
    assert (lengths[4:] == 0).mean() > 0.75 and len(restarts) >= 2


@pytest.mark.parametrize("kind", KINDS)
def test_auto_after_a_restart_drafts_right_again(kind: str) -> None:
    """With drafts that are always right, every probe after a plain stretch has its drafts
    accepted: the restarted draft context predicts from the right position and hidden state."""
    model = model_of(kind, 1.0)
    g = llama_mtp.generate(model, "Restarted", max_tokens=400, ignore_eos=True)
    assert isinstance(g, llama_mtp.Generation) and g.stats is not None and g.controller is not None
    assert g.stats.verified_tokens > 0 and g.stats.acceptance_rate == 1.0
    assert g.controller.acceptance.min() > 0.9
    spec = tiny_model_spec(kind=kind, acceptance=1.0)  # type: ignore[arg-type]
    assert g.tokens == spec.expected_tokens(model.tokenize("Restarted"), 400)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("acceptance", [0.3, 0.9])
def test_auto_greedy_equals_plain_greedy_with_stop_strings(kind: str, acceptance: float) -> None:
    model = model_of(kind, acceptance)
    kw = dict(max_tokens=120, stop=["zzzz-never"], ignore_eos=True)
    auto = llama_mtp.generate(model, ["One", "Two three", "Four"], n_draft_max="adaptive", **kw)  # type: ignore[call-overload]
    plain = llama_mtp.generate(model, ["One", "Two three", "Four"], draft="none", **kw)  # type: ignore[call-overload]
    assert [g.tokens for g in auto] == [g.tokens for g in plain]
    assert [g.text for g in auto] == [g.text for g in plain]


def test_the_generator_snapshot_is_a_copy(model: llama_mtp.Model) -> None:
    s = llama_mtp.stream(model, "Snapshot", max_tokens=30)
    it = iter(s)
    next(it)
    before = s.generator.controller
    assert before is not None
    n = before.n_steps
    for _ in it:
        pass
    assert before.n_steps == n  # a snapshot, not the live controller
    after = s.generator.controller
    assert after is not None and after.n_steps == s.generator.n_steps > n


@pytest.mark.parametrize("value", [0, 65, "fast", 2.5, True])
def test_bad_draft_lengths(model: llama_mtp.Model, value: object) -> None:
    with pytest.raises((TypeError, llama_mtp.InvalidArgumentError, llama_mtp.InvalidConfigError), match="n_draft_max"):
        llama_mtp.generate(model, "x", max_tokens=4, n_draft_max=value)  # type: ignore[call-overload]


def test_sizing_takes_auto(model: llama_mtp.Model) -> None:
    auto = llama_mtp.mtp_context_params(model, n_draft_max="adaptive")
    six = llama_mtp.mtp_context_params(model, n_draft_max=llama_mtp.AUTO_DRAFT_MAX)
    assert auto == six

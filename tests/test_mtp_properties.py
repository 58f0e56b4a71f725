"""Hypothesis property tests of the draft/accept state machine and of MTP == plain greedy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from mtp_helpers import Loop, mtp_contexts

import llama_mtp
from llama_mtp.testing import tiny_model_spec, tiny_mtp_model

_models: dict[tuple[str, float], llama_mtp.Model] = {}


def cached_model(kind: str, acceptance: float) -> llama_mtp.Model:
    key = (kind, acceptance)
    if key not in _models:
        path = tiny_mtp_model(kind=kind, acceptance=acceptance)  # type: ignore[arg-type]
        _models[key] = llama_mtp.Model(str(path))
    return _models[key]


N_SEQ = 2


class DraftAcceptMachine(RuleBasedStateMachine):
    """Random begin/draft/verify/accept calls (valid and invalid) against a model of the state."""

    @initialize(
        kind=st.sampled_from(["dense", "hybrid"]),
        acceptance=st.sampled_from([1.0, 0.6]),
        n_draft_max=st.integers(1, 5),
        n_min=st.integers(0, 2),
        p_min=st.sampled_from([0.0, 0.3, 0.99]),
    )
    def setup(self, kind: str, acceptance: float, n_draft_max: int, n_min: int, p_min: float) -> None:
        model = cached_model(kind, acceptance)
        self.n_draft_max = n_draft_max
        config = llama_mtp.MtpSessionConfig(n_seq=N_SEQ, n_draft_max=n_draft_max, n_min=min(n_min, n_draft_max), p_min=p_min)
        target, draft = mtp_contexts(model, n_draft_max=n_draft_max, n_seq=N_SEQ)
        self.session = llama_mtp.MtpSession(target, draft, config)
        self.loops: dict[int, Loop] = {}
        self.pending: dict[int, np.ndarray] = {}
        self.last_stats = self.session.stats.as_dict()
        self.prompts = [model.tokenize("First prompt!"), model.tokenize("and a second")]

    def unchanged(self, fn, exc) -> None:  # type: ignore[no-untyped-def]
        before = ({s: self.session.has_pending_proposal(s) for s in range(N_SEQ)}, self.session.stats.as_dict())
        with pytest.raises(exc):
            fn()
        after = ({s: self.session.has_pending_proposal(s) for s in range(N_SEQ)}, self.session.stats.as_dict())
        assert before == after

    def settle_empty(self, seq: int) -> None:
        """An empty proposal needs no accept(): the caller goes on (verify decoded [last])."""
        if seq in self.pending and len(self.pending[seq]) == 0:
            self.loops[seq].commit()
            del self.pending[seq]

    @rule(seq=st.integers(0, N_SEQ - 1))
    def begin(self, seq: int) -> None:
        if seq in self.pending and len(self.pending[seq]) == 0:
            del self.pending[seq]  # begin() settles it; the sequence starts over
        if seq in self.pending:
            self.unchanged(lambda: self.session.begin(seq, self.prompts[seq][:-1]), llama_mtp.ProposalPendingError)
            return
        target = self.session.target
        target.memory_seq_rm(seq)
        self.session.draft_context.memory_seq_rm(seq)
        self.loops[seq] = Loop(self.session, self.prompts[seq], seq_id=seq)

    @rule(seq=st.integers(-2, N_SEQ + 1))
    def draft(self, seq: int) -> None:
        if not 0 <= seq < N_SEQ:
            self.unchanged(lambda: self.session.draft(seq, 5, 300), llama_mtp.BadSeqIdError)
        elif seq in self.pending and len(self.pending[seq]) > 0:
            loop = self.loops[seq]
            self.unchanged(lambda: self.session.draft(seq, loop.n_past, loop.last), llama_mtp.ProposalPendingError)
        elif seq in self.loops:
            self.settle_empty(seq)
            proposal = self.loops[seq].draft()
            assert len(proposal) <= self.n_draft_max
            assert len(proposal) == 0 or len(proposal) >= self.session.n_min
            self.pending[seq] = proposal
            self.loops[seq].verify(proposal)

    @rule(seq=st.integers(-1, N_SEQ), extra=st.integers(-1, 3))
    def accept(self, seq: int, extra: int) -> None:
        if not 0 <= seq < N_SEQ:
            self.unchanged(lambda: self.session.accept(seq, 0), llama_mtp.BadSeqIdError)
        elif seq not in self.pending:
            self.unchanged(lambda: self.session.accept(seq, 0), llama_mtp.NoPendingProposalError)
        else:
            loop = self.loops[seq]
            n_ok = len(loop.ids) - 1
            n = n_ok + extra if extra > 0 else n_ok
            if n > len(self.pending[seq]):
                self.unchanged(lambda: self.session.accept(seq, n), llama_mtp.AcceptedTooManyError)
                return
            if n != n_ok:
                return  # a valid but untruthful count would desynchronise the KV cache
            self.session.accept(seq, n)
            loop.commit()
            del self.pending[seq]

    @invariant()
    def pending_matches(self) -> None:
        if not hasattr(self, "session"):
            return
        for s in range(N_SEQ):
            assert self.session.has_pending_proposal(s) == (s in self.pending)
            if s in self.pending:
                assert list(self.session.pending_proposal(s)) == list(self.pending[s])
        # empty proposals need no accept(): they never hold the session up
        assert self.session.is_quiescent == (not any(len(p) for p in self.pending.values()))

    @invariant()
    def stats_are_consistent(self) -> None:
        if not hasattr(self, "session"):
            return
        now = self.session.stats.as_dict()
        for key in ("n_drafts", "draft_tokens", "n_verified", "verified_tokens", "accepted_drafts", "accepted_tokens"):
            assert now[key] >= self.last_stats[key]
        assert now["accepted_tokens"] <= now["verified_tokens"] <= now["draft_tokens"]
        per_pos = now["acceptance_per_position"]
        assert all(a >= b for a, b in zip(per_pos, per_pos[1:], strict=False))
        assert all(0.0 <= a <= 1.0 for a in per_pos)
        self.last_stats = now

    @invariant()
    def greedy_output_is_the_crafted_text(self) -> None:
        if not hasattr(self, "loops"):
            return
        for seq, loop in self.loops.items():
            spec = tiny_model_spec(kind=self.session.target.model.arch == "qwen35" and "hybrid" or "dense")
            assert loop.out == spec.expected_tokens(list(self.prompts[seq]), len(loop.out))


TestDraftAcceptMachine = DraftAcceptMachine.TestCase
TestDraftAcceptMachine.settings = settings(max_examples=15, stateful_step_count=25, deadline=None)


@given(
    kind=st.sampled_from(["dense", "hybrid"]),
    acceptance=st.sampled_from([1.0, 0.6, 0.0]),
    n_draft_max=st.one_of(st.integers(1, 8), st.just("adaptive")),
    p_min=st.sampled_from([0.0, 0.5, 0.95]),
    prompts=st.lists(
        st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=12), min_size=1, max_size=3
    ),
    max_tokens=st.integers(1, 40),
)
def test_mtp_greedy_equals_plain_greedy(
    kind: str, acceptance: float, n_draft_max: int | str, p_min: float, prompts: list[str], max_tokens: int
) -> None:
    model = cached_model(kind, acceptance)
    arg = prompts if len(prompts) > 1 else prompts[0]
    plain = llama_mtp.stream(model, arg, max_tokens=max_tokens, draft="none")
    spec = llama_mtp.stream(
        model,
        arg,
        max_tokens=max_tokens,
        draft="auto",
        n_draft_max=n_draft_max,  # type: ignore[arg-type]
        p_min=p_min,
    )
    for s in (plain, spec):
        for _ in s:
            pass
    res_p = plain.result if isinstance(plain.result, list) else [plain.result]
    res_s = spec.result if isinstance(spec.result, list) else [spec.result]
    assert len(res_p) == len(res_s)
    for a, b in zip(res_p, res_s, strict=True):
        assert a is not None and b is not None
        assert b.tokens == a.tokens
        assert b.finish_reason == a.finish_reason
    # the KV cache ends at the same positions as the plain run
    for seq in range(len(prompts)):
        assert plain.generator.n_past[seq] == spec.generator.n_past[seq]
        pos_plain = plain.generator.session is None and _pos_max(plain, seq)
        assert _pos_max(spec, seq) == pos_plain


def _pos_max(s: llama_mtp.Stream, seq: int) -> int:
    return int(s._target.memory_seq_pos_max(seq))  # noqa: SLF001 (test introspection)


@pytest.mark.parametrize("kind", ["dense", "hybrid"])
@pytest.mark.parametrize("acceptance, n_draft_max", [(0.8, 1), (0.8, 3), (0.6, 2)])
def test_measured_acceptance_matches_the_crafted_rate(kind: str, acceptance: float, n_draft_max: int) -> None:
    """Acceptance rate of n_draft_max-token drafts when each draft token is right with
    probability q: q (1 - q^k) / (k (1 - q)). Tolerance: 5 points over 1500 tokens (the text
    walks a fixed random cycle, so the sample is one path, not independent draws)."""
    model = cached_model(kind, acceptance)
    g = llama_mtp.generate(model, "x", max_tokens=1500, n_draft_max=n_draft_max, draft="mtp")  # the text cycles: MTP alone
    assert isinstance(g, llama_mtp.Generation) and g.stats is not None
    q, k = acceptance, n_draft_max
    expected = q * (1 - q**k) / (k * (1 - q))
    assert abs(g.stats.acceptance_rate - expected) < 0.05
    assert abs(g.stats.acceptance_per_position[0] - q) < 0.05


@pytest.mark.parametrize("kind", ["dense", "hybrid"])
def test_zero_acceptance_accepts_nothing(kind: str) -> None:
    g = llama_mtp.generate(cached_model(kind, 0.0), "Nothing!", max_tokens=50, n_draft_max=3)
    assert isinstance(g, llama_mtp.Generation) and g.stats is not None
    assert g.stats.accepted_tokens == 0 and g.stats.draft_tokens > 0
    assert g.stats.mean_acceptance_length == 1.0


@pytest.mark.parametrize("kind", ["dense", "hybrid"])
def test_full_acceptance(kind: str) -> None:
    g = llama_mtp.generate(cached_model(kind, 1.0), "All!", max_tokens=100, n_draft_max=4)
    assert isinstance(g, llama_mtp.Generation) and g.stats is not None
    assert g.stats.acceptance_rate == 1.0
    assert g.n_steps == 20  # 100 tokens, 5 per target step

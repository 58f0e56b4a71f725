from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from mtp_helpers import Loop, mtp_contexts

import llama_mtp
from llama_mtp.testing import TinyModelSpec, tiny_mtp_model


def test_config_validation() -> None:
    c = llama_mtp.MtpSessionConfig()
    assert (c.n_seq, c.n_draft_max, c.n_min, c.p_min) == (1, 3, 0, 0.0)
    c2 = c.with_n_min(2).with_p_min(0.5)
    assert (c2.n_min, c2.p_min) == (2, 0.5) and c.n_min == 0  # builders return copies
    for bad in (
        dict(n_seq=0),
        dict(n_draft_max=0),
        dict(n_min=-1),
        dict(n_min=4),
        dict(p_min=1.5),
        dict(p_min=math.nan),
        dict(p_min=-0.1),
    ):
        with pytest.raises(llama_mtp.InvalidConfigError):
            llama_mtp.MtpSessionConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        c.with_n_min(9)
    assert issubclass(llama_mtp.InvalidConfigError, llama_mtp.MtpSessionError)
    assert issubclass(llama_mtp.MtpSessionError, llama_mtp.LlamaError)


def test_session_properties(model: llama_mtp.Model) -> None:
    target, draft = mtp_contexts(model)
    s = llama_mtp.MtpSession(target, draft)
    assert s.n_draft_max == 3 and s.n_min == 0 and s.p_min == 0.0 and s.n_seq == 1
    assert s.config == llama_mtp.MtpSessionConfig()
    assert s.target is target and s.draft_context is draft
    assert s.need_embd_pre_norm and not s.need_embd
    assert s.is_quiescent and not s.has_pending_proposal(0)
    s2 = llama_mtp.MtpSession.new_with_config(target, draft, llama_mtp.MtpSessionConfig(n_draft_max=2))
    assert s2.n_draft_max == 2


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda m: (mtp_contexts(m)[1], mtp_contexts(m)[1]), "DEFAULT"),
        (lambda m: (mtp_contexts(m)[0], mtp_contexts(m)[0]), "MTP"),
        (lambda m: (llama_mtp.Context(m, n_batch=2, n_rs_seq=3, n_ubatch=2), mtp_contexts(m)[1]), "n_batch"),
        (lambda m: (mtp_contexts(m, n_batch=64)[0], mtp_contexts(m, n_batch=16)[1]), "draft n_batch"),
        (lambda m: (mtp_contexts(m)[0], mtp_contexts(m, n_seq=2)[1]), "n_seq"),
    ],
)
def test_preflight_rejects_incompatible_contexts(model: llama_mtp.Model, make, match: str) -> None:  # type: ignore[no-untyped-def]
    target, draft = make(model)
    with pytest.raises(llama_mtp.IncompatibleContextsError, match=match) as info:
        llama_mtp.MtpSession(target, draft)
    assert "fix:" in str(info.value)


def test_preflight_hybrid_needs_rollback_snapshots(model: llama_mtp.Model, kind: str) -> None:
    target = llama_mtp.Context(model, n_ctx=256, n_batch=64, n_ubatch=64, n_rs_seq=0)
    draft = mtp_contexts(model)[1]
    if kind == "hybrid":
        with pytest.raises(llama_mtp.IncompatibleContextsError, match="n_rs_seq"):
            llama_mtp.MtpSession(target, draft)
        small_ubatch = llama_mtp.Context(model, n_ctx=256, n_batch=64, n_ubatch=2, n_rs_seq=3)
        with pytest.raises(llama_mtp.IncompatibleContextsError, match="n_ubatch"):
            llama_mtp.MtpSession(small_ubatch, draft)
    else:
        llama_mtp.MtpSession(target, draft)  # attention KV rolls back without snapshots


def test_state_machine_errors(model: llama_mtp.Model) -> None:
    target, draft = mtp_contexts(model)
    s = llama_mtp.MtpSession(target, draft)
    prompt = model.tokenize("Hi there!")
    with pytest.raises(llama_mtp.InvalidArgumentError):
        s.begin(0, [5, 99999])
    loop = Loop(s, prompt)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        s.draft(0, loop.n_past, 99999)
    with pytest.raises(llama_mtp.BadSeqIdError):
        s.draft(1, loop.n_past, loop.last)
    with pytest.raises(llama_mtp.BadSeqIdError):
        s.accept(-1, 0)
    with pytest.raises(llama_mtp.NoPendingProposalError):
        s.accept(0, 0)
    with pytest.raises(llama_mtp.NoPendingProposalError):
        s.pending_proposal(0)
    proposal = loop.draft()
    assert 1 <= len(proposal) <= 3 and proposal.dtype == np.int32
    assert s.has_pending_proposal(0) and not s.is_quiescent
    assert list(s.pending_proposal(0)) == list(proposal)
    with pytest.raises(llama_mtp.ProposalPendingError):
        s.draft(0, loop.n_past, loop.last)
    with pytest.raises(llama_mtp.ProposalPendingError):
        s.begin(0, prompt)
    with pytest.raises(llama_mtp.ProposalPendingError):
        s.get_state(0)
    with pytest.raises(llama_mtp.AcceptedTooManyError):
        s.accept(0, len(proposal) + 1)
    assert s.has_pending_proposal(0)  # failed calls changed nothing
    n = loop.verify(proposal)
    s.accept(0, n)
    loop.commit()
    assert s.is_quiescent


def test_process_must_follow_a_target_decode(model: llama_mtp.Model) -> None:
    target, draft = mtp_contexts(model)
    s = llama_mtp.MtpSession(target, draft)
    b = llama_mtp.Batch(8)
    b.set_tokens(model.tokenize("abc"))
    with pytest.raises(llama_mtp.MtpSessionError, match="right after"):
        s.process(b)
    target.decode(b)
    s.process(b)
    with pytest.raises(llama_mtp.MtpSessionError, match="once"):
        s.process(b)


def test_contexts_cannot_close_under_a_session(model: llama_mtp.Model) -> None:
    target, draft = mtp_contexts(model)
    s = llama_mtp.MtpSession(target, draft)
    with pytest.raises(llama_mtp.ContextError, match="MtpSession"):
        target.close()
    del s
    import gc

    gc.collect()
    target.close()
    draft.close()


def test_manual_loop_equals_plain_greedy(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    target, draft = mtp_contexts(model)
    s = llama_mtp.MtpSession(target, draft)
    prompt = model.tokenize("A manual loop.")
    loop = Loop(s, prompt)
    while len(loop.out) < 40:
        loop.step()
    assert loop.out[:40] == spec.expected_tokens(list(prompt), 40)
    st = s.stats
    assert st.acceptance_rate == 1.0  # the acceptance=1.0 model
    assert st.n_drafts == st.n_verified and st.draft_tokens == st.accepted_tokens
    assert st.mean_acceptance_length == pytest.approx(4.0)
    assert st.t_draft > 0 and st.t_process > 0 and st.t_accept >= 0 and st.t_begin >= 0
    assert st.as_dict()["accepted_tokens"] == st.accepted_tokens


def test_state_round_trip_is_a_noop(model: llama_mtp.Model) -> None:
    target, draft = mtp_contexts(model)
    s = llama_mtp.MtpSession(target, draft)
    loop = Loop(s, model.tokenize("Round trip"))
    for _ in range(3):
        loop.step()
    state = s.get_state(0)
    assert s.speculative_state(0) == state
    s.set_state(0, state)
    assert s.get_state(0) == state
    for bad in (b"", b"junk" * 8, state[:-4], state[:4] + b"\x09" + state[5:], state[:12] + b"\x07" + state[13:]):
        with pytest.raises(llama_mtp.MtpStateError):
            s.set_state(0, bad)
    assert s.get_state(0) == state  # nothing changed
    other = llama_mtp.MtpSession(*mtp_contexts(model, n_draft_max=2), llama_mtp.MtpSessionConfig(n_draft_max=2))
    with pytest.raises(llama_mtp.MtpStateError, match="configuration"):
        other.set_state(0, state)
    assert issubclass(llama_mtp.MtpStateError, llama_mtp.StateError)


def test_restored_session_continues_like_an_uninterrupted_one(tmp_path: Path, kind: str) -> None:
    path = tiny_mtp_model(tmp_path / "m.gguf", kind=kind, acceptance=0.7)  # type: ignore[arg-type]
    model = llama_mtp.Model(str(path))
    prompt = model.tokenize("Save me.")

    a = Loop(llama_mtp.MtpSession(*mtp_contexts(model)), prompt)
    for _ in range(4):
        a.step()
    saved = (
        a.session.get_state(0),
        a.session.target.state_seq_get(0),
        a.session.draft_context.state_seq_get(0),
        a.n_past,
        a.last,
        len(a.out),
    )
    proposals_a = []
    for _ in range(6):
        proposals_a.append(list(a.draft()))
        a.session.accept(0, a.verify(np.array(proposals_a[-1], dtype=np.int32)))
        a.commit()

    # a fresh session over fresh contexts, restored from the saved states
    spec_state, kv, draft_kv, n_past, last, n_out = saved
    b = Loop(llama_mtp.MtpSession(*mtp_contexts(model)), prompt)
    b.session.target.memory_clear()
    b.session.draft_context.memory_clear()
    b.session.target.state_seq_set(0, kv)
    b.session.draft_context.state_seq_set(0, draft_kv)
    b.session.set_state(0, spec_state)
    b.n_past, b.last, b.out = n_past, last, []
    proposals_b = []
    for _ in range(6):
        proposals_b.append(list(b.draft()))
        b.session.accept(0, b.verify(np.array(proposals_b[-1], dtype=np.int32)))
        b.commit()
    assert proposals_b == proposals_a
    assert b.out == a.out[n_out:]
    # and the restore mattered: the carried-over hidden row differs from a fresh begin()
    assert spec_state != llama_mtp.MtpSession(*mtp_contexts(model)).get_state(0)


def test_print_stats(model: llama_mtp.Model, capsys: pytest.CaptureFixture[str]) -> None:
    s = llama_mtp.MtpSession(*mtp_contexts(model))
    loop = Loop(s, model.tokenize("print"))
    for _ in range(3):
        loop.step()
    s.print_stats()
    out = capsys.readouterr().out
    assert "#accepted tokens = 9" in out and "mean acc len = 4.00" in out


def test_begin_is_optional(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    s = llama_mtp.MtpSession(*mtp_contexts(model))
    prompt = model.tokenize("No begin")
    loop = Loop(s, prompt, begin=False)
    while len(loop.out) < 20:
        loop.step()
    assert loop.out[:20] == spec.expected_tokens(list(prompt), 20)


def test_an_empty_proposal_needs_no_accept(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    s = llama_mtp.MtpSession(*mtp_contexts(model))
    prompt = model.tokenize("Empty proposals")
    loop = Loop(s, prompt)
    for step in range(12):
        if step % 2:
            loop.step()
            continue
        proposal = s.draft(0, loop.n_past, loop.last, n_max=0)
        assert len(proposal) == 0 and s.has_pending_proposal(0) and s.is_quiescent
        assert loop.verify(proposal) == 0
        if step % 4 == 0:
            s.accept(0, 0)  # still legal
        loop.commit()  # a port that never accepts empty proposals goes straight on
    assert loop.out == spec.expected_tokens(list(prompt), len(loop.out))
    assert len(s.get_state(0)) > 0  # empty proposals are settled, the session is quiescent


def test_reference_constructor_and_session_helpers(model: llama_mtp.Model) -> None:
    target, draft = mtp_contexts(model, n_draft_max=2)
    s = llama_mtp.MtpSession(target, draft, 1, 2)
    assert s.config == llama_mtp.MtpSessionConfig(n_seq=1, n_draft_max=2)
    b = llama_mtp.Batch(16)
    b.set_tokens(model.tokenize("helpers"))
    s.decode_target(b)
    s.process(b)
    n = len(b)
    assert target.memory_seq_pos_max(0) == n - 1
    assert s.clear_target_kv_cache_seq(0, n - 1) in (True, False)  # False: recurrent state
    assert s.clear_draft_kv_cache_seq(0, None, None)
    assert draft.memory_seq_pos_max(0) == -1
    assert s.clear_target_kv_cache_seq(0)
    assert target.memory_seq_pos_max(0) == -1


def test_a_target_decode_failure_is_a_session_and_a_decode_error(model: llama_mtp.Model) -> None:
    s = llama_mtp.MtpSession(*mtp_contexts(model))
    b = llama_mtp.Batch(16)
    b.set_tokens(model.tokenize("gap"))
    s.decode_target_and_process(b)
    b.set_tokens(model.tokenize("gap"), pos0=0)  # positions must continue the sequence
    with pytest.raises(llama_mtp.TargetDecodeError) as info:
        s.decode_target_and_process(b)
    assert isinstance(info.value, llama_mtp.MtpSessionError) and isinstance(info.value, llama_mtp.DecodeError)
    assert info.value.code == -1


def test_errors_carry_their_data(model: llama_mtp.Model) -> None:
    s = llama_mtp.MtpSession(*mtp_contexts(model))
    with pytest.raises(llama_mtp.BadSeqIdError) as bad_seq:
        s.accept(3, 0)
    assert (bad_seq.value.seq_id, bad_seq.value.n_seq) == (3, 1)
    loop = Loop(s, model.tokenize("attributes"))
    proposal = loop.draft()
    with pytest.raises(llama_mtp.AcceptedTooManyError) as too_many:
        s.accept(0, len(proposal) + 2)
    assert (too_many.value.n_accepted, too_many.value.size) == (len(proposal) + 2, len(proposal))
    with pytest.raises(llama_mtp.InvalidConfigError) as config:
        llama_mtp.MtpSessionConfig(n_draft_max=65)
    assert (config.value.parameter, config.value.value, config.value.maximum) == ("n_draft_max", 65, 64)
    with pytest.raises(llama_mtp.InvalidArgumentError) as arg:
        llama_mtp.Context(model, n_ctx=0)
    assert (arg.value.parameter, arg.value.minimum, arg.value.maximum) == ("n_ctx", 1, 1 << 24)
    with pytest.raises(llama_mtp.KvCacheFullError) as full:
        ctx = llama_mtp.Context(model, n_ctx=256, n_batch=256, n_threads=1)
        b = llama_mtp.Batch(256)
        for pos0 in range(0, 512, 128):
            b.set_tokens(np.arange(1, 129, dtype=np.int32), pos0=pos0)
            ctx.decode(b)
    assert full.value.code == 1

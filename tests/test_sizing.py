"""mtp_context_params: the one sizing rule for an MTP pair satisfies MtpSession's preflight."""

from __future__ import annotations

import pytest

import llama_mtp


@pytest.mark.parametrize("n_draft_max,n_seq,n_batch", [(1, 1, 512), (3, 2, 8), (6, 4, 16), (4, 3, 1)])
def test_the_sized_pair_passes_the_preflight(model: llama_mtp.Model, n_draft_max: int, n_seq: int, n_batch: int) -> None:
    p = llama_mtp.mtp_context_params(model, n_draft_max=n_draft_max, n_seq=n_seq, n_ctx=256, n_batch=n_batch)
    assert p.n_batch >= n_seq * (n_draft_max + 1) and p.n_ctx == 256 * n_seq
    assert p.n_rs_seq == (n_draft_max if (model.is_recurrent or model.is_hybrid) else 0)
    target, draft = llama_mtp.mtp_contexts(model, n_draft_max=n_draft_max, n_seq=n_seq, n_ctx=256, n_batch=n_batch, n_threads=1)
    session = llama_mtp.MtpSession(target, draft, llama_mtp.MtpSessionConfig(n_seq=n_seq, n_draft_max=n_draft_max))
    assert session.n_seq == n_seq and draft.ctx_type == llama_mtp.ContextType.MTP

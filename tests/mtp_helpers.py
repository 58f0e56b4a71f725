"""Shared setup for the MTP tests: contexts sized the way MtpSession's preflight wants."""

from __future__ import annotations

import numpy as np

import llama_mtp


def mtp_contexts(
    model: llama_mtp.Model, n_draft_max: int = 3, n_seq: int = 1, n_ctx: int = 512, n_batch: int = 64
) -> tuple[llama_mtp.Context, llama_mtp.Context]:
    # n_ctx: for all sequences together, as the tests size it
    return llama_mtp.mtp_contexts(model, n_draft_max=n_draft_max, n_seq=n_seq, n_ctx=max(n_ctx // n_seq, 256), n_batch=n_batch)


class Loop:
    """The manual speculative loop of examples/mtp_loop.py, one sequence, one step at a time."""

    def __init__(self, session: llama_mtp.MtpSession, prompt: np.ndarray, seq_id: int = 0, begin: bool = True) -> None:
        self.session = session
        self.seq = seq_id
        self.batch = llama_mtp.Batch(64)
        if len(prompt) > 1:
            self.batch.set_tokens(prompt[:-1], seq_id=seq_id, logits_last=False)
            session.decode_target_and_process(self.batch)
        if begin:  # optional, as upstream's begin is
            session.begin(seq_id, prompt[:-1])
        self.n_past = len(prompt) - 1
        self.last = int(prompt[-1])
        self.out: list[int] = []

    def draft(self) -> np.ndarray:
        return self.session.draft(self.seq, self.n_past, self.last)

    def verify(self, proposal: np.ndarray) -> int:
        """Decode [last, proposal...] on the target, process it, greedy-verify; returns n_accepted."""
        b = self.batch
        b.set_tokens(np.concatenate(([self.last], proposal)).astype(np.int32), pos0=self.n_past, seq_id=self.seq)
        b.logits[:] = 1
        self.session.decode_target_and_process(b)
        target = self.session.target
        ids = []
        for i in range(len(proposal) + 1):
            tok = int(np.argmax(target.get_logits_ith(i)))
            ids.append(tok)
            if i == len(proposal) or tok != proposal[i]:
                break
        self.ids = ids
        return len(ids) - 1

    def commit(self) -> None:
        """After accept(): advance and trim both contexts' memory to the accepted prefix."""
        self.n_past += len(self.ids)
        self.last = self.ids[-1]
        self.out += self.ids
        self.session.target.memory_seq_rm(self.seq, self.n_past, -1)
        self.session.draft_context.memory_seq_rm(self.seq, self.n_past, -1)

    def step(self) -> None:
        proposal = self.draft()
        n = self.verify(proposal)
        self.session.accept(self.seq, n)
        self.commit()

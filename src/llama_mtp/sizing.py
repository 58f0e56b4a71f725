"""How an MTP context pair is sized: the one place that knows what MtpSession's preflight
requires of a target and a draft context (generate(), the CLI, the example and the tests all
use it)."""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass
from typing import Literal

from ._core import ArgumentTypeError, Context, ContextType, InvalidArgumentError, Model

__all__ = ["AUTO_DRAFT_MAX", "DraftLength", "MtpContextParams", "draft_ceiling", "mtp_context_params", "mtp_contexts"]

# The longest draft n_draft_max="adaptive" may choose (the fixed lengths benchmarks/ compares it
# with are 1..6): contexts are sized for it.
AUTO_DRAFT_MAX = 6
DraftLength = int | Literal["adaptive"]


UPSTREAM_N_UBATCH = 512


def draft_ceiling(n_draft_max: DraftLength) -> int:
    """The longest draft a setting allows: n_draft_max itself, or AUTO_DRAFT_MAX for "adaptive"."""
    if n_draft_max == "adaptive":
        return AUTO_DRAFT_MAX
    if isinstance(n_draft_max, bool) or not hasattr(n_draft_max, "__index__"):
        raise ArgumentTypeError(f'n_draft_max must be an int or "adaptive", not {n_draft_max!r}')
    n_draft_max = operator.index(n_draft_max)
    if not 1 <= n_draft_max <= 64:
        raise InvalidArgumentError(f'n_draft_max must be in [1, 64] or "adaptive", got {n_draft_max}')
    return n_draft_max


@dataclass(frozen=True)
class MtpContextParams:
    """Keyword arguments for the target and the draft Context of an MTP pair."""

    n_ctx: int
    n_batch: int
    n_ubatch: int
    n_seq: int
    n_rs_seq: int  # recurrent-state snapshots on the target: rollback of rejected drafts
    n_threads: int | None

    def target(self) -> dict[str, object]:
        """Keyword arguments of the target `Context`."""
        return dict(
            n_ctx=self.n_ctx,
            n_batch=self.n_batch,
            n_ubatch=self.n_ubatch,
            n_seq_max=self.n_seq,
            n_rs_seq=self.n_rs_seq,
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,
        )

    def draft(self) -> dict[str, object]:
        """Keyword arguments of the draft `Context` (an MTP context)."""
        return dict(
            n_ctx=self.n_ctx,
            n_batch=self.n_batch,
            n_ubatch=self.n_ubatch,
            n_seq_max=self.n_seq,
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,
            ctx_type=ContextType.MTP,
        )

    def as_dict(self) -> dict[str, object]:
        """The sizes as a dict."""
        return asdict(self)


def mtp_context_params(
    model: Model,
    *,
    n_draft_max: DraftLength = 3,
    n_seq: int = 1,
    n_ctx: int = 4096,
    n_batch: int = 512,
    n_threads: int | None = None,
) -> MtpContextParams:
    """Sizes for an MTP pair that MtpSession's preflight accepts: a verify batch holds every
    sequence's last token and its drafts (n_seq * (n_draft_max + 1) rows), the draft context
    takes the target's batches, recurrent and hybrid targets keep n_draft_max snapshots and
    verify in one ubatch. n_ctx is per sequence: llama.cpp splits a context's cells between its
    sequences and limits n_batch to n_ctx. n_draft_max="adaptive" sizes for AUTO_DRAFT_MAX."""
    from .options import check_draft_length

    return context_sizes(
        model,
        longest_draft=draft_ceiling(check_draft_length(n_draft_max)),
        n_seq=n_seq,
        n_ctx=n_ctx,
        n_batch=n_batch,
        n_threads=n_threads,
    )


def context_sizes(
    model: Model, *, longest_draft: int, n_seq: int, n_ctx: int, n_batch: int, n_threads: int | None
) -> MtpContextParams:
    """mtp_context_params() for the longest draft of any drafter (an n-gram draft may be longer
    than an MTP one), already checked by its caller."""
    n_draft_max = longest_draft
    need = n_seq * (n_draft_max + 1)
    total_ctx = n_ctx * n_seq
    batch = min(max(n_batch, need), total_ctx)
    rollback = model.is_recurrent or model.is_hybrid
    # llama-completion's physical batch (common_params' n_ubatch): a prompt longer than it is
    # computed in the same pieces, so its KV and first token are llama-completion's
    return MtpContextParams(
        n_ctx=total_ctx,
        n_batch=batch,
        n_ubatch=min(batch, UPSTREAM_N_UBATCH),
        n_seq=n_seq,
        n_rs_seq=n_draft_max if rollback else 0,
        n_threads=n_threads,
    )


def mtp_contexts(
    model: Model,
    *,
    n_draft_max: DraftLength = 3,
    n_seq: int = 1,
    n_ctx: int = 4096,
    n_batch: int = 512,
    n_threads: int | None = None,
) -> tuple[Context, Context]:
    """A target and a draft Context sized by mtp_context_params()."""
    p = mtp_context_params(model, n_draft_max=n_draft_max, n_seq=n_seq, n_ctx=n_ctx, n_batch=n_batch, n_threads=n_threads)
    return Context(model, **p.target()), Context(model, **p.draft())  # type: ignore[arg-type]

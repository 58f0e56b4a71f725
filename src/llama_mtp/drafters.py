"""Which drafters a generation uses: the model's NextN layers (MTP), drafts taken from the text
itself (upstream's n-gram drafters), both, or none. One rule, shared by LLM, the one-line
functions, the server and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from ._checks import check_optional_bool
from ._core import InvalidArgumentError, Model

__all__ = [
    "DEFAULT_NGRAM",
    "drafter_stats_since",
    "NGRAM_DRAFT_MAX",
    "NGRAM_DRAFT_MAX_ROLLBACK",
    "NGRAM_SIZE_N",
    "NGRAM_KINDS",
    "Draft",
    "Drafters",
    "NgramKind",
    "drafters_for",
    "request_drafters",
]

# "auto": MTP where the model has NextN layers, and n-gram drafts, chosen step by step;
# "mtp" / "ngram": that one alone; "none": plain decoding.
Draft = Literal["auto", "mtp", "ngram", "none"]
# upstream's --spec-type names (ngram-cache needs lookup files and is not offered)
NgramKind = Literal["ngram-simple", "ngram-map-k", "ngram-map-k4v", "ngram-mod"]
NGRAM_KINDS: tuple[str, ...] = get_args(NgramKind)
DEFAULT_NGRAM: NgramKind = "ngram-simple"  # chosen by measurement (benchmarks/README.md, "Drafts from the text")
# the longest n-gram draft (contexts and verify batches are sized for it); on recurrent and
# hybrid targets shorter: they keep a state snapshot per draft position, which every decode
# pays for (tiny hybrid model, 2 cores: 1.7 % with 6 snapshots, 5.5 % with 32)
NGRAM_DRAFT_MAX = 32
NGRAM_DRAFT_MAX_ROLLBACK = 6
# the tokens an n-gram drafter matches before it drafts what followed them, by kind: ngram-mod
# hashes 16 (upstream warns below that), the others search for 6 (ngram-simple drafts only
# continuations at least that long); measured on Gemma-3 270M, 6 drafts earlier than 12 on the
# copy-heavy workloads and as rarely wrongly on prose
NGRAM_SIZE_N: dict[str, int] = {"ngram-simple": 6, "ngram-map-k": 6, "ngram-map-k4v": 6, "ngram-mod": 16}


@dataclass(frozen=True)
class Drafters:
    """What an LLM drafts with."""

    mtp: bool
    ngram: bool

    @property
    def name(self) -> Draft:
        return "auto" if self.mtp and self.ngram else "mtp" if self.mtp else "ngram" if self.ngram else "none"


def _check_draft(draft: object) -> Draft:
    if draft not in get_args(Draft):
        raise InvalidArgumentError(f'draft must be "auto", "mtp", "ngram" or "none", got {draft!r}')
    return draft  # type: ignore[return-value]


def ngram_draft_max(model: Model) -> int:
    """The default longest n-gram draft for a model (NGRAM_DRAFT_MAX, or NGRAM_DRAFT_MAX_ROLLBACK
    for recurrent and hybrid targets)."""
    return NGRAM_DRAFT_MAX_ROLLBACK if model.is_recurrent or model.is_hybrid else NGRAM_DRAFT_MAX


def check_ngram_kind(kind: object) -> NgramKind:
    if kind not in NGRAM_KINDS:
        raise InvalidArgumentError(f"ngram must be one of {', '.join(NGRAM_KINDS)}, got {kind!r}")
    return kind  # type: ignore[return-value]


def drafters_for(has_mtp: bool, *, draft: Draft | None, mtp: bool | None) -> Drafters:
    """The drafters of an LLM (or a one-line call). mtp=False keeps its old meaning, no
    speculation at all; mtp=True asks for the NextN layers (an error without them)."""
    mtp = check_optional_bool("mtp", mtp)
    if mtp is False:  # "auto" is DraftConfig's default: not a choice mtp=False contradicts
        if draft not in (None, "none", "auto"):
            raise InvalidArgumentError(f"mtp=False means no speculation; it cannot go with draft={draft!r}")
        return Drafters(False, False)
    d = _check_draft("auto" if draft is None else draft)
    if mtp and d in ("ngram", "none"):
        raise InvalidArgumentError(f"mtp=True cannot go with draft={d!r}")
    if d in ("auto", "mtp") and mtp and not has_mtp:
        raise InvalidArgumentError('mtp=True needs a model with NextN (MTP) layers; use draft="none"')
    if d == "mtp" and not has_mtp:
        raise InvalidArgumentError('draft="mtp" needs a model with NextN (MTP) layers; use draft="ngram" or "auto"')
    return Drafters(mtp=has_mtp and d in ("auto", "mtp"), ngram=d in ("auto", "ngram"))


def request_drafters(have: Drafters, *, draft: Draft | None, mtp: bool | None) -> Drafters:
    """What one request of an LLM drafts with: within what the LLM has (draft=None: all of it)."""
    mtp = check_optional_bool("mtp", mtp)
    if mtp is False:
        if draft not in (None, "none"):
            raise InvalidArgumentError(f"mtp=False means no speculation; it cannot go with draft={draft!r}")
        return Drafters(False, False)
    if mtp and not have.mtp:
        raise InvalidArgumentError("mtp=True: this LLM was made without MTP (a model without NextN layers, or mtp=False)")
    if draft is None or draft == "auto":
        return have
    d = _check_draft(draft)
    if d == "mtp" and not have.mtp:
        raise InvalidArgumentError(f'draft="mtp": this LLM drafts with {have.name!r} (LLM(draft=...))')
    if d == "ngram" and not have.ngram:
        raise InvalidArgumentError(f'draft="ngram": this LLM drafts with {have.name!r} (LLM(draft=...))')
    return Drafters(mtp=d == "mtp", ngram=d == "ngram")


def drafter_stats_since(now: dict[str, dict[str, Any]], then: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Generator.drafter_stats gained between two readings (what the steps of one request did)."""
    out: dict[str, dict[str, Any]] = {}
    for name, tally in now.items():
        before = then.get(name, {})
        d = {key: tally[key] - before.get(key, 0) for key in ("steps", "drafts", "draft_tokens", "accepted_tokens")}
        at, at0 = list(tally["accepted_at"]), list(before.get("accepted_at", []))
        d["accepted_at"] = [n - (at0[i] if i < len(at0) else 0) for i, n in enumerate(at)]
        while d["accepted_at"] and d["accepted_at"][-1] == 0:
            d["accepted_at"].pop()
        d["acceptance_rate"] = d["accepted_tokens"] / d["draft_tokens"] if d["draft_tokens"] else 0.0
        out[name] = d
    return out

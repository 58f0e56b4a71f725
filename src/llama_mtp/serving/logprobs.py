"""Token log-probabilities in each dialect's shape: OpenAI chat's `logprobs.content`, OpenAI
completions' `logprobs` (tokens, token_logprobs, top_logprobs, text_offset) and llama-server's
`completion_probabilities`. The values are the engine's (TokenProbs: the target's softmax at
the row that produced the token, drafted tokens included)."""

from __future__ import annotations

from typing import Any

from .._core import Model, TokenProbs


def _piece(model: Model, token: int) -> tuple[str, list[int]]:
    raw = model.token_to_piece(token)
    return raw, list(raw.encode("utf-8", errors="replace"))


def _entry(model: Model, token: int, logprob: float, top: list[dict[str, Any]] | None, *, ids: bool) -> dict[str, Any]:
    """One token as OpenAI's chat and llama-server report it (ids: llama-server's `id` too)."""
    piece, raw = _piece(model, token)
    out: dict[str, Any] = {"id": token} if ids else {}
    out.update(token=piece, logprob=logprob, bytes=raw)
    if top is not None:
        out["top_logprobs"] = top
    return out


def _candidates(model: Model, p: TokenProbs, *, ids: bool) -> list[dict[str, Any]]:
    return [_entry(model, t, lp, None, ids=ids) for t, lp in zip(p.top_ids, p.top_logprobs, strict=True)]


def chat_logprobs(model: Model, probs: list[TokenProbs]) -> dict[str, Any]:
    """OpenAI chat's `choices[i].logprobs`."""
    return {"content": [_entry(model, p.token, p.logprob, _candidates(model, p, ids=False), ids=False) for p in probs]}


def completion_logprobs(model: Model, probs: list[TokenProbs], offset: int = 0) -> dict[str, Any]:
    """OpenAI completions' `choices[i].logprobs` (offset: where the first token's text begins)."""
    tokens, offsets = [], []
    for p in probs:
        offsets.append(offset)
        piece = _piece(model, p.token)[0]
        tokens.append(piece)
        offset += len(piece)
    return {
        "tokens": tokens,
        "token_logprobs": [p.logprob for p in probs],
        "top_logprobs": [{_piece(model, t)[0]: lp for t, lp in zip(p.top_ids, p.top_logprobs, strict=True)} for p in probs],
        "text_offset": offsets,
    }


def native_probabilities(model: Model, probs: list[TokenProbs]) -> list[dict[str, Any]]:
    """llama-server's `completion_probabilities`."""
    return [_entry(model, p.token, p.logprob, _candidates(model, p, ids=True), ids=True) for p in probs]


def pieces_match(model: Model, probs: list[TokenProbs], text: str) -> bool:
    """Whether a text is exactly its tokens' pieces (then it can be sent a token per chunk)."""
    return bool(probs) and "".join(_piece(model, p.token)[0] for p in probs) == text


def token_piece(model: Model, token: int) -> str:
    return _piece(model, token)[0]


class ProbsCursor:
    """What a stream has sent of each job's token probabilities: take(i) gives job i's new ones
    (the engine appends them before it hands out their text, so a text event finds its own)."""

    def __init__(self, jobs: list[Any]) -> None:
        self.jobs = jobs
        self.sent = [0] * len(jobs)

    def take(self, i: int) -> list[TokenProbs]:
        probs = self.jobs[i].token_probs
        new, self.sent[i] = probs[self.sent[i] : len(probs)], len(probs)
        return list(new)

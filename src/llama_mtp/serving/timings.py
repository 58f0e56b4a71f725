"""A response's `timings`: what the request cost and what speculation did for it.

`timings` holds llama-server's numbers (its own server test suite checks speculation through
`draft_n` and `draft_n_accepted`, and that every value is a number); `speculation` beside it
llama-mtp's: per drafter, this request's own drafts (whatever else shared its verify batches)
with the acceptance at each draft position, and the MTP draft lengths its steps chose."""

from __future__ import annotations

from typing import Any

from .._jobs import Job


def report_of(job: Job) -> dict[str, Any]:
    """A finished job's `timings` and `speculation` (a stream's final chunk carries them too)."""
    return {"timings": timings_of(job), "speculation": speculation_of(job)}


def timings_of(job: Job) -> dict[str, float | int]:
    """llama-server's `timings`: numbers only. The first token comes from the prompt's last
    row, so the generation rate is over the tokens after it, as llama-server's."""
    prompt_n = max(0, len(job.tokens) - job.n_cached)
    prompt_ms = job.prompt_seconds * 1e3
    predicted_n = job.n_generated
    predicted_ms = max(0.0, job.t_done - job.t_admitted) * 1e3 if job.t_done else 0.0
    decoded = max(0, predicted_n - 1)
    drafts = job.own_drafts.values()
    return {
        "cache_n": job.n_cached,
        "prompt_n": prompt_n,
        "prompt_ms": prompt_ms,
        "prompt_per_token_ms": prompt_ms / prompt_n if prompt_n else 0.0,
        "prompt_per_second": prompt_n / (prompt_ms / 1e3) if prompt_ms > 0 else 0.0,
        "predicted_n": predicted_n,
        "predicted_ms": predicted_ms,
        "predicted_per_token_ms": predicted_ms / decoded if decoded else 0.0,
        "predicted_per_second": decoded / (predicted_ms / 1e3) if predicted_ms > 0 else 0.0,
        "draft_n": sum(int(d["draft_tokens"]) for d in drafts),
        "draft_n_accepted": sum(int(d["accepted_tokens"]) for d in drafts),
    }


def speculation_of(job: Job) -> dict[str, Any]:
    """llama-mtp's speculation report of a finished job: per drafter and per position."""
    drafters = {
        name: {
            "draft_tokens": int(t["draft_tokens"]),
            "accepted_tokens": int(t["accepted_tokens"]),
            "acceptance_rate": float(t["acceptance_rate"]),
            # [i]: drafts of which more than i tokens were accepted
            "accepted_at": [int(x) for x in t["accepted_at"]],
        }
        for name, t in job.own_drafts.items()
    }
    lengths = [int(k) for k in job.draft_lengths]
    return {"drafters": drafters, "draft_lengths": {str(k): lengths.count(k) for k in sorted(set(lengths))}}

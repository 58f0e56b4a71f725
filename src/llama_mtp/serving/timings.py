"""A response's `timings`: what the request cost and what speculation did for it.

llama-server's fields (its own server test suite checks speculation through `draft_n` and
`draft_n_accepted`), and llama-mtp's: per drafter, this request's own drafts (whatever else
shared its verify batches) with the acceptance at each draft position, and the MTP draft
lengths its steps chose."""

from __future__ import annotations

from typing import Any

from .._jobs import Job


def timings_of(job: Job) -> dict[str, Any]:
    """The `timings` object of a finished job's response (the final chunk's, when streamed)."""
    prompt_n = max(0, len(job.tokens) - job.n_cached)
    prompt_ms = job.prompt_seconds * 1e3
    predicted_n = job.n_generated
    predicted_ms = max(0.0, job.t_done - job.t_admitted) * 1e3 if job.t_done else 0.0
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
    return {
        "cache_n": job.n_cached,
        "prompt_n": prompt_n,
        "prompt_ms": prompt_ms,
        "prompt_per_token_ms": prompt_ms / prompt_n if prompt_n else 0.0,
        "prompt_per_second": prompt_n / (prompt_ms / 1e3) if prompt_ms > 0 else 0.0,
        "predicted_n": predicted_n,
        "predicted_ms": predicted_ms,
        "predicted_per_token_ms": predicted_ms / predicted_n if predicted_n else 0.0,
        "predicted_per_second": predicted_n / (predicted_ms / 1e3) if predicted_ms > 0 else 0.0,
        "draft_n": sum(d["draft_tokens"] for d in drafters.values()),
        "draft_n_accepted": sum(d["accepted_tokens"] for d in drafters.values()),
        "drafters": drafters,
        "draft_lengths": {str(k): lengths.count(k) for k in sorted(set(lengths))},
    }

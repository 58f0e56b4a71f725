"""Where a synthesized model's MTP head is wrong: the words after which it drafts a wrong token.

Greedy text walks the model's cycle of words, and a draft chain walks it too: the head's k-th
draft is right when the (k-1)-th drafted word is not one of the "wrong" words. So the wrong
words' layout along the cycle sets the acceptance a generation sees:

- flat (acceptance a): a random fraction 1 - a of the words, anywhere;
- a profile (p1, p2, ...): along the cycle, runs of right words between wrong ones, with run
  lengths L drawn so that P(L >= j | L >= j - 1) = p_j (the last value repeats). A rejected
  draft ends at a wrong word and the next step starts at the following run's first word, so
  the conditional acceptance of draft position j is p_j: falling with depth, as real heads'
  acceptance does (e.g. 0.8, 0.65, 0.5);
- regions: the cycle cut into stretches of `region_tokens` words that take the profiles in
  turn, so acceptance changes inside one generation (text that is easy to predict, then hard).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Profile = tuple[float, ...]

MAX_RUN = 64  # a run of right words longer than any draft: a profile ending in 1.0 stays finite


def check_profiles(profiles: Sequence[Sequence[float]], region_tokens: int) -> tuple[Profile, ...]:
    """Validated profiles as tuples of floats (ValueError naming the problem)."""
    out = tuple(tuple(float(p) for p in profile) for profile in profiles)
    if not out or any(not profile for profile in out):
        raise ValueError("acceptance_profiles needs at least one profile, each of at least one value")
    if any(not 0.0 <= p <= 1.0 for profile in out for p in profile):
        raise ValueError(f"acceptance profile values must be in [0, 1], got {out}")
    if len(out) > 1 and region_tokens < 1:
        raise ValueError(f"region_tokens must be >= 1 with several profiles, got {region_tokens}")
    return out


def _run_length(profile: Profile, rng: np.random.Generator) -> int:
    n = 0
    while n < MAX_RUN and rng.random() < profile[min(n, len(profile) - 1)]:
        n += 1
    return n


def wrong_words(
    words: Sequence[int],
    order: Sequence[int],
    rng: np.random.Generator,
    *,
    acceptance: float,
    profiles: tuple[Profile, ...] = (),
    region_tokens: int = 0,
) -> frozenset[int]:
    """The words after which the head drafts wrong; `order` is the cycle over `words`, in text order."""
    if not profiles:
        n_wrong = int(round((1.0 - acceptance) * len(words)))
        return frozenset(int(t) for t in rng.choice(list(words), size=n_wrong, replace=False))
    wrong: set[int] = set()
    region = region_tokens or len(order)  # 0: one region, the whole text
    i = 0
    while i < len(order):
        profile = profiles[(i // region) % len(profiles)]
        i += _run_length(profile, rng)  # right words
        if i < len(order):
            wrong.add(int(order[i]))
            i += 1
    return frozenset(wrong)


def mean_acceptance(profiles: tuple[Profile, ...], acceptance: float) -> float:
    """The first draft position's acceptance, averaged over the regions (the flat value otherwise)."""
    return float(np.mean([p[0] for p in profiles])) if profiles else acceptance

"""What determines a tiny model of llama_mtp.testing and the text it produces (no tensors)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from ._acceptance import Profile, check_profiles, mean_acceptance, wrong_words
from ._tiny_vocab import base_vocab

Kind = Literal["dense", "hybrid"]
Head = Literal["token", "copy"]
GENERATOR_VERSION = 4


@dataclass(frozen=True)
class TinyModelSpec:
    """Everything that determines a tiny model, and the text it will produce."""

    kind: Kind = "dense"
    acceptance: float = 1.0
    n_vocab: int = 1024
    n_embd: int = 64
    n_layer: int = 2
    seed: int = 0
    n_ff: int = 0  # 0: 2.75 * n_embd rounded up to a multiple of 32
    eos: int = 2  # the end-of-sequence id; a word id makes the model end its text at that word
    # a random output head: logits ~ N(0, 1) over the words, so the top two are often close, as
    # in real models (rounding can flip them); the text is then not the crafted cycle
    near_ties: bool = False
    # conditional acceptance per draft position, one profile per region of region_tokens words
    # of the text (taken in turn); empty: the flat `acceptance`
    acceptance_profiles: tuple[Profile, ...] = ()
    region_tokens: int = 0
    # "token": the MTP head predicts from the drafted token alone; "copy": it finds, through the
    # draft context's attention, an earlier position whose target token was the drafted token and
    # reads the target's hidden state there: a draft context missing that history drafts wrong
    mtp_head: Head = "token"
    # the text's period: pi is a set of cycles of this many words (0: one cycle over all words)
    cycle_length: int = 0
    version: int = GENERATOR_VERSION
    # derived, filled by tiny_model_spec()
    words: tuple[int, ...] = field(default=(), compare=False, repr=False)
    cycle: dict[int, int] = field(default_factory=dict, compare=False, repr=False, hash=False)
    start: int = field(default=-1, compare=False, repr=False)
    wrong: frozenset[int] = field(default=frozenset(), compare=False, repr=False)

    def params(self) -> dict[str, object]:
        keys = ("kind", "acceptance", "n_vocab", "n_embd", "n_layer", "seed", "n_ff", "eos", "version")
        params = {k: v for k, v in asdict(self).items() if k in keys}
        if self.near_ties:  # only then: the other models keep their names
            params["near_ties"] = True
        if self.mtp_head != "token":
            params["mtp_head"] = self.mtp_head
        if self.cycle_length:
            params["cycle_length"] = self.cycle_length
        if self.acceptance_profiles:
            params.update(acceptance_profiles=[list(p) for p in self.acceptance_profiles], region_tokens=self.region_tokens)
        return params

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.params(), sort_keys=True).encode()).hexdigest()[:16]

    def next_token(self, last: int) -> int:
        """The target's greedy next token after `last`."""
        if self.near_ties:
            raise ValueError("a near_ties model's text is not known in advance")
        return self.cycle.get(last, self.start)

    def expected_tokens(self, prompt: Sequence[int], n: int) -> list[int]:
        """The n tokens greedy decoding produces after `prompt`."""
        out: list[int] = []
        last = int(prompt[-1])
        for _ in range(n):
            last = self.next_token(last)
            out.append(last)
        return out

    def mtp_agrees(self, token: int) -> bool:
        """Whether the MTP head's prediction after drafted token `token` is right.

        Non-word tokens (they only occur at the end of a prompt) follow the dial as a group:
        right when acceptance >= 0.5."""
        if token not in self.cycle:
            return self.acceptance >= 0.5
        return token not in self.wrong


def tiny_model_spec(
    *,
    kind: Kind = "dense",
    acceptance: float = 1.0,
    n_vocab: int = 1024,
    n_embd: int = 64,
    n_layer: int = 2,
    seed: int = 0,
    n_ff: int = 0,
    eos: int = 2,
    near_ties: bool = False,
    acceptance_profiles: Sequence[Sequence[float]] = (),
    region_tokens: int = 0,
    mtp_head: Head = "token",
    cycle_length: int = 0,
) -> TinyModelSpec:
    """Validate parameters and compute the crafted structure (cheap: no tensors)."""
    if kind not in ("dense", "hybrid"):
        raise ValueError(f"kind must be 'dense' or 'hybrid', not {kind!r}")
    if not (0.0 <= acceptance <= 1.0):
        raise ValueError(f"acceptance must be in [0, 1], got {acceptance}")
    n_base = len(base_vocab()[0])
    if n_vocab < n_base + 16:
        raise ValueError(f"n_vocab must be >= {n_base + 16}, got {n_vocab}")
    if n_embd < 64 or n_embd % 32:
        raise ValueError(f"n_embd must be a multiple of 32 and >= 64, got {n_embd}")
    if not 0 <= eos < n_vocab:
        raise ValueError(f"eos must be a token id in [0, {n_vocab}), got {eos}")
    if n_layer < (2 if kind == "hybrid" else 1):
        raise ValueError(f"n_layer too small for kind={kind!r}: {n_layer}")
    if mtp_head not in ("token", "copy"):
        raise ValueError(f"mtp_head must be 'token' or 'copy', not {mtp_head!r}")
    if cycle_length and not 2 <= cycle_length <= n_vocab - n_base:
        raise ValueError(f"cycle_length must be 0 or in [2, {n_vocab - n_base}], got {cycle_length}")
    if cycle_length and acceptance_profiles:
        raise ValueError("acceptance_profiles lay wrong words along one cycle: give no cycle_length with them")
    profiles = check_profiles(acceptance_profiles, region_tokens) if acceptance_profiles else ()
    region_tokens = region_tokens if len(profiles) > 1 else 0  # one profile: no regions
    acceptance = mean_acceptance(profiles, acceptance)  # what non-word tokens follow
    rng = np.random.default_rng(seed)
    words = list(range(n_base, n_vocab))
    order = rng.permutation(words)
    cycle = _cycles([int(t) for t in order], cycle_length or len(order))
    start = int(order[0])
    wrong = wrong_words(
        words, [int(t) for t in order], rng, acceptance=acceptance, profiles=profiles, region_tokens=region_tokens
    )
    return TinyModelSpec(
        kind=kind,
        acceptance=float(acceptance),
        n_vocab=n_vocab,
        n_embd=n_embd,
        n_layer=n_layer,
        seed=seed,
        n_ff=n_ff or (int(2.75 * n_embd) + 31) // 32 * 32,
        eos=eos,
        words=tuple(words),
        cycle=cycle,
        start=start,
        wrong=wrong,
        near_ties=near_ties,
        acceptance_profiles=profiles,
        region_tokens=region_tokens,
        mtp_head=mtp_head,
        cycle_length=cycle_length,
    )


def _cycles(order: list[int], length: int) -> dict[int, int]:
    """pi: consecutive runs of `length` words of `order` each form a cycle (the last takes the rest)."""
    n_cycles = max(1, len(order) // length)
    cycle: dict[int, int] = {}
    for c in range(n_cycles):
        run = order[c * length : (c + 1) * length] if c < n_cycles - 1 else order[c * length :]
        cycle.update({run[i]: run[(i + 1) % len(run)] for i in range(len(run))})
    return cycle

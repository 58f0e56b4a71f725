"""High-level generation: llama_mtp.generate() and llama_mtp.stream().

The hot loop (draft -> verify -> decode -> process -> accept -> trim KV) runs in C++
(`_core.Generator.step`, GIL released); Python only turns accepted tokens into text.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._core import (
    Context,
    ContextType,
    Generator,
    InvalidArgumentError,
    Model,
    MtpSessionConfig,
    MtpStats,
    build_info,
)

# llama.cpp's largest context (tokens per sequence) and its sequence limit
_MAX_CONTEXT = 1 << 24
_MAX_SEQUENCES: int = build_info()["max_parallel_sequences"]

__all__ = ["Generation", "Stream", "generate", "stream"]

TokenList = Sequence[int] | np.ndarray
PromptLike = str | TokenList


@dataclass
class Generation:
    """The result of one prompt's generation."""

    tokens: list[int]
    text: str
    finish_reason: str  # "stop" (EOS or a stop string) or "length"
    stats: MtpStats | None  # None when mtp=False
    n_prompt_tokens: int
    prompt_seconds: float
    generation_seconds: float
    n_steps: int  # target decodes (verify batches) of the generation loop
    prompt_tokens_per_s: float = field(init=False)
    tokens_per_s: float = field(init=False)

    def __post_init__(self) -> None:
        self.prompt_tokens_per_s = self.n_prompt_tokens / self.prompt_seconds if self.prompt_seconds > 0 else 0.0
        self.tokens_per_s = len(self.tokens) / self.generation_seconds if self.generation_seconds > 0 else 0.0


def _is_batch(prompt: object) -> bool:
    if isinstance(prompt, str) or isinstance(prompt, np.ndarray):
        return False
    if isinstance(prompt, Sequence) and len(prompt) > 0:
        return isinstance(prompt[0], (str, list, tuple, np.ndarray))
    return False


def _tokens(model: Model, prompt: PromptLike, add_special: bool) -> TokenList:
    if isinstance(prompt, str):
        return model.tokenize(prompt, add_special=add_special)
    return prompt  # token ids: validated (integral, in the vocabulary) by the native loop


def _open_model(model: Model | str | os.PathLike[str]) -> Model:
    return model if isinstance(model, Model) else Model(model)


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise InvalidArgumentError(f"{name} must be in [{lo}, {hi}], got {value}")
    return int(value)


class Stream:
    """Iterates over text pieces as they are accepted; `.result` holds the Generation(s) after."""

    def __init__(self, model: Model | str | os.PathLike[str], prompt: PromptLike | Sequence[PromptLike],
                 **kwargs: object) -> None:
        self._model = _open_model(model)
        self._batched = _is_batch(prompt)
        prompts = list(prompt) if self._batched else [prompt]
        self._setup(prompts, **kwargs)  # type: ignore[arg-type]
        self.result: Generation | list[Generation] | None = None

    def _setup(
        self,
        prompts: list[PromptLike],
        *,
        max_tokens: int = 128,
        mtp: bool = True,
        n_draft_max: int = 3,
        p_min: float = 0.0,
        n_min: int = 0,
        n_threads: int | None = None,
        temperature: float = 0.0,
        top_k: int = 0,
        top_p: float = 1.0,
        min_p: float = 0.0,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        add_special: bool = True,
        ignore_eos: bool = False,
    ) -> None:
        model = self._model
        max_tokens = _check_int("max_tokens", max_tokens, 0, _MAX_CONTEXT)
        if mtp:  # InvalidConfigError naming the field, as MtpSession raises it
            MtpSessionConfig(n_draft_max=n_draft_max, n_min=n_min, p_min=p_min)
        n_draft_max = _check_int("n_draft_max", n_draft_max, 1, 64)
        if mtp and not model.has_mtp:
            raise InvalidArgumentError("mtp=True needs a model with NextN (MTP) layers; use mtp=False")
        if not 1 <= len(prompts) <= _MAX_SEQUENCES:
            raise InvalidArgumentError(
                f"{len(prompts)} prompts: one generation runs 1 to {_MAX_SEQUENCES} sequences "
                "(llama.cpp's limit); generate() splits longer lists itself")
        token_prompts = [_tokens(model, p, add_special) for p in prompts]
        if any(len(p) == 0 for p in token_prompts):
            raise InvalidArgumentError("empty prompt")
        self._stops = [stop] if isinstance(stop, str) else list(stop or [])
        n_seq = len(token_prompts)
        longest = max(len(p) for p in token_prompts)
        # llama.cpp gives each sequence n_ctx / n_seq_max cells and limits n_batch to n_ctx
        per_seq = (longest + max_tokens + n_draft_max + 8 + 255) // 256 * 256
        if per_seq > _MAX_CONTEXT:
            raise InvalidArgumentError(
                f"prompt ({longest} tokens) + max_tokens ({max_tokens}) exceed the largest context, "
                f"{_MAX_CONTEXT} tokens")
        n_ctx = min(per_seq * n_seq, _MAX_CONTEXT)
        n_batch = min(max(min(512, longest), n_seq * (n_draft_max + 1), 32), n_ctx)
        rollback = model.is_recurrent or model.is_hybrid
        self._target = Context(
            model, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch, n_seq_max=n_seq,
            n_threads=n_threads, n_threads_batch=n_threads,
            n_rs_seq=n_draft_max if (mtp and rollback) else 0,
        )
        self._draft = (
            Context(model, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch, n_seq_max=n_seq,
                    n_threads=n_threads, n_threads_batch=n_threads, ctx_type=ContextType.MTP)
            if mtp else None
        )
        self._gen = Generator(
            self._target, self._draft, token_prompts, max_tokens=max_tokens, n_draft_max=n_draft_max,
            n_min=n_min, p_min=p_min, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
            seed=seed, ignore_eos=ignore_eos,
        )
        self._n_prompt = [len(p) for p in token_prompts]

    @property
    def generator(self) -> Generator:
        """The underlying C++ loop (its target context, session and counters)."""
        return self._gen

    def __iter__(self) -> Iterator[str] | Iterator[tuple[int, str]]:
        return self._pieces()  # type: ignore[return-value]

    def _pieces(self, text_per_step: bool = True) -> Iterator[object]:
        model, gen = self._model, self._gen
        n_seq = len(self._n_prompt)
        emitted = [0] * n_seq  # characters of text already yielded
        stopped: list[str | None] = [None] * n_seq
        texts = [""] * n_seq
        text_per_step = text_per_step or bool(self._stops)
        t_start = time.perf_counter()
        while not gen.done and not all(s is not None for s in stopped):
            new = gen.step()
            if not text_per_step:
                continue
            all_tokens = gen.tokens
            for s in range(n_seq):
                if not new[s] or stopped[s] is not None:
                    continue
                text = model.detokenize(all_tokens[s])
                cut = self._stop_at(text, emitted[s])
                if cut is not None:
                    text = text[:cut]
                    stopped[s] = "stop"
                # hold back a trailing replacement char: an incomplete UTF-8 sequence
                safe = len(text) if cut is not None or not text.endswith("\ufffd") else len(text) - 1
                piece = text[emitted[s]:safe]
                texts[s] = text
                if piece:
                    emitted[s] = safe
                    yield (s, piece) if self._batched else piece
        # wall time of the whole loop, Python side included (what a caller experiences)
        t_loop = time.perf_counter() - t_start
        results = []
        all_tokens = gen.tokens
        reasons = gen.finish_reasons
        stats = gen.session.stats if gen.session is not None else None
        for s in range(n_seq):
            text = texts[s] if stopped[s] else model.detokenize(all_tokens[s])
            if not stopped[s] and len(text) > emitted[s]:
                yield (s, text[emitted[s]:]) if self._batched else text[emitted[s]:]
            results.append(Generation(
                tokens=list(all_tokens[s]), text=text, finish_reason=stopped[s] or reasons[s] or "length",
                stats=stats, n_prompt_tokens=self._n_prompt[s], prompt_seconds=gen.t_prompt,
                generation_seconds=t_loop, n_steps=gen.n_steps,
            ))
        self.result = results if self._batched else results[0]

    def _stop_at(self, text: str, start: int) -> int | None:
        best = None
        for s in self._stops:
            i = text.find(s, max(0, start - len(s)))
            if i >= 0 and (best is None or i < best):
                best = i
        return best


def stream(model: Model | str | os.PathLike[str], prompt: PromptLike | Sequence[PromptLike],
           **kwargs: object) -> Stream:
    """Like generate(), but iterate to get text pieces as they are accepted
    ((index, piece) pairs for a list of prompts); `.result` then holds the Generation(s)."""
    return Stream(model, prompt, **kwargs)


def generate(model: Model | str | os.PathLike[str], prompt: PromptLike | Sequence[PromptLike],
             **kwargs: object) -> Generation | list[Generation]:
    """Generate from a prompt (text or token ids) or a list of prompts (batched in one target
    batch per step).

    Keyword arguments: max_tokens=128, mtp=True, n_draft_max=3, p_min=0.0, n_min=0,
    n_threads=None (one per physical core, as upstream picks: default_threads()), temperature=0.0 (greedy), top_k=0, top_p=1.0, min_p=0.0,
    seed=None, stop=None (string or strings), add_special=True, ignore_eos=False.
    """
    model = _open_model(model)
    if _is_batch(prompt) and len(prompt) > _MAX_SEQUENCES:
        prompts = list(prompt)
        results: list[Generation] = []
        for i in range(0, len(prompts), _MAX_SEQUENCES):
            part = generate(model, prompts[i:i + _MAX_SEQUENCES], **kwargs)
            assert isinstance(part, list)
            results.extend(part)
        return results
    s = Stream(model, prompt, **kwargs)
    for _ in s._pieces(text_per_step=False):  # text once at the end (unless stop strings)
        pass
    assert s.result is not None
    return s.result

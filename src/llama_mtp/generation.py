"""High-level generation: llama_mtp.generate() and llama_mtp.stream().

The hot loop (draft -> verify -> decode -> process -> accept -> trim KV) runs in C++
(`_core.Generator.step`, GIL released), and so does the text: pieces are appended as tokens
are accepted, stop strings end a sequence there (it takes no more verify rows) and only final
text is handed out.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Generic, TypeVar, cast, overload

import numpy as np

from . import _cost_cache
from ._core import (
    Context,
    DraftController,
    Generator,
    Grammar,
    InvalidArgumentError,
    Model,
    MtpSessionConfig,
    MtpStats,
    build_info,
)
from .sizing import DraftLength, draft_ceiling, mtp_context_params

# llama.cpp's largest context (tokens per sequence) and its sequence limit
_MAX_CONTEXT = 1 << 24
_MAX_SEQUENCES: int = build_info()["max_parallel_sequences"]

__all__ = ["Generation", "Stream", "generate", "stream"]

TokenList = Sequence[int] | np.ndarray
Prompt = str | TokenList
Prompts = Sequence[str] | Sequence[Sequence[int]] | Sequence[np.ndarray]
ModelLike = Model | str | os.PathLike[str]
Piece = TypeVar("Piece", str, tuple[int, str])


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
    # the draft length asked for at each step (0: plain decoding; empty when mtp=False), and
    # with n_draft_max="auto" the controller that chose them (acceptance, costs, speeds)
    draft_lengths: np.ndarray
    controller: DraftController | None
    # how the loop's native time split: drafting, verifying (target decode, sampling), process()
    draft_seconds: float
    verify_seconds: float
    process_seconds: float
    prompt_tokens_per_s: float = field(init=False)
    tokens_per_s: float = field(init=False)

    def __post_init__(self) -> None:
        self.prompt_tokens_per_s = self.n_prompt_tokens / self.prompt_seconds if self.prompt_seconds > 0 else 0.0
        self.tokens_per_s = len(self.tokens) / self.generation_seconds if self.generation_seconds > 0 else 0.0


@dataclass(frozen=True)
class _Options:
    """The keyword arguments of generate() and stream(), with their defaults (one place)."""

    max_tokens: int = 128
    mtp: bool = True
    n_draft_max: DraftLength = "auto"
    p_min: float = 0.0
    n_min: int = 0
    n_threads: int | None = None
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    seed: int | None = None
    stop: str | Sequence[str] | None = None
    add_special: bool = True
    parse_special: bool = False
    ignore_eos: bool = False
    grammar: Grammar | None = None
    exact: bool = False


_DEFAULTS = _Options()


def _options_of(arguments: dict[str, object]) -> _Options:
    """The options among a public function's arguments (its locals() on entry)."""
    return _Options(**{f.name: arguments[f.name] for f in fields(_Options)})  # type: ignore[arg-type]


def _prompt_list(prompt: object) -> tuple[bool, list[Prompt]]:
    """(batched, the prompts) of a prompt argument: one prompt (text or token ids) or a list of
    prompts, which are all text or all token-id lists (never a mix: which one was meant?)."""
    if isinstance(prompt, (str, np.ndarray)):
        return False, [prompt]
    if not isinstance(prompt, Sequence):
        raise TypeError(f"prompt must be text, token ids or a list of prompts, not {type(prompt).__name__}")
    items = list(prompt)
    n_text = sum(isinstance(p, str) for p in items)
    n_ids = sum(isinstance(p, (list, tuple, np.ndarray)) for p in items)
    if n_text == 0 and n_ids == 0:
        return False, [prompt]  # token ids (each one is checked by the native loop)
    if len(items) in (n_text, n_ids):
        return True, items
    kinds = sorted({type(p).__name__ for p in items})
    raise TypeError(f"a list of prompts must be all text or all token-id lists, got a mix of {', '.join(kinds)}")


def require_exact_support(model: Model) -> None:
    """exact=True: batch-invariant kernels exist in the local CPU backend only (patch 0005)."""
    elsewhere = sorted({d["rpc_endpoint"] or d["name"] for d in model.devices
                        if d["name"] != "CPU" and (d["layers"] or d["output"])})
    if elsewhere:
        raise InvalidArgumentError(
            "exact=True needs every layer on the local CPU (only its kernels can be made batch-invariant); "
            f"this model runs layers on {', '.join(elsewhere)}: load it with n_gpu_layers=0 and no rpc_servers")


def _open_model(model: ModelLike) -> Model:
    return model if isinstance(model, Model) else Model(model)


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise InvalidArgumentError(f"{name} must be in [{lo}, {hi}], got {value}")
    return int(value)


class Stream(Generic[Piece]):
    """Iterates over text pieces as they are accepted (str, or (index, str) for a list of
    prompts); `.result` holds the Generation(s) after. Joined, the pieces are the text: no piece
    holds an incomplete character or the start of what may become a stop string."""

    def __init__(self, model: ModelLike, prompt: Prompt | Prompts, options: _Options = _DEFAULTS) -> None:
        self._model = _open_model(model)
        self._batched, prompts = _prompt_list(prompt)
        self._setup(prompts, options)
        self.result: Generation | list[Generation] | None = None

    def _setup(self, prompts: list[Prompt], o: _Options) -> None:
        model = self._model
        max_tokens = _check_int("max_tokens", o.max_tokens, 0, _MAX_CONTEXT)
        if o.mtp and not isinstance(o.n_draft_max, str):  # InvalidConfigError naming the field, as MtpSession
            MtpSessionConfig(n_draft_max=o.n_draft_max, n_min=o.n_min, p_min=o.p_min)
        n_draft_max = draft_ceiling(o.n_draft_max)
        if o.mtp:
            MtpSessionConfig(n_draft_max=n_draft_max, n_min=o.n_min, p_min=o.p_min)
        if o.mtp and not model.has_mtp:
            raise InvalidArgumentError("mtp=True needs a model with NextN (MTP) layers; use mtp=False")
        if o.exact:
            require_exact_support(model)
        if not 1 <= len(prompts) <= _MAX_SEQUENCES:
            raise InvalidArgumentError(
                f"{len(prompts)} prompts: one generation runs 1 to {_MAX_SEQUENCES} sequences "
                "(llama.cpp's limit); generate() splits longer lists itself")
        token_prompts = [model.tokenize(p, add_special=o.add_special, parse_special=o.parse_special)
                         if isinstance(p, str) else p for p in prompts]  # ids: checked by the native loop
        if any(len(p) == 0 for p in token_prompts):
            raise InvalidArgumentError("empty prompt")
        stops = [o.stop] if isinstance(o.stop, str) else list(o.stop or [])
        n_seq = len(token_prompts)
        longest = max(len(p) for p in token_prompts)
        # llama.cpp gives each sequence n_ctx / n_seq_max cells and limits n_batch to n_ctx
        per_seq = (longest + max_tokens + n_draft_max + 8 + 255) // 256 * 256
        if per_seq > _MAX_CONTEXT:
            raise InvalidArgumentError(
                f"prompt ({longest} tokens) + max_tokens ({max_tokens}) exceed the largest context, "
                f"{_MAX_CONTEXT} tokens")
        # "auto" on one sequence starts where the last generation with the same model, machine
        # and settings ended (_cost_cache: $LLAMA_MTP_CACHE_DIR, off with $LLAMA_MTP_COST_CACHE=0),
        # its contexts sized to the lengths that may pay by what it learned
        self._cost_key: str | None = None
        prior: dict[str, Any] | None = None
        if o.mtp and o.n_draft_max == "auto" and n_seq == 1 and _cost_cache.cost_cache_dir() is not None:
            self._cost_key = _cost_cache.cost_key(model, n_threads=o.n_threads, exact=o.exact, n_draft_max=n_draft_max)
            prior = _cost_cache.load(self._cost_key) if self._cost_key is not None else None
            n_draft_max = _cost_cache.lengths_in_use(prior, n_draft_max)
        sizes = mtp_context_params(model, n_draft_max=n_draft_max, n_seq=n_seq,
                                   n_ctx=min(per_seq, _MAX_CONTEXT // n_seq), n_batch=max(32, min(512, longest)),
                                   n_threads=o.n_threads)
        target_params = sizes.target()
        if not o.mtp:
            target_params["n_rs_seq"] = 0
        self._target = Context(model, **target_params)  # type: ignore[arg-type]
        self._draft = Context(model, **sizes.draft()) if o.mtp else None  # type: ignore[arg-type]
        self._gen = Generator(
            self._target, self._draft, token_prompts, max_tokens=max_tokens, n_draft_max=n_draft_max,
            adaptive=o.n_draft_max == "auto", n_min=o.n_min, p_min=o.p_min, temperature=o.temperature,
            top_k=o.top_k, top_p=o.top_p,
            min_p=o.min_p, seed=o.seed, ignore_eos=o.ignore_eos, stop=stops, grammar=o.grammar, exact=o.exact,
        )
        self._n_prompt = [len(p) for p in token_prompts]
        if prior is not None:
            _cost_cache.start(self._gen, prior)

    @property
    def generator(self) -> Generator:
        """The underlying C++ loop (its target context, session and counters)."""
        return self._gen

    def __iter__(self) -> Iterator[Piece]:
        return self._pieces(yield_text=True)  # type: ignore[return-value]

    def _pieces(self, yield_text: bool) -> Iterator[str | tuple[int, str]]:
        gen = self._gen
        n_seq = len(self._n_prompt)
        t_start = time.perf_counter()
        while not gen.done:
            gen.step()
            if yield_text:
                yield from self._take(range(n_seq))
        # wall time of the whole loop, Python side included (what a caller experiences)
        t_loop = time.perf_counter() - t_start
        if yield_text:
            yield from self._take(range(n_seq))  # what was held back until the end
        all_tokens, reasons = gen.tokens, gen.finish_reasons
        stats = gen.session.stats if gen.session is not None else None
        draft_lengths, controller = gen.draft_lengths, gen.controller
        if self._cost_key is not None and controller is not None and controller.n_steps >= _cost_cache.MIN_STEPS:
            _cost_cache.save(self._cost_key, controller.state())
        results = [
            Generation(tokens=list(all_tokens[s]), text=gen.text(s), finish_reason=reasons[s] or "length",
                       stats=stats, n_prompt_tokens=self._n_prompt[s], prompt_seconds=gen.t_prompt,
                       generation_seconds=t_loop, n_steps=gen.n_steps, draft_lengths=draft_lengths,
                       controller=controller, draft_seconds=gen.t_draft, verify_seconds=gen.t_verify,
                       process_seconds=gen.t_process)
            for s in range(n_seq)
        ]
        self.result = results if self._batched else results[0]

    def _run(self) -> Generation | list[Generation]:
        for _ in self._pieces(yield_text=False):
            pass
        assert self.result is not None
        return self.result

    def _take(self, seqs: range) -> Iterator[str | tuple[int, str]]:
        for s in seqs:
            piece = self._gen.take_text(s)
            if piece:
                yield (s, piece) if self._batched else piece


@overload
def stream(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        model: ModelLike, prompt: Prompt, *, max_tokens: int = ..., mtp: bool = ..., n_draft_max: DraftLength = ...,
           p_min: float = ..., n_min: int = ..., n_threads: int | None = ..., temperature: float = ...,
           top_k: int = ..., top_p: float = ..., min_p: float = ..., seed: int | None = ...,
           stop: str | Sequence[str] | None = ..., add_special: bool = ..., parse_special: bool = ...,
           ignore_eos: bool = ..., grammar: Grammar | None = ..., exact: bool = ...) -> Stream[str]: ...
@overload
def stream(model: ModelLike, prompt: Prompts, *, max_tokens: int = ..., mtp: bool = ..., n_draft_max: DraftLength = ...,
           p_min: float = ..., n_min: int = ..., n_threads: int | None = ..., temperature: float = ...,
           top_k: int = ..., top_p: float = ..., min_p: float = ..., seed: int | None = ...,
           stop: str | Sequence[str] | None = ..., add_special: bool = ..., parse_special: bool = ...,
           ignore_eos: bool = ..., grammar: Grammar | None = ..., exact: bool = ...) -> Stream[tuple[int, str]]: ...
def stream(model: ModelLike, prompt: Prompt | Prompts, *, max_tokens: int = _DEFAULTS.max_tokens,
           mtp: bool = _DEFAULTS.mtp, n_draft_max: DraftLength = _DEFAULTS.n_draft_max, p_min: float = _DEFAULTS.p_min,
           n_min: int = _DEFAULTS.n_min, n_threads: int | None = _DEFAULTS.n_threads,
           temperature: float = _DEFAULTS.temperature, top_k: int = _DEFAULTS.top_k, top_p: float = _DEFAULTS.top_p,
           min_p: float = _DEFAULTS.min_p, seed: int | None = _DEFAULTS.seed,
           stop: str | Sequence[str] | None = _DEFAULTS.stop, add_special: bool = _DEFAULTS.add_special,
           parse_special: bool = _DEFAULTS.parse_special,
           ignore_eos: bool = _DEFAULTS.ignore_eos,
           grammar: Grammar | None = _DEFAULTS.grammar, exact: bool = _DEFAULTS.exact) -> Stream[str] | Stream[tuple[int, str]]:
    """Like generate(), but iterate to get text pieces as they are accepted ((index, piece)
    pairs for a list of prompts); `.result` then holds the Generation(s)."""
    o = _options_of(locals())
    return Stream(model, prompt, o)


@overload
def generate(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        model: ModelLike, prompt: Prompt, *, max_tokens: int = ..., mtp: bool = ..., n_draft_max: DraftLength = ...,
             p_min: float = ..., n_min: int = ..., n_threads: int | None = ..., temperature: float = ...,
             top_k: int = ..., top_p: float = ..., min_p: float = ..., seed: int | None = ...,
             stop: str | Sequence[str] | None = ..., add_special: bool = ..., parse_special: bool = ...,
             ignore_eos: bool = ..., grammar: Grammar | None = ..., exact: bool = ...) -> Generation: ...
@overload
def generate(model: ModelLike, prompt: Prompts, *, max_tokens: int = ..., mtp: bool = ..., n_draft_max: DraftLength = ...,
             p_min: float = ..., n_min: int = ..., n_threads: int | None = ..., temperature: float = ...,
             top_k: int = ..., top_p: float = ..., min_p: float = ..., seed: int | None = ...,
             stop: str | Sequence[str] | None = ..., add_special: bool = ..., parse_special: bool = ...,
             ignore_eos: bool = ..., grammar: Grammar | None = ..., exact: bool = ...) -> list[Generation]: ...
def generate(model: ModelLike, prompt: Prompt | Prompts, *, max_tokens: int = _DEFAULTS.max_tokens,
             mtp: bool = _DEFAULTS.mtp, n_draft_max: DraftLength = _DEFAULTS.n_draft_max, p_min: float = _DEFAULTS.p_min,
             n_min: int = _DEFAULTS.n_min, n_threads: int | None = _DEFAULTS.n_threads,
             temperature: float = _DEFAULTS.temperature, top_k: int = _DEFAULTS.top_k,
             top_p: float = _DEFAULTS.top_p, min_p: float = _DEFAULTS.min_p, seed: int | None = _DEFAULTS.seed,
             stop: str | Sequence[str] | None = _DEFAULTS.stop, add_special: bool = _DEFAULTS.add_special,
             parse_special: bool = _DEFAULTS.parse_special,
             ignore_eos: bool = _DEFAULTS.ignore_eos,
             grammar: Grammar | None = _DEFAULTS.grammar, exact: bool = _DEFAULTS.exact) -> Generation | list[Generation]:
    """Generate from a prompt (text or token ids) or a list of prompts (batched in one target
    batch per step; more than llama.cpp's sequence limit run in groups).

    max_tokens: most tokens per prompt. mtp: draft with the model's NextN layers (needs them;
    mtp=False is plain decoding). n_draft_max: the draft length, or "auto" (the default): a
    DraftController picks it for each step, from 0 (plain decoding) to AUTO_DRAFT_MAX, by what
    it measures (acceptance per position, the cost of each length). p_min, n_min: the draft's
    minimum probability and minimum length. n_threads: None is one per physical core
    (default_threads()). temperature 0 is greedy; otherwise top_k, top_p, min_p and seed
    shape the sampler. stop: a string or strings that end a sequence (not included in the
    text). add_special: add BOS/EOS as the model's tokenizer does; parse_special: read special
    tokens (e.g. "<|im_start|>") in text prompts. ignore_eos: go on past end-of-generation tokens.
    grammar: a llama_mtp.Grammar (GBNF, or Grammar.from_json_schema) that every sampled token,
    drafted ones included, must follow: verification samples through it.
    exact: every decode runs batch-invariant (each row computed as a one-row batch would be), so
    greedy output is that of one-token-at-a-time decoding on quantized models too, whatever the
    draft lengths, the batch or the other sequences; it costs speed on repacked CPU weights
    (README, "Exactness"). Without it, a quantized model's greedy text may part from plain
    decoding's at a near-tie once a verify batch has 4 or more rows (f16/f32 logits move ~1e-3).
    """
    o = _options_of(locals())
    model = _open_model(model)
    batched, prompts = _prompt_list(prompt)
    if batched and len(prompts) > _MAX_SEQUENCES:
        results: list[Generation] = []
        for i in range(0, len(prompts), _MAX_SEQUENCES):
            # sequence i is seeded with seed + i in every group, as within one (mod 2**32, as
            # the native loop adds)
            group = o if o.seed is None or i == 0 else replace(o, seed=(o.seed + i) % (1 << 32))
            part = Stream(model, cast(Prompts, prompts[i:i + _MAX_SEQUENCES]), group)._run()
            assert isinstance(part, list)
            results.extend(part)
        return results
    return Stream(model, prompt, o)._run()

"""LLM: one model kept warm. Its target and draft contexts, the slotted Generator and the
adaptive draft-length controller live across calls; a slot keeps its last sequence's KV, so a
prompt that begins the same way (the next turn of a chat) decodes only the new tokens. Calls
from several threads share each step's target batch (continuous batching); the server runs on
the same object."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from ._checks import check_int
from ._core import Generator, Model, MtpStats
from ._job_options import job_options_for
from ._llm_chat import ChatMethods
from ._scheduler import EngineStats, JobOptions, Scheduler
from .drafters import NGRAM_SIZE_N, Draft, Drafters, drafters_for, ngram_draft_max
from .generation import (
    _MAX_CONTEXT,
    _MAX_SEQUENCES,
    Generation,
    ModelLike,
    Prompt,
    Prompts,
    Stream,
    StreamJob,
    TokenList,
    _open_model,
    _prompt_list,
    require_exact_support,
)
from .options import (
    DRAFT_FIELDS,
    DraftConfig,
    InvalidOptionError,
    ResolvedOptions,
    SamplingParams,
    resolve_options,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import DraftKwargs, GenerateKwargs

__all__ = ["LLM"]


class LLM(ChatMethods):
    """A model with its contexts, kept warm between calls.

    Calls from several threads share each step's target batch (continuous batching); a slot
    keeps its last sequence's KV, so a prompt that begins like the last one (a chat's next
    turn) decodes only the new tokens.

    Args:
        model: A `Model`, or the path of a GGUF file.
        n_ctx: KV cells in all, split evenly between the `n_parallel` slots (each sequence
            gets `n_ctx // n_parallel`), as llama-server's `-c`.
        n_parallel: Sequences generated at once; more requests wait for a slot.
        n_batch: The most prompt tokens decoded in one batch.
        n_threads: CPU threads; None is the automatic count (one per physical core, fewer
            while other processes keep cores busy: docs, "Threads").
        max_queue: How many requests the server lets wait for a slot (Python callers
            always wait).
        draft: What drafts: a method name ("auto", "mtp", "ngram", "none") or a whole
            `DraftConfig`. None is `DraftConfig()`: "auto".
        **draft_options: `DraftConfig` fields as keywords (`n_draft_max`, `n_min`, `p_min`,
            `ngram`, `ngram_n_max`, `ngram_size_n`, `exact`), replacing those of `draft`.

    Raises:
        InvalidArgumentError: A value out of range, or drafters the model cannot run
            (`draft="mtp"` on a model without NextN layers).
        ArgumentTypeError: An argument of the wrong type, or an unknown keyword.
        ModelLoadError: `model` is a path that does not load.
    """

    def __init__(
        self,
        model: ModelLike,
        *,
        n_ctx: int = 4096,
        n_parallel: int = 1,
        n_batch: int = 512,
        n_threads: int | None = None,
        max_queue: int = 64,
        draft: Draft | DraftConfig | None = None,
        **draft_options: Unpack[DraftKwargs],
    ) -> None:
        resolved = resolve_options(
            sampling=None,
            draft=draft,
            base_draft=DraftConfig(),
            caller="LLM",
            accepted=DRAFT_FIELDS | {"mtp"},
            **draft_options,
        )
        self._model = _open_model(model)
        n_parallel = check_int("n_parallel", n_parallel, 1, _MAX_SEQUENCES)
        n_ctx = check_int("n_ctx", n_ctx, 64 * n_parallel, _MAX_CONTEXT)
        n_batch = check_int("n_batch", n_batch, 1, _MAX_CONTEXT)
        max_queue = check_int("max_queue", max_queue, 0, 1 << 20)
        if n_threads is not None:
            n_threads = check_int("n_threads", n_threads, 1, 1024)
        config = resolved.draft or DraftConfig()
        self._drafters = drafters_for(self._model.has_mtp, draft=config.method, mtp=resolved.mtp)
        # a recurrent or hybrid target keeps a state snapshot per draft position, at most 64
        rollback = self._model.is_recurrent or self._model.is_hybrid
        if config.ngram_n_max is not None and rollback:
            check_int("ngram_n_max", config.ngram_n_max, 1, 64)
        config = dataclasses.replace(
            config,
            method=self._drafters.name,
            ngram_n_max=config.ngram_n_max or ngram_draft_max(self._model),
            ngram_size_n=config.ngram_size_n or NGRAM_SIZE_N[config.ngram],
        )
        if config.exact:
            require_exact_support(self._model)
        self._config = config
        self._n_threads = n_threads
        self._draft_max = config.longest_mtp_draft
        self._templates = {}
        self._templates_lock = threading.Lock()
        self._scheduler = Scheduler(
            self._model,
            parallel=n_parallel,
            ctx_per_sequence=n_ctx // n_parallel,
            drafters=self._drafters,
            draft=config,
            n_threads=n_threads,
            n_batch=n_batch,
            max_queue=max_queue,
        )

    # --- what it holds --------------------------------------------------------------------------
    @property
    def model(self) -> Model:
        """The model it runs."""
        return self._model

    @property
    def n_parallel(self) -> int:
        """Sequences generated at once (its slots)."""
        return self._scheduler.parallel

    @property
    def n_ctx_per_sequence(self) -> int:
        """KV cells each sequence has: `n_ctx // n_parallel`."""
        return self._scheduler.n_ctx_per_sequence

    @property
    def draft_config(self) -> DraftConfig:
        """Its `DraftConfig`, with `method` the drafters it runs and the n-gram sizes resolved."""
        return self._config

    @property
    def mtp(self) -> bool:
        """Whether it drafts with the model's NextN (MTP) layers."""
        return self._drafters.mtp

    @property
    def drafters(self) -> Drafters:
        """What it drafts with (mtp, ngram); `draft` is its name."""
        return self._drafters

    @property
    def draft(self) -> Draft:
        """What it drafts with: "auto" (MTP where the model has NextN layers, and n-gram drafts
        from the text, chosen step by step), "mtp", "ngram" or "none"."""
        return self._drafters.name

    @property
    def generator(self) -> Generator:
        """The slotted C++ loop (its contexts, session, controller and counters)."""
        return self._scheduler.generator_or_raise()

    @property
    def draft_vocab_size(self) -> int | None:
        """Tokens the MTP head drafted from at the start (`DraftConfig.draft_vocab`; the text's
        own tokens join them as it goes); None: the whole vocabulary, or no MTP."""
        return self._scheduler.draft_vocab_size

    @property
    def stats(self) -> EngineStats:
        """Requests, tokens and steps so far: prompt_tokens asked for, cached_prompt_tokens of
        them taken from a slot's kept KV (prompt_tokens - cached_prompt_tokens were decoded)."""
        return self._scheduler.stats

    @property
    def mtp_stats(self) -> MtpStats | None:
        """The MTP session's statistics over every call so far (None without MTP)."""
        session = self.generator.session
        return session.stats if session is not None else None

    @property
    def closed(self) -> bool:
        """Whether `close()` freed its contexts."""
        return self._scheduler.generator is None

    def close(self) -> None:
        """Free the contexts (requests still waiting fail with EngineStoppedError); what the
        adaptive controller learned is kept for the next LLM with the same settings. Idempotent."""
        self._scheduler.close()

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"n_parallel={self.n_parallel}, n_ctx_per_sequence={self.n_ctx_per_sequence}"
        return f"LLM({self._model.path!r}, {state}, draft={self.draft!r}, n_draft_max={self._config.n_draft_max!r})"

    # --- requests -------------------------------------------------------------------------------
    def job_options(
        self,
        sampling: SamplingParams,
        draft: DraftConfig | None = None,
        *,
        mtp: bool | None = None,
        stop: Sequence[str] = (),
        index: int = 0,
    ) -> JobOptions:
        """One sequence's engine options from its request's options: the one conversion every
        caller (the Python API, the server) goes through.

        Args:
            sampling: The request's sampling parameters.
            draft: The request's DraftConfig (None: this LLM's). Its `method` must be among
                this LLM's drafters, its `n_draft_max` at most this LLM's; the fields the
                LLM is built by (`n_min`, `p_min`, the n-gram settings) must be its own.
            mtp: The deprecated `mtp=` (False: no drafting for this request).
            stop: Stop strings beside `sampling.stop` (a chat template's).
            index: The sequence's index in its call (it is seeded `seed + index`).

        Returns:
            The JobOptions the scheduler takes.

        Raises:
            InvalidOptionError: An option this LLM cannot honour; `.field` names it.
        """
        return job_options_for(
            self._model,
            self._config,
            self._drafters,
            sampling,
            draft,
            mtp=mtp,
            stop=stop,
            index=index,
            draft_max=self._draft_max,
            ceiling=self._scheduler.ceiling,
        )

    def _resolve(
        self, sampling: SamplingParams | None, draft: Draft | DraftConfig | None, options: dict[str, Any], caller: str
    ) -> ResolvedOptions:
        resolved = resolve_options(
            sampling=sampling, draft=draft, base_draft=self._config, stacklevel=4, caller=f"LLM.{caller}", **options
        )
        if resolved.n_threads is not None and resolved.n_threads != self._n_threads:
            raise InvalidOptionError(
                "n_threads",
                f"n_threads={resolved.n_threads!r}: this LLM was made with "
                f"n_threads={self._n_threads!r}; it is set once, at LLM(n_threads=...)",
            )
        return resolved

    def _tokens(self, prompt: Prompt, sampling: SamplingParams) -> TokenList:
        if isinstance(prompt, str):
            return self._model.tokenize(prompt, add_special=sampling.add_special, parse_special=sampling.parse_special)
        if isinstance(prompt, np.ndarray):
            return prompt  # checked by the native loop (dtype, range)
        return list(prompt)

    def _stream(self, prompt: Prompt | Prompts, resolved: ResolvedOptions, stop: Sequence[str] = ()) -> Stream[Any]:
        scheduler = self._scheduler
        scheduler.generator_or_raise()
        sampling = resolved.sampling
        base = self.job_options(sampling, resolved.draft, mtp=resolved.mtp, stop=stop)
        batched, prompts = _prompt_list(prompt)
        if not prompts:
            raise InvalidOptionError("prompt", "no prompts")
        tokens = [self._tokens(p, sampling) for p in prompts]
        if any(len(t) == 0 for t in tokens):
            raise InvalidOptionError("prompt", "empty prompt")
        jobs = [
            StreamJob(t, base if base.seed is None else dataclasses.replace(base, seed=(base.seed + i) % (1 << 32)), i)
            for i, t in enumerate(tokens)
        ]
        scheduler.submit(jobs, bounded=False, admit_now=True)
        return Stream(scheduler, jobs, batched=batched, on_end=scheduler.save_costs)

    @overload
    def stream(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        self,
        prompt: Prompt,
        *,
        sampling: SamplingParams | None = ...,
        draft: Draft | DraftConfig | None = ...,
        **options: Unpack[GenerateKwargs],
    ) -> Stream[str]: ...
    @overload
    def stream(
        self,
        prompt: Prompts,
        *,
        sampling: SamplingParams | None = ...,
        draft: Draft | DraftConfig | None = ...,
        **options: Unpack[GenerateKwargs],
    ) -> Stream[tuple[int, str]]: ...
    def stream(
        self,
        prompt: Prompt | Prompts,
        *,
        sampling: SamplingParams | None = None,
        draft: Draft | DraftConfig | None = None,
        **options: Unpack[GenerateKwargs],
    ) -> Stream[str] | Stream[tuple[int, str]]:
        """Like `generate()`, but iterate to get text pieces as they are accepted.

        The prompts are admitted (their KV prefix reused, the rest decoded) before this
        returns, where a slot is free; the generation runs as the stream is iterated.

        Args:
            prompt: Text, token ids, or a list of prompts (all text or all token ids).
            sampling: The request's `SamplingParams` (None: the defaults).
            draft: A method name or a `DraftConfig`, within this LLM's (None: its own).
            **options: `SamplingParams` and `DraftConfig` fields as keywords, replacing
                those of `sampling` and `draft`.

        Returns:
            A `Stream` of text pieces (`(index, piece)` pairs for a list of prompts); its
            `.result` holds the Generation(s) once it is exhausted.

        Raises:
            InvalidArgumentError: An option out of range or one this LLM cannot honour.
            EngineStoppedError: The LLM is closed.
        """
        return self._stream(prompt, self._resolve(sampling, draft, dict(options), "stream"))

    @overload
    def generate(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        self,
        prompt: Prompt,
        *,
        sampling: SamplingParams | None = ...,
        draft: Draft | DraftConfig | None = ...,
        **options: Unpack[GenerateKwargs],
    ) -> Generation: ...
    @overload
    def generate(
        self,
        prompt: Prompts,
        *,
        sampling: SamplingParams | None = ...,
        draft: Draft | DraftConfig | None = ...,
        **options: Unpack[GenerateKwargs],
    ) -> list[Generation]: ...
    def generate(
        self,
        prompt: Prompt | Prompts,
        *,
        sampling: SamplingParams | None = None,
        draft: Draft | DraftConfig | None = None,
        **options: Unpack[GenerateKwargs],
    ) -> Generation | list[Generation]:
        """Generate from a prompt, or from a list of prompts at once.

        Up to `n_parallel` prompts share one target batch per step; the others wait for a
        slot. Sequence i of a list is seeded `seed + i`.

        Args:
            prompt: Text, token ids, or a list of prompts (all text or all token ids).
            sampling: The request's `SamplingParams` (None: the defaults).
            draft: A method name or a `DraftConfig`, within this LLM's (None: its own).
            **options: `SamplingParams` and `DraftConfig` fields as keywords, replacing
                those of `sampling` and `draft`.

        Returns:
            A `Generation`, or a list of them for a list of prompts.

        Raises:
            InvalidArgumentError: An option out of range or one this LLM cannot honour.
            EngineStoppedError: The LLM is closed.
            DecodeError: llama.cpp failed to decode.
        """
        return self._stream(prompt, self._resolve(sampling, draft, dict(options), "generate"))._run()

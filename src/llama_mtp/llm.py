"""LLM: one model kept warm. Its target and draft contexts, the slotted Generator and the
adaptive draft-length controller live across calls; a slot keeps its last sequence's KV, so a
prompt that begins the same way (the next turn of a chat) decodes only the new tokens. Calls
from several threads share each step's target batch (continuous batching); the server runs on
the same object."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, overload

import numpy as np

from ._checks import as_grammar, check_bool, check_int, check_number, check_optional_bool
from ._core import (
    ChatPrompt,
    ChatTemplate,
    Generator,
    Grammar,
    InvalidArgumentError,
    Model,
    MtpSessionConfig,
    MtpStats,
)
from ._scheduler import EngineStats, JobOptions, Scheduler
from .chat import ChatCompletion, ChatStream, Message, render_chat
from .drafters import (
    DEFAULT_NGRAM,
    NGRAM_SIZE_N,
    Draft,
    Drafters,
    NgramKind,
    check_ngram_kind,
    drafters_for,
    ngram_draft_max,
    request_drafters,
)
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
from .sizing import DraftLength, draft_ceiling

__all__ = ["LLM"]


class LLM:
    """A model with its contexts, kept warm between calls.

    n_ctx: KV cells in all, split evenly between the n_parallel slots (each sequence gets
    n_ctx // n_parallel). n_parallel: sequences generated at once; more requests wait for a
    slot. draft: what to draft with, "auto" (None; MTP where the model has NextN layers and
    n-gram drafts from the text, chosen step by step by what each one's acceptance and cost
    measure), "mtp", "ngram" or "none"; mtp=False is "none", mtp=True requires NextN layers.
    ngram: upstream's n-gram drafter (README, "Drafts from the text"), ngram_n_max its longest
    draft (None: NGRAM_DRAFT_MAX, NGRAM_DRAFT_MAX_ROLLBACK on recurrent and hybrid models),
    ngram_size_n the tokens it matches (None: NGRAM_SIZE_N[ngram]). n_draft_max: the
    longest MTP draft, or "auto" (a DraftController picks each step's length, from 0 to
    AUTO_DRAFT_MAX, by the acceptance and costs it measures, and an NgramController the length
    of each n-gram draft; what they learn stays for the next call); a fixed n_draft_max
    verifies n-gram drafts whole, where the text offers one (upstream's behaviour). n_min,
    p_min: the MTP draft's minimum length and probability. n_threads: None is the auto
    thread count (one per physical core, fewer while other processes keep cores busy: README,
    "Threads"); a number is that count always. exact: the default of every request's exact (README, "Exactness").
    max_queue: how many requests the server lets wait for a slot (Python callers always wait).
    """

    def __init__(self, model: ModelLike, *, n_ctx: int = 4096, n_parallel: int = 1,
                 n_batch: int = 512, mtp: bool | None = None, draft: Draft | None = None,
                 n_draft_max: DraftLength = "auto", n_min: int = 0, p_min: float = 0.0, n_threads: int | None = None,
                 exact: bool = False, max_queue: int = 64, ngram: NgramKind = DEFAULT_NGRAM,
                 ngram_n_max: int | None = None, ngram_size_n: int | None = None) -> None:
        self._model = _open_model(model)
        n_parallel = check_int("n_parallel", n_parallel, 1, _MAX_SEQUENCES)
        n_ctx = check_int("n_ctx", n_ctx, 64 * n_parallel, _MAX_CONTEXT)
        n_batch = check_int("n_batch", n_batch, 1, _MAX_CONTEXT)
        max_queue = check_int("max_queue", max_queue, 0, 1 << 20)
        # a recurrent or hybrid target keeps a state snapshot per draft position, at most 64
        rollback = self._model.is_recurrent or self._model.is_hybrid
        ngram_n_max = (ngram_draft_max(self._model) if ngram_n_max is None
                       else check_int("ngram_n_max", ngram_n_max, 1, 64 if rollback else 256))
        check_ngram_kind(ngram)
        ngram_size_n = NGRAM_SIZE_N[ngram] if ngram_size_n is None else check_int("ngram_size_n", ngram_size_n, 1, 64)
        if n_threads is not None:
            n_threads = check_int("n_threads", n_threads, 1, 1024)
        mtp = check_optional_bool("mtp", mtp)
        exact = check_bool("exact", exact)
        n_min = check_int("n_min", n_min, 0, 64)
        p_min = check_number("p_min", p_min)
        self._drafters = drafters_for(self._model.has_mtp, draft=draft, mtp=mtp)
        mtp = self._drafters.mtp
        if mtp and not isinstance(n_draft_max, str):  # InvalidConfigError naming the field, as MtpSession
            MtpSessionConfig(n_draft_max=n_draft_max, n_min=n_min, p_min=p_min)
        self._draft_max = draft_ceiling(n_draft_max)
        # checked whatever drafts (InvalidConfigError naming the field): a NaN p_min is refused
        # on a model without NextN layers too
        MtpSessionConfig(n_draft_max=self._draft_max, n_min=n_min, p_min=p_min)
        if exact:
            require_exact_support(self._model)
        self._mtp, self._n_draft_max, self._exact = bool(mtp), n_draft_max, bool(exact)
        self._fixed = {"n_threads": n_threads, "n_min": n_min, "p_min": p_min}
        self._templates: dict[str, ChatTemplate] = {}
        self._templates_lock = threading.Lock()
        self._scheduler = Scheduler(self._model, parallel=n_parallel, ctx_per_sequence=n_ctx // n_parallel, mtp=self._mtp,
                                    n_draft_max=n_draft_max, n_threads=n_threads, n_batch=n_batch, n_min=n_min,
                                    p_min=p_min, max_queue=max_queue, exact=self._exact,
                                    ngram=ngram if self._drafters.ngram else None, ngram_n_max=ngram_n_max,
                                    ngram_size_n=ngram_size_n)

    # --- what it holds --------------------------------------------------------------------------
    @property
    def model(self) -> Model:
        return self._model

    @property
    def n_parallel(self) -> int:
        return self._scheduler.parallel

    @property
    def n_ctx_per_sequence(self) -> int:
        return self._scheduler.n_ctx_per_sequence

    @property
    def mtp(self) -> bool:
        return self._mtp

    @property
    def drafters(self) -> Drafters:
        """What it drafts with (mtp, ngram); draft is its name."""
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
        return self._scheduler.generator is None

    def close(self) -> None:
        """Free the contexts (requests still waiting fail with EngineStoppedError); what the
        adaptive controller learned is kept for the next LLM with the same settings. Idempotent."""
        self._scheduler.close()

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"n_parallel={self.n_parallel}, n_ctx_per_sequence={self.n_ctx_per_sequence}"
        return (f"LLM({self._model.path!r}, {state}, draft={self.draft!r}, mtp={self._mtp}, "
                f"n_draft_max={self._n_draft_max!r})")

    # --- requests -------------------------------------------------------------------------------
    def _n_draft(self, mtp: bool | None, draft: Draft | None, n_draft_max: DraftLength | None) -> tuple[int, bool]:
        """A request's SequenceOptions (n_draft, ngram): n_draft -1 follows the LLM's draft
        length, 0 none, k at most k; ngram whether it may verify drafts from its text."""
        use = request_drafters(self._drafters, draft=draft, mtp=mtp)
        if not use.mtp:
            return 0, use.ngram
        if n_draft_max is None or n_draft_max == self._n_draft_max:
            return -1, use.ngram
        if n_draft_max == "auto":
            raise InvalidArgumentError(f'n_draft_max="auto" needs an LLM made with it; this one drafts {self._n_draft_max}')
        k = draft_ceiling(n_draft_max)
        if k > self._draft_max:
            raise InvalidArgumentError(f"n_draft_max={k}: this LLM's contexts are sized for drafts of at most "
                                       f"{self._draft_max} (LLM(n_draft_max=...))")
        return min(k, self._scheduler.ceiling), use.ngram

    def _check_fixed(self, **given: object) -> None:
        for name, value in given.items():
            if value is not None and value != self._fixed[name]:
                raise InvalidArgumentError(f"{name}={value!r}: this LLM was made with {name}={self._fixed[name]!r}; "
                                           f"it is set once, at LLM({name}=...)")

    def _tokens(self, prompt: Prompt, add_special: bool, parse_special: bool) -> TokenList:
        if isinstance(prompt, str):
            return self._model.tokenize(prompt, add_special=add_special, parse_special=parse_special)
        if isinstance(prompt, np.ndarray):
            return prompt  # checked by the native loop (dtype, range)
        return list(prompt)

    def _stream(self, prompt: Prompt | Prompts, *, max_tokens: int, mtp: bool | None, draft: Draft | None,
                n_draft_max: DraftLength | None,
                p_min: float | None, n_min: int | None, n_threads: int | None, temperature: float, top_k: int,
                top_p: float, min_p: float, seed: int | None, stop: str | Sequence[str] | None, add_special: bool,
                parse_special: bool, ignore_eos: bool, grammar: Grammar | str | None, exact: bool | None) -> Stream[Any]:
        scheduler = self._scheduler
        scheduler.generator_or_raise()
        max_tokens = check_int("max_tokens", max_tokens, 0, _MAX_CONTEXT)
        self._check_fixed(p_min=p_min, n_min=n_min, n_threads=n_threads)
        if n_draft_max is not None and n_draft_max != "auto":
            draft_ceiling(n_draft_max)  # checked whatever the request drafts with
        n_draft, ngram = self._n_draft(check_optional_bool("mtp", mtp), draft, n_draft_max)
        exact = self._exact if exact is None else check_bool("exact", exact)
        ignore_eos = check_bool("ignore_eos", ignore_eos)
        add_special = check_bool("add_special", add_special)
        parse_special = check_bool("parse_special", parse_special)
        grammar = as_grammar(self._model, grammar)
        if exact:
            require_exact_support(self._model)
        if seed is not None:
            seed = check_int("seed", seed, 0, (1 << 32) - 1)
        batched, prompts = _prompt_list(prompt)
        if not prompts:
            raise InvalidArgumentError("no prompts")
        tokens = [self._tokens(p, add_special, parse_special) for p in prompts]
        if any(len(t) == 0 for t in tokens):
            raise InvalidArgumentError("empty prompt")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        jobs = [StreamJob(t, JobOptions(max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                                        min_p=min_p, seed=None if seed is None else (seed + i) % (1 << 32),
                                        stop=stops, n_draft=n_draft, ngram=ngram, grammar=grammar, ignore_eos=ignore_eos,
                                        exact=exact), i)
                for i, t in enumerate(tokens)]
        scheduler.submit(jobs, bounded=False, admit_now=True)
        return Stream(scheduler, jobs, batched=batched, on_end=scheduler.save_costs)

    @overload
    def stream(self, prompt: Prompt, *, max_tokens: int = ..., mtp: bool | None = ...,  # type: ignore[overload-overlap]
               draft: Draft | None = ..., n_draft_max: DraftLength | None = ..., p_min: float | None = ...,
               n_min: int | None = ...,
               n_threads: int | None = ..., temperature: float = ..., top_k: int = ..., top_p: float = ...,
               min_p: float = ..., seed: int | None = ..., stop: str | Sequence[str] | None = ...,
               add_special: bool = ..., parse_special: bool = ..., ignore_eos: bool = ...,
               grammar: Grammar | str | None = ..., exact: bool | None = ...) -> Stream[str]: ...
    @overload
    def stream(self, prompt: Prompts, *, max_tokens: int = ..., mtp: bool | None = ..., draft: Draft | None = ...,
               n_draft_max: DraftLength | None = ..., p_min: float | None = ..., n_min: int | None = ...,
               n_threads: int | None = ..., temperature: float = ..., top_k: int = ..., top_p: float = ...,
               min_p: float = ..., seed: int | None = ..., stop: str | Sequence[str] | None = ...,
               add_special: bool = ..., parse_special: bool = ..., ignore_eos: bool = ...,
               grammar: Grammar | str | None = ..., exact: bool | None = ...) -> Stream[tuple[int, str]]: ...
    def stream(self, prompt: Prompt | Prompts, *, max_tokens: int = 128, mtp: bool | None = None, draft: Draft | None = None,
               n_draft_max: DraftLength | None = None, p_min: float | None = None, n_min: int | None = None,
               n_threads: int | None = None, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
               min_p: float = 0.0, seed: int | None = None, stop: str | Sequence[str] | None = None,
               add_special: bool = True, parse_special: bool = False, ignore_eos: bool = False,
               grammar: Grammar | str | None = None, exact: bool | None = None) -> Stream[str] | Stream[tuple[int, str]]:
        """Like generate(), but iterate to get text pieces as they are accepted ((index, piece)
        pairs for a list of prompts); `.result` then holds the Generation(s). The prompts are
        admitted (their KV prefix reused, the rest decoded) before this returns, where a slot is
        free; the generation runs as the stream is iterated."""
        return self._stream(prompt, max_tokens=max_tokens, mtp=mtp, draft=draft, n_draft_max=n_draft_max, p_min=p_min,
                            n_min=n_min,
                            n_threads=n_threads, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                            seed=seed, stop=stop, add_special=add_special, parse_special=parse_special,
                            ignore_eos=ignore_eos, grammar=grammar, exact=exact)

    @overload
    def generate(self, prompt: Prompt, *, max_tokens: int = ..., mtp: bool | None = ...,  # type: ignore[overload-overlap]
                 draft: Draft | None = ..., n_draft_max: DraftLength | None = ..., p_min: float | None = ...,
                 n_min: int | None = ...,
                 n_threads: int | None = ..., temperature: float = ..., top_k: int = ..., top_p: float = ...,
                 min_p: float = ..., seed: int | None = ..., stop: str | Sequence[str] | None = ...,
                 add_special: bool = ..., parse_special: bool = ..., ignore_eos: bool = ...,
                 grammar: Grammar | str | None = ..., exact: bool | None = ...) -> Generation: ...
    @overload
    def generate(self, prompt: Prompts, *, max_tokens: int = ..., mtp: bool | None = ..., draft: Draft | None = ...,
                 n_draft_max: DraftLength | None = ..., p_min: float | None = ..., n_min: int | None = ...,
                 n_threads: int | None = ..., temperature: float = ..., top_k: int = ..., top_p: float = ...,
                 min_p: float = ..., seed: int | None = ..., stop: str | Sequence[str] | None = ...,
                 add_special: bool = ..., parse_special: bool = ..., ignore_eos: bool = ...,
                 grammar: Grammar | str | None = ..., exact: bool | None = ...) -> list[Generation]: ...
    def generate(self, prompt: Prompt | Prompts, *, max_tokens: int = 128, mtp: bool | None = None, draft: Draft | None = None,
                 n_draft_max: DraftLength | None = None, p_min: float | None = None, n_min: int | None = None,
                 n_threads: int | None = None, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
                 min_p: float = 0.0, seed: int | None = None, stop: str | Sequence[str] | None = None,
                 add_special: bool = True, parse_special: bool = False, ignore_eos: bool = False,
                 grammar: Grammar | str | None = None, exact: bool | None = None) -> Generation | list[Generation]:
        """Generate from a prompt (text or token ids) or a list of prompts (up to n_parallel at
        once in one target batch per step; the others wait for a slot). The arguments are
        llama_mtp.generate()'s; those set on the LLM (n_threads, n_min, p_min) may be given
        only with the LLM's value, and n_draft_max only up to the LLM's (None: the LLM's).
        mtp=False: no drafting for this request. Sequence i of a list is seeded seed + i."""
        return self._stream(prompt, max_tokens=max_tokens, mtp=mtp, draft=draft, n_draft_max=n_draft_max, p_min=p_min,
                            n_min=n_min,
                            n_threads=n_threads, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                            seed=seed, stop=stop, add_special=add_special, parse_special=parse_special,
                            ignore_eos=ignore_eos, grammar=grammar, exact=exact)._run()

    # --- chat -----------------------------------------------------------------------------------
    def chat_template(self, source: str | None = None) -> ChatTemplate:
        """The model's chat template (or one from jinja source), parsed once and kept."""
        key = source or ""
        with self._templates_lock:
            template = self._templates.get(key)
            if template is None:
                template = self._templates[key] = ChatTemplate(self._model, source=key)
            return template

    def chat_stream(self, messages: Sequence[Message], *, tools: Sequence[Mapping[str, Any]] | None = None,
                    tool_choice: str = "auto", response_format: Mapping[str, Any] | None = None,
                    chat_template: str | None = None, parallel_tool_calls: bool = False, enable_thinking: bool = True,
                    template_kwargs: Mapping[str, Any] | None = None, max_tokens: int = 256, mtp: bool | None = None,
                    draft: Draft | None = None,
                    n_draft_max: DraftLength | None = None, temperature: float = 0.0, top_k: int = 0,
                    top_p: float = 1.0, min_p: float = 0.0, seed: int | None = None,
                    stop: str | Sequence[str] | None = None, n_threads: int | None = None,
                    exact: bool | None = None) -> ChatStream:
        """Like chat(), but iterate to get the reply's content as it is generated."""
        prompt = render_chat(self.chat_template(chat_template), messages, tools=tools, tool_choice=tool_choice,
                             response_format=response_format, parallel_tool_calls=parallel_tool_calls,
                             enable_thinking=enable_thinking, template_kwargs=template_kwargs)
        return self._reply_stream(prompt, self._model.tokenize(prompt.prompt, add_special=True, parse_special=True),
                                  max_tokens=max_tokens, mtp=mtp, draft=draft, n_draft_max=n_draft_max, temperature=temperature,
                                  top_k=top_k, top_p=top_p, min_p=min_p, seed=seed, stop=stop, n_threads=n_threads,
                                  exact=exact)

    def _reply_stream(self, prompt: ChatPrompt, tokens: TokenList, *, max_tokens: int, mtp: bool | None, draft: Draft | None,
                      n_draft_max: DraftLength | None, temperature: float, top_k: int, top_p: float, min_p: float,
                      seed: int | None, stop: str | Sequence[str] | None, n_threads: int | None,
                      exact: bool | None) -> ChatStream:
        """The reply to a rendered conversation (its tokens given: llama_mtp.chat() sized the LLM by them)."""
        stops = ([stop] if isinstance(stop, str) else list(stop or [])) + list(prompt.stops)
        inner = self.stream(tokens, max_tokens=max_tokens, mtp=mtp, draft=draft, n_draft_max=n_draft_max, temperature=temperature,
                            top_k=top_k, top_p=top_p, min_p=min_p, seed=seed, stop=stops or None, n_threads=n_threads,
                            grammar=prompt.grammar, exact=exact)
        return ChatStream(prompt, inner)

    def chat(self, messages: Sequence[Message], *, tools: Sequence[Mapping[str, Any]] | None = None,
             tool_choice: str = "auto", response_format: Mapping[str, Any] | None = None,
             chat_template: str | None = None, parallel_tool_calls: bool = False, enable_thinking: bool = True,
             template_kwargs: Mapping[str, Any] | None = None, max_tokens: int = 256, mtp: bool | None = None,
             draft: Draft | None = None,
             n_draft_max: DraftLength | None = None, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
             min_p: float = 0.0, seed: int | None = None, stop: str | Sequence[str] | None = None,
             n_threads: int | None = None, exact: bool | None = None) -> ChatCompletion:
        """Reply to a conversation (OpenAI-format messages) with the model's chat template; the
        arguments are llama_mtp.chat()'s. The next turn's prompt begins with this one's prompt
        and reply, so it decodes only the new messages (Generation.n_cached_tokens says how many
        tokens came from the slot's KV)."""
        s = self.chat_stream(messages, tools=tools, tool_choice=tool_choice, response_format=response_format,
                             chat_template=chat_template, parallel_tool_calls=parallel_tool_calls,
                             enable_thinking=enable_thinking, template_kwargs=template_kwargs, max_tokens=max_tokens,
                             mtp=mtp, draft=draft, n_draft_max=n_draft_max, temperature=temperature, top_k=top_k, top_p=top_p,
                             min_p=min_p, seed=seed, stop=stop, n_threads=n_threads, exact=exact)
        for _ in s:
            pass
        assert s.result is not None
        return s.result

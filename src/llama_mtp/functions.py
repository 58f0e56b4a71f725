"""The one-line functions: llama_mtp.generate(), stream(), chat() and chat_stream(). Each runs
on a fresh LLM sized for its prompts (KV cells for the longest prompt and max_tokens per
sequence, one slot per prompt up to llama.cpp's sequence limit); an LLM kept between calls
reuses its contexts, KV prefixes and controller instead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, overload

from ._checks import check_int as _check_int
from ._core import ChatTemplate, Grammar, InvalidArgumentError, MtpSessionConfig
from .chat import ChatCompletion, ChatStream, Message, render_chat
from .drafters import Draft, drafters_for, ngram_draft_max
from .generation import (
    _DEFAULTS,
    _MAX_CONTEXT,
    _MAX_SEQUENCES,
    Generation,
    ModelLike,
    Prompt,
    Prompts,
    Stream,
    _open_model,
    _Options,
    _options_of,
    _prompt_list,
)
from .llm import LLM
from .sizing import DraftLength, draft_ceiling

__all__ = ["chat", "chat_stream", "generate", "stream"]


def _llm_for(model: ModelLike, token_counts: list[int], o: _Options) -> LLM:
    """An LLM with a slot per prompt (up to the sequence limit) and KV cells per slot for the
    longest prompt, max_tokens and a draft."""
    max_tokens = _check_int("max_tokens", o.max_tokens, 0, _MAX_CONTEXT)
    m = _open_model(model)
    use = drafters_for(m.has_mtp, draft=o.draft, mtp=o.mtp)
    if use.mtp and not isinstance(o.n_draft_max, str):  # InvalidConfigError naming the field, as MtpSession
        MtpSessionConfig(n_draft_max=o.n_draft_max, n_min=o.n_min, p_min=o.p_min)
    ceiling = max(draft_ceiling(o.n_draft_max) if use.mtp else 0, ngram_draft_max(m) if use.ngram else 0)
    if not token_counts:
        raise InvalidArgumentError("no prompts")
    longest = max(token_counts)
    if longest == 0:
        raise InvalidArgumentError("empty prompt")
    n_seq = min(len(token_counts), _MAX_SEQUENCES)
    # llama.cpp gives each sequence n_ctx / n_seq_max cells and limits n_batch to n_ctx
    per_seq = (longest + max_tokens + ceiling + 8 + 255) // 256 * 256
    if per_seq > _MAX_CONTEXT:
        raise InvalidArgumentError(
            f"prompt ({longest} tokens) + max_tokens ({max_tokens}) exceed the largest context, {_MAX_CONTEXT} tokens")
    per_seq = min(per_seq, _MAX_CONTEXT // n_seq)
    return LLM(m, n_ctx=per_seq * n_seq, n_parallel=n_seq, n_batch=max(32, min(512, longest)),
               mtp=o.mtp, draft=o.draft, n_draft_max=o.n_draft_max, n_min=o.n_min, p_min=o.p_min, n_threads=o.n_threads,
               exact=o.exact)


def _sized_llm(model: ModelLike, prompt: Prompt | Prompts, o: _Options) -> Stream[Any]:
    m = _open_model(model)
    batched, prompts = _prompt_list(prompt)
    tokens = [m.tokenize(p, add_special=o.add_special, parse_special=o.parse_special) if isinstance(p, str) else p
              for p in prompts]
    llm = _llm_for(m, [len(t) for t in tokens], o)
    batch: Prompt | Prompts = tokens if batched else tokens[0]  # type: ignore[assignment]
    return llm.stream(batch, max_tokens=o.max_tokens, temperature=o.temperature, top_k=o.top_k, top_p=o.top_p,
                      min_p=o.min_p, seed=o.seed, stop=o.stop, ignore_eos=o.ignore_eos, grammar=o.grammar)


@overload
def stream(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        model: ModelLike, prompt: Prompt, *, max_tokens: int = ..., mtp: bool | None = ..., draft: Draft | None = ...,
        n_draft_max: DraftLength = ...,
           p_min: float = ..., n_min: int = ..., n_threads: int | None = ..., temperature: float = ...,
           top_k: int = ..., top_p: float = ..., min_p: float = ..., seed: int | None = ...,
           stop: str | Sequence[str] | None = ..., add_special: bool = ..., parse_special: bool = ...,
           ignore_eos: bool = ..., grammar: Grammar | str | None = ..., exact: bool = ...) -> Stream[str]: ...
@overload
def stream(model: ModelLike, prompt: Prompts, *, max_tokens: int = ..., mtp: bool | None = ..., draft: Draft | None = ...,
           n_draft_max: DraftLength = ...,
           p_min: float = ..., n_min: int = ..., n_threads: int | None = ..., temperature: float = ...,
           top_k: int = ..., top_p: float = ..., min_p: float = ..., seed: int | None = ...,
           stop: str | Sequence[str] | None = ..., add_special: bool = ..., parse_special: bool = ...,
           ignore_eos: bool = ..., grammar: Grammar | str | None = ..., exact: bool = ...) -> Stream[tuple[int, str]]: ...
def stream(model: ModelLike, prompt: Prompt | Prompts, *, max_tokens: int = _DEFAULTS.max_tokens,
           mtp: bool | None = _DEFAULTS.mtp, draft: Draft | None = _DEFAULTS.draft,
           n_draft_max: DraftLength = _DEFAULTS.n_draft_max, p_min: float = _DEFAULTS.p_min,
           n_min: int = _DEFAULTS.n_min, n_threads: int | None = _DEFAULTS.n_threads,
           temperature: float = _DEFAULTS.temperature, top_k: int = _DEFAULTS.top_k, top_p: float = _DEFAULTS.top_p,
           min_p: float = _DEFAULTS.min_p, seed: int | None = _DEFAULTS.seed,
           stop: str | Sequence[str] | None = _DEFAULTS.stop, add_special: bool = _DEFAULTS.add_special,
           parse_special: bool = _DEFAULTS.parse_special,
           ignore_eos: bool = _DEFAULTS.ignore_eos,
           grammar: Grammar | str | None = _DEFAULTS.grammar, exact: bool = _DEFAULTS.exact) -> Stream[str] | Stream[tuple[int, str]]:
    """Like generate(), but iterate to get text pieces as they are accepted ((index, piece)
    pairs for a list of prompts); `.result` then holds the Generation(s)."""
    o = _options_of(locals())
    return _sized_llm(model, prompt, o)
@overload
def generate(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        model: ModelLike, prompt: Prompt, *, max_tokens: int = ..., mtp: bool | None = ..., draft: Draft | None = ...,
        n_draft_max: DraftLength = ...,
             p_min: float = ..., n_min: int = ..., n_threads: int | None = ..., temperature: float = ...,
             top_k: int = ..., top_p: float = ..., min_p: float = ..., seed: int | None = ...,
             stop: str | Sequence[str] | None = ..., add_special: bool = ..., parse_special: bool = ...,
             ignore_eos: bool = ..., grammar: Grammar | str | None = ..., exact: bool = ...) -> Generation: ...
@overload
def generate(model: ModelLike, prompt: Prompts, *, max_tokens: int = ..., mtp: bool | None = ..., draft: Draft | None = ...,
             n_draft_max: DraftLength = ...,
             p_min: float = ..., n_min: int = ..., n_threads: int | None = ..., temperature: float = ...,
             top_k: int = ..., top_p: float = ..., min_p: float = ..., seed: int | None = ...,
             stop: str | Sequence[str] | None = ..., add_special: bool = ..., parse_special: bool = ...,
             ignore_eos: bool = ..., grammar: Grammar | str | None = ..., exact: bool = ...) -> list[Generation]: ...
def generate(model: ModelLike, prompt: Prompt | Prompts, *, max_tokens: int = _DEFAULTS.max_tokens,
             mtp: bool | None = _DEFAULTS.mtp, draft: Draft | None = _DEFAULTS.draft,
             n_draft_max: DraftLength = _DEFAULTS.n_draft_max, p_min: float = _DEFAULTS.p_min,
             n_min: int = _DEFAULTS.n_min, n_threads: int | None = _DEFAULTS.n_threads,
             temperature: float = _DEFAULTS.temperature, top_k: int = _DEFAULTS.top_k,
             top_p: float = _DEFAULTS.top_p, min_p: float = _DEFAULTS.min_p, seed: int | None = _DEFAULTS.seed,
             stop: str | Sequence[str] | None = _DEFAULTS.stop, add_special: bool = _DEFAULTS.add_special,
             parse_special: bool = _DEFAULTS.parse_special,
             ignore_eos: bool = _DEFAULTS.ignore_eos,
             grammar: Grammar | str | None = _DEFAULTS.grammar, exact: bool = _DEFAULTS.exact) -> Generation | list[Generation]:
    """Generate from a prompt (text or token ids) or a list of prompts (batched in one target
    batch per step; more than llama.cpp's sequence limit wait for a slot: continuous batching).
    It runs on a fresh LLM sized for these prompts; use an LLM to keep the model warm between
    calls (its contexts, KV prefixes and draft-length controller).

    max_tokens: most tokens per prompt. draft: "auto" (the default: MTP where the model has
    NextN layers, and n-gram drafts from the text, picked step by step by their measured
    acceptance and cost), "mtp", "ngram" (any model) or "none". mtp=False is plain decoding,
    mtp=True requires NextN layers. n_draft_max: the MTP draft length, or "auto" (the default): a
    DraftController picks it for each step, from 0 (plain decoding) to AUTO_DRAFT_MAX, by what
    it measures (acceptance per position, the cost of each length). p_min, n_min: the draft's
    minimum probability and minimum length. n_threads: None is the auto thread count (at
    most default_threads(), fewer while other processes keep cores busy); a number is that count. temperature 0 is greedy; otherwise top_k, top_p, min_p and seed
    shape the sampler. stop: a string or strings that end a sequence (not included in the
    text). add_special: add BOS/EOS as the model's tokenizer does; parse_special: read special
    tokens (e.g. "<|im_start|>") in text prompts. ignore_eos: never pick an end-of-generation
    token (llama.cpp's --ignore-eos: a -inf logit bias), so the text runs to max_tokens.
    grammar: a llama_mtp.Grammar (GBNF, or Grammar.from_json_schema) that every sampled token,
    drafted ones included, must follow: verification samples through it.
    exact: every decode runs batch-invariant (each row computed as a one-row batch would be), so
    greedy output is that of one-token-at-a-time decoding on quantized models too, whatever the
    draft lengths, the batch or the other sequences; it costs speed on repacked CPU weights
    (README, "Exactness"). Without it, a quantized model's greedy text may part from plain
    decoding's at a near-tie once a verify batch has 4 or more rows (f16/f32 logits move ~1e-3).
    """
    o = _options_of(locals())
    return _sized_llm(model, prompt, o)._run()


def chat_stream(model: ModelLike, messages: Sequence[Message], *, tools: Sequence[Mapping[str, Any]] | None = None,
                tool_choice: str = "auto", response_format: Mapping[str, Any] | None = None,
                chat_template: str | None = None, parallel_tool_calls: bool = False, enable_thinking: bool = True,
                template_kwargs: Mapping[str, Any] | None = None, max_tokens: int = 256, mtp: bool | None = None,
                draft: Draft | None = None,
                n_draft_max: DraftLength = "auto", temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
                min_p: float = 0.0, seed: int | None = None, stop: str | Sequence[str] | None = None,
                n_threads: int | None = None, exact: bool = False) -> ChatStream:
    """Like chat(), but iterate to get the reply's content as it is generated."""
    m = _open_model(model)
    prompt = render_chat(ChatTemplate(m, source=chat_template or ""), messages, tools=tools, tool_choice=tool_choice,
                         response_format=response_format, parallel_tool_calls=parallel_tool_calls,
                         enable_thinking=enable_thinking, template_kwargs=template_kwargs)
    tokens = m.tokenize(prompt.prompt, add_special=True, parse_special=True)
    o = _Options(max_tokens=max_tokens, mtp=None if mtp and not m.has_mtp else mtp, draft=draft,
                 n_draft_max=n_draft_max, n_threads=n_threads, exact=exact)
    llm = _llm_for(m, [len(tokens)], o)
    return llm._reply_stream(prompt, tokens, max_tokens=max_tokens, mtp=None, draft=None, n_draft_max=None,  # noqa: SLF001
                             temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, seed=seed, stop=stop,
                             n_threads=None, exact=None)


def chat(model: ModelLike, messages: Sequence[Message], *, tools: Sequence[Mapping[str, Any]] | None = None,
         tool_choice: str = "auto", response_format: Mapping[str, Any] | None = None, chat_template: str | None = None,
         parallel_tool_calls: bool = False, enable_thinking: bool = True,
         template_kwargs: Mapping[str, Any] | None = None, max_tokens: int = 256, mtp: bool | None = None,
         draft: Draft | None = None,
         n_draft_max: DraftLength = "auto", temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
         min_p: float = 0.0, seed: int | None = None, stop: str | Sequence[str] | None = None,
         n_threads: int | None = None, exact: bool = False) -> ChatCompletion:
    """Reply to a conversation (OpenAI-format messages) with the model's chat template.

    tools / tool_choice: OpenAI function tools; a tool call in the reply comes back parsed in
    `.tool_calls` (finish_reason "tool_calls"). response_format: {"type": "json_schema",
    "json_schema": {"schema": {...}}} or {"type": "json_object"} constrains the reply through a
    grammar. chat_template: jinja source replacing the model's. mtp (on when the model has NextN
    layers), exact and the sampling arguments are generate()'s. A fresh LLM each call: keep an
    LLM for a conversation (LLM.chat() decodes only each turn's new messages).
    """
    s = chat_stream(model, messages, tools=tools, tool_choice=tool_choice, response_format=response_format,
                    chat_template=chat_template, parallel_tool_calls=parallel_tool_calls,
                    enable_thinking=enable_thinking, template_kwargs=template_kwargs, max_tokens=max_tokens, mtp=mtp,
                    draft=draft, n_draft_max=n_draft_max, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                    seed=seed, stop=stop, n_threads=n_threads, exact=exact)
    for _ in s:
        pass
    assert s.result is not None
    return s.result

"""The one-line functions: llama_mtp.generate(), stream(), chat() and chat_stream(). Each runs
on a fresh LLM sized for its prompts (KV cells for the longest prompt and max_tokens per
sequence, one slot per prompt up to llama.cpp's sequence limit); an LLM kept between calls
reuses its contexts, KV prefixes and controller instead."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

from ._core import ChatTemplate
from .chat import ChatCompletion, ChatStream, Message, render_chat
from .drafters import Draft, drafters_for, ngram_draft_max
from .generation import _MAX_CONTEXT, _MAX_SEQUENCES, Generation, ModelLike, Prompt, Prompts, Stream, _open_model, _prompt_list
from .llm import LLM
from .options import CHAT_FIELDS, DraftConfig, InvalidOptionError, ResolvedOptions, SamplingParams, resolve_options

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._core import Model
    from .options import ChatKwargs, GenerateKwargs

__all__ = ["chat", "chat_stream", "generate", "stream"]


def _llm_for(m: Model, token_counts: list[int], o: ResolvedOptions) -> LLM:
    """An LLM with a slot per prompt (up to the sequence limit) and KV cells per slot for the
    longest prompt, max_tokens and a draft."""
    config = o.draft or DraftConfig()
    use = drafters_for(m.has_mtp, draft=config.method, mtp=o.mtp)
    ceiling = max(config.longest_mtp_draft if use.mtp else 0, ngram_draft_max(m) if use.ngram else 0)
    if not token_counts:
        raise InvalidOptionError("prompt", "no prompts")
    longest = max(token_counts)
    if longest == 0:
        raise InvalidOptionError("prompt", "empty prompt")
    max_tokens = o.sampling.max_tokens
    n_seq = min(len(token_counts), _MAX_SEQUENCES)
    # llama.cpp gives each sequence n_ctx / n_seq_max cells and limits n_batch to n_ctx
    per_seq = (longest + max_tokens + ceiling + 8 + 255) // 256 * 256
    if per_seq > _MAX_CONTEXT:
        raise InvalidOptionError(
            "max_tokens",
            f"prompt ({longest} tokens) + max_tokens ({max_tokens}) exceed the largest context, {_MAX_CONTEXT} tokens",
        )
    per_seq = min(per_seq, _MAX_CONTEXT // n_seq)
    with warnings.catch_warnings():  # the caller's mtp= warned already
        warnings.simplefilter("ignore", DeprecationWarning)
        return LLM(
            m,
            n_ctx=per_seq * n_seq,
            n_parallel=n_seq,
            n_batch=max(32, min(512, longest)),
            n_threads=o.n_threads,
            draft=config,
            mtp=o.mtp,
        )


def _sized_stream(model: ModelLike, prompt: Prompt | Prompts, o: ResolvedOptions) -> Stream[Any]:
    m = _open_model(model)
    batched, prompts = _prompt_list(prompt)
    s = o.sampling
    tokens = [
        m.tokenize(p, add_special=s.add_special, parse_special=s.parse_special) if isinstance(p, str) else p for p in prompts
    ]
    llm = _llm_for(m, [len(t) for t in tokens], o)
    batch: Prompt | Prompts = tokens if batched else tokens[0]  # type: ignore[assignment]
    return llm.stream(batch, sampling=s)


@overload
def stream(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
    model: ModelLike,
    prompt: Prompt,
    *,
    sampling: SamplingParams | None = ...,
    draft: Draft | DraftConfig | None = ...,
    **options: Unpack[GenerateKwargs],
) -> Stream[str]: ...
@overload
def stream(
    model: ModelLike,
    prompt: Prompts,
    *,
    sampling: SamplingParams | None = ...,
    draft: Draft | DraftConfig | None = ...,
    **options: Unpack[GenerateKwargs],
) -> Stream[tuple[int, str]]: ...
def stream(
    model: ModelLike,
    prompt: Prompt | Prompts,
    *,
    sampling: SamplingParams | None = None,
    draft: Draft | DraftConfig | None = None,
    **options: Unpack[GenerateKwargs],
) -> Stream[str] | Stream[tuple[int, str]]:
    """Like `generate()`, but iterate to get text pieces as they are accepted.

    Args:
        model: A `Model`, or the path of a GGUF file.
        prompt: Text, token ids, or a list of prompts (all text or all token ids).
        sampling: How tokens are chosen and when a sequence ends (None: the defaults).
        draft: What drafts: a method name or a `DraftConfig` (None: "auto").
        **options: `SamplingParams` and `DraftConfig` fields as keywords, and `n_threads`.

    Returns:
        A `Stream` of text pieces (`(index, piece)` pairs for a list of prompts); `.result`
        then holds the Generation(s).
    """
    return _sized_stream(model, prompt, resolve_options(sampling=sampling, draft=draft, caller="stream", **options))


@overload
def generate(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
    model: ModelLike,
    prompt: Prompt,
    *,
    sampling: SamplingParams | None = ...,
    draft: Draft | DraftConfig | None = ...,
    **options: Unpack[GenerateKwargs],
) -> Generation: ...
@overload
def generate(
    model: ModelLike,
    prompt: Prompts,
    *,
    sampling: SamplingParams | None = ...,
    draft: Draft | DraftConfig | None = ...,
    **options: Unpack[GenerateKwargs],
) -> list[Generation]: ...
def generate(
    model: ModelLike,
    prompt: Prompt | Prompts,
    *,
    sampling: SamplingParams | None = None,
    draft: Draft | DraftConfig | None = None,
    **options: Unpack[GenerateKwargs],
) -> Generation | list[Generation]:
    """Generate from a prompt, or a list of prompts batched in one target batch per step.

    It runs on a fresh `LLM` sized for these prompts; keep an `LLM` to keep the model warm
    between calls (its contexts, KV prefixes and draft-length controller). More prompts than
    llama.cpp's sequence limit wait for a slot (continuous batching).

    Args:
        model: A `Model`, or the path of a GGUF file.
        prompt: Text, token ids, or a list of prompts (all text or all token ids).
        sampling: How tokens are chosen and when a sequence ends (None: the defaults:
            greedy, 256 tokens).
        draft: What drafts: a method name ("auto", "mtp", "ngram", "none") or a
            `DraftConfig` (None: "auto").
        **options: `SamplingParams` and `DraftConfig` fields as keywords (they replace
            those of `sampling` and `draft`), and `n_threads` (None: the automatic count).

    Returns:
        A `Generation`, or a list of them for a list of prompts.

    Raises:
        ModelLoadError: `model` is a path that does not load.
        InvalidArgumentError: An option out of range, or drafters the model cannot run.
        ArgumentTypeError: An option of the wrong type, or an unknown keyword.

    Example:
        ```python
        from llama_mtp import SamplingParams, generate
        from llama_mtp.testing import tiny_mtp_model

        out = generate(tiny_mtp_model(), "The quick brown fox", sampling=SamplingParams(max_tokens=16))
        print(out.text)
        ```
    """
    return _sized_stream(model, prompt, resolve_options(sampling=sampling, draft=draft, **options))._run()


def chat_stream(
    model: ModelLike,
    messages: Sequence[Message],
    *,
    sampling: SamplingParams | None = None,
    draft: Draft | DraftConfig | None = None,
    **options: Unpack[ChatKwargs],
) -> ChatStream:
    """Like `chat()`, but iterate to get the reply's content as it is generated.

    Args:
        model: A `Model`, or the path of a GGUF file.
        messages: OpenAI-format messages.
        sampling: How tokens are chosen and when the reply ends (None: the defaults).
        draft: What drafts: a method name or a `DraftConfig` (None: "auto").
        **options: The chat template's options (`ChatKwargs`) and the fields of
            `sampling` and `draft`.

    Returns:
        A `ChatStream`; `.result` holds the `ChatCompletion`.
    """
    m = _open_model(model)
    given: dict[str, Any] = dict(options)
    render = {k: given.pop(k) for k in CHAT_FIELDS if k in given}
    resolved = resolve_options(sampling=sampling, draft=draft, caller="chat", **given)
    prompt = render_chat(ChatTemplate(m, source=render.pop("chat_template", None) or ""), messages, **render)
    tokens = m.tokenize(prompt.prompt, add_special=True, parse_special=True)
    llm = _llm_for(m, [len(tokens)], resolved)
    return llm.reply_stream(prompt, tokens, ResolvedOptions(sampling=resolved.sampling, draft=None, mtp=None))


def chat(
    model: ModelLike,
    messages: Sequence[Message],
    *,
    sampling: SamplingParams | None = None,
    draft: Draft | DraftConfig | None = None,
    **options: Unpack[ChatKwargs],
) -> ChatCompletion:
    """Reply to a conversation (OpenAI-format messages) with the model's chat template.

    A fresh `LLM` each call: keep an `LLM` for a conversation (`LLM.chat()` decodes only each
    turn's new messages).

    Args:
        model: A `Model`, or the path of a GGUF file.
        messages: OpenAI-format messages.
        sampling: How tokens are chosen and when the reply ends (None: the defaults).
        draft: What drafts: a method name or a `DraftConfig` (None: "auto").
        **options: The chat template's options (`tools`, `tool_choice`, `response_format`,
            `chat_template`, `parallel_tool_calls`, `enable_thinking`, `template_kwargs`)
            and the fields of `sampling` and `draft`.

    Returns:
        The `ChatCompletion`: content, reasoning, parsed tool calls, the `Generation`.

    Raises:
        ChatTemplateError: The template cannot render these messages.
        InvalidArgumentError: An option out of range, or drafters the model cannot run.
    """
    s = chat_stream(model, messages, sampling=sampling, draft=draft, **options)
    for _ in s:
        pass
    assert s.result is not None
    return s.result

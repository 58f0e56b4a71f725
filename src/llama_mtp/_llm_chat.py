"""LLM's chat methods: a conversation rendered with the model's chat template, its reply
generated on the LLM's slots (the next turn decodes only the new messages)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._core import ChatPrompt, ChatTemplate, Model
from .chat import ChatCompletion, ChatStream, Message, render_chat
from .drafters import Draft
from .generation import Prompt, Prompts, Stream, TokenList
from .options import CHAT_FIELDS, DraftConfig, ResolvedOptions, SamplingParams

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import ChatKwargs


class ChatMethods:
    """chat(), chat_stream() and the chat template of an LLM (its base class)."""

    _model: Model
    _templates: dict[str, ChatTemplate]
    _templates_lock: threading.Lock

    if TYPE_CHECKING:  # LLM's

        def _resolve(
            self, sampling: SamplingParams | None, draft: Draft | DraftConfig | None, options: dict[str, Any], caller: str
        ) -> ResolvedOptions: ...

        def _stream(self, prompt: Prompt | Prompts, resolved: ResolvedOptions, stop: Sequence[str] = ()) -> Stream[Any]: ...

    def chat_template(self, source: str | None = None) -> ChatTemplate:
        """The model's chat template (or one from jinja source), parsed once and kept."""
        key = source or ""
        with self._templates_lock:
            template = self._templates.get(key)
            if template is None:
                template = self._templates[key] = ChatTemplate(self._model, source=key)
            return template

    def chat_stream(
        self,
        messages: Sequence[Message],
        *,
        sampling: SamplingParams | None = None,
        draft: Draft | DraftConfig | None = None,
        **options: Unpack[ChatKwargs],
    ) -> ChatStream:
        """Like `chat()`, but iterate to get the reply's content as it is generated.

        Args:
            messages: OpenAI-format messages.
            sampling: The request's `SamplingParams` (None: the defaults).
            draft: A method name or a `DraftConfig`, within this LLM's (None: its own).
            **options: The chat template's options (`tools`, `tool_choice`,
                `response_format`, `chat_template`, `parallel_tool_calls`,
                `enable_thinking`, `template_kwargs`) and the fields of `sampling` and `draft`.

        Returns:
            A `ChatStream` of content pieces; `.result` holds the `ChatCompletion`.
        """
        given: dict[str, Any] = dict(options)
        render: dict[str, Any] = {k: given.pop(k) for k in CHAT_FIELDS if k in given}
        resolved = self._resolve(sampling, draft, given, "chat")
        prompt = render_chat(self.chat_template(render.pop("chat_template", None)), messages, **render)
        return self.reply_stream(prompt, self._model.tokenize(prompt.prompt, add_special=True, parse_special=True), resolved)

    def reply_stream(self, prompt: ChatPrompt, tokens: TokenList, resolved: ResolvedOptions) -> ChatStream:
        """The reply to a rendered conversation, its tokens given (`llama_mtp.chat()` sized
        the LLM by them): the template's stop strings and grammar join the request's."""
        sampling = resolved.sampling
        if prompt.grammar is not None:
            sampling = dataclasses.replace(sampling, grammar=prompt.grammar, json_schema=None)
        resolved = dataclasses.replace(resolved, sampling=sampling)
        return ChatStream(prompt, self._stream(tokens, resolved, stop=tuple(prompt.stops)))

    def chat(
        self,
        messages: Sequence[Message],
        *,
        sampling: SamplingParams | None = None,
        draft: Draft | DraftConfig | None = None,
        **options: Unpack[ChatKwargs],
    ) -> ChatCompletion:
        """Reply to a conversation with the model's chat template.

        The next turn's prompt begins with this one's prompt and reply, so it decodes only
        the new messages (`Generation.n_cached_tokens` says how many tokens came from the
        slot's KV).

        Args:
            messages: OpenAI-format messages.
            sampling: The request's `SamplingParams` (None: the defaults).
            draft: A method name or a `DraftConfig`, within this LLM's (None: its own).
            **options: As `chat_stream()`'s.

        Returns:
            The `ChatCompletion`: content, reasoning, parsed tool calls, the `Generation`.

        Raises:
            ChatTemplateError: The template cannot render these messages.
            InvalidArgumentError: An option out of range or one this LLM cannot honour.
        """
        s = self.chat_stream(messages, sampling=sampling, draft=draft, **options)
        for _ in s:
            pass
        assert s.result is not None
        return s.result

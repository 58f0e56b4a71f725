"""The options of a request, one object per concern: `SamplingParams` (how tokens are chosen
and when a sequence ends) and `DraftConfig` (what drafts, how long, exactness). `LLM`, the
module functions, the scheduler, the server and the CLI all take these; their keyword
arguments are a convenience that `resolve_options()` turns into them, in one place."""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict, get_args

import numpy as np

from ._checks import check_bool, check_int, check_number
from ._core import ArgumentTypeError, Grammar, InvalidArgumentError, InvalidConfigError
from .drafters import DEFAULT_NGRAM, NGRAM_KINDS, Draft, NgramKind
from .sizing import DraftLength, draft_ceiling

# the most candidates per token SamplingParams.logprobs may ask for (the engine's kMaxProbs)
MAX_LOGPROBS = 1024

# DraftConfig.draft_vocab: "auto", "full", the K most frequent tokens, or token ids
DraftVocab = Literal["auto", "full"] | int | Sequence[int]

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11; mypy reads either

__all__ = [
    "ChatKwargs",
    "DraftConfig",
    "DraftKwargs",
    "GenerateKwargs",
    "InvalidOptionError",
    "SamplingKwargs",
    "SamplingParams",
    "resolve_options",
]

_DRAFT_METHODS: tuple[str, ...] = get_args(Draft)


class InvalidOptionError(InvalidArgumentError):
    """An option a call or request cannot have; `field` names it (the server's 400 says which)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    """How one request's tokens are chosen, how its prompt is read and when it stops.

    Frozen and checked when made: a bad value raises here, before anything is decoded.

    Attributes:
        max_tokens: The most tokens generated per prompt (0 decodes the prompt only).
        temperature: 0 is greedy decoding; above 0 the sampler draws from the
            distribution shaped by `top_k`, `top_p` and `min_p`.
        top_k: Keep the k most likely tokens (0: all).
        top_p: Keep the smallest set of tokens whose probability reaches p (1: all).
        min_p: Drop tokens less likely than min_p times the most likely one (0: none).
        seed: The sampler's seed (None: a random one). Sequence i of a list of prompts is
            seeded `seed + i`.
        stop: Strings that end a sequence; the text stops before them. A string or a list
            of strings.
        ignore_eos: Never pick an end-of-generation token (llama.cpp's `--ignore-eos`: a
            -inf logit bias), so the text runs to `max_tokens`.
        grammar: A `Grammar` (GBNF, or `Grammar.from_json_schema`) or GBNF source text that
            every sampled token, drafted ones included, must follow.
        json_schema: A JSON schema (a mapping, or its JSON text) the output must satisfy:
            a grammar made from it. Not with `grammar`.
        logit_bias: Token id -> a bias added to its logit before every pick, greedy and
            sampled (`-math.inf` bans the token), as OpenAI's and llama.cpp's `logit_bias`.
        logprobs: Report each generated token's log-probability under the target's
            distribution (the softmax of its logits) and the `logprobs` most probable tokens
            of the same row (`Generation.logprobs`; 0: the token's own alone; None: nothing).
            Drafted tokens are reported as the target scored them when verifying.
        add_special: Add BOS/EOS to a text prompt as the model's tokenizer does.
        parse_special: Read special tokens (e.g. `<|im_start|>`) in a text prompt.
    """

    max_tokens: int = 256
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    seed: int | None = None
    stop: str | Sequence[str] = ()
    ignore_eos: bool = False
    grammar: Grammar | str | None = None
    json_schema: Mapping[str, Any] | str | None = None
    logit_bias: Mapping[int, float] | None = None
    logprobs: int | None = None
    add_special: bool = True
    parse_special: bool = False

    def __post_init__(self) -> None:
        check_int("max_tokens", self.max_tokens, 0, 1 << 24)
        temperature = check_number("temperature", self.temperature)
        if not math.isfinite(temperature) or temperature < 0:
            raise InvalidArgumentError(f"temperature must be finite and >= 0, got {self.temperature}")
        check_int("top_k", self.top_k, 0, (1 << 31) - 1)
        top_p = check_number("top_p", self.top_p)
        if not 0 < top_p <= 1:
            raise InvalidArgumentError(f"top_p must be in (0, 1], got {self.top_p}")
        min_p = check_number("min_p", self.min_p)
        if not 0 <= min_p < 1:
            raise InvalidArgumentError(f"min_p must be in [0, 1), got {self.min_p}")
        if self.seed is not None:
            check_int("seed", self.seed, 0, (1 << 32) - 1)
        stop = self.stop
        stops = (stop,) if isinstance(stop, str) else tuple(stop) if isinstance(stop, Sequence) else None
        if stops is None or not all(isinstance(s, str) for s in stops):
            raise ArgumentTypeError(f"stop must be a string or a sequence of strings, not {stop!r}")
        object.__setattr__(self, "stop", stops)
        check_bool("ignore_eos", self.ignore_eos)
        if self.logit_bias is not None:
            if not isinstance(self.logit_bias, Mapping):
                raise ArgumentTypeError(f"logit_bias must be a mapping of token id to bias, not {type(self.logit_bias).__name__}")
            for token, bias in self.logit_bias.items():
                check_int("logit_bias token", token, 0, (1 << 31) - 1)
                value = check_number("logit_bias", bias)
                if math.isnan(value) or value == math.inf:
                    raise InvalidArgumentError(f"logit_bias[{token}] must be a number or -inf, got {bias}")
        if self.logprobs is not None:
            check_int("logprobs", self.logprobs, 0, MAX_LOGPROBS)
        check_bool("add_special", self.add_special)
        check_bool("parse_special", self.parse_special)
        if self.grammar is not None and not isinstance(self.grammar, (Grammar, str)):
            raise ArgumentTypeError(f"grammar must be a Grammar or GBNF text, not {type(self.grammar).__name__}")
        if self.json_schema is not None:
            if not isinstance(self.json_schema, (Mapping, str)):
                raise ArgumentTypeError(f"json_schema must be a mapping or JSON text, not {type(self.json_schema).__name__}")
            if self.grammar is not None:
                raise InvalidArgumentError("give grammar or json_schema, not both")

    @property
    def stops(self) -> tuple[str, ...]:
        """`stop` as a tuple of strings."""
        return self.stop  # type: ignore[return-value]  # a tuple since __post_init__


@dataclass(frozen=True, kw_only=True)
class DraftConfig:
    """What drafts the tokens the target verifies, and how many (speculative decoding).

    An `LLM` is made with one; a request may narrow it (another `method` among the LLM's
    drafters, a shorter `n_draft_max`, `exact` on or off). The output does not depend on it:
    every drafted token is verified by the target (exact mode makes that bit-for-bit).

    Attributes:
        method: "auto" (the default: MTP where the model has NextN layers and n-gram drafts
            from the text, chosen step by step by their measured acceptance and cost),
            "mtp", "ngram" (any model) or "none" (plain decoding).
        n_draft_max: The longest MTP draft, or "adaptive" (the default): a `DraftController`
            picks each step's length, from 0 to `AUTO_DRAFT_MAX`, by the acceptance and
            costs it measures, and the n-gram drafts' length likewise. A fixed length
            verifies n-gram drafts whole (upstream's behaviour).
        n_min: The MTP draft's minimum length.
        p_min: The MTP draft's minimum probability: drafting stops at a less likely token.
        ngram: Upstream's n-gram drafter (`--spec-type` names).
        ngram_n_max: The longest n-gram draft (None: `NGRAM_DRAFT_MAX`, or
            `NGRAM_DRAFT_MAX_ROLLBACK` on recurrent and hybrid models).
        ngram_size_n: The tokens the n-gram drafter matches (None: its kind's default).
        exact: Decode batch-invariant (each row computed as a one-row batch would be), so
            greedy text is plain decoding's bit for bit whatever the drafts and batch; it
            costs speed on repacked CPU weights (docs: "Exactness").
        sampled_drafts: At temperature > 0 (without a grammar), sample each MTP draft token
            from the head's distribution (its top candidates at the request's temperature) and
            verify it by rejection sampling: accepted with probability min(1, p/q), else the
            token comes from the residual max(0, p - q). The output is distributed as plain
            sampling's and more drafts are accepted where the head's distribution resembles the
            target's (+9-10 % at T = 1 on the benchmark models), but the text then depends on
            the drafts, which the adaptive length chooses by timing: a seed alone no longer fixes
            it. False (the default): the head's top token, verified by sample-and-match (the
            same acceptance as rejection sampling for a point mass): the text depends on the
            seed alone (docs: "Drafting").
        draft_vocab: The tokens the MTP head drafts from (FR-Spec: its output layer restricted
            to them, so a drafted token costs a fraction of the head's whole output layer):
            "auto" (the default) is the `AUTO_DRAFT_VOCAB` most frequent tokens for
            vocabularies of `AUTO_DRAFT_VOCAB_MIN_VOCAB` or more and the whole vocabulary for
            smaller ones; an int K, the K most frequent (ranked in text that ships with Python,
            tokenized by the model: `llama_mtp.draft_vocab`); token ids, exactly those;
            "full" (or None), the whole vocabulary. End-of-generation tokens and every token
            the text uses (prompt and output) are added as it goes. The text does not depend
            on it; acceptance may (docs: "Drafting").
    """

    method: Draft = "auto"
    n_draft_max: DraftLength = "adaptive"
    n_min: int = 0
    p_min: float = 0.0
    ngram: NgramKind = DEFAULT_NGRAM
    ngram_n_max: int | None = None
    ngram_size_n: int | None = None
    exact: bool = False
    sampled_drafts: bool = False
    draft_vocab: DraftVocab | None = "auto"

    def __post_init__(self) -> None:
        if self.method not in _DRAFT_METHODS:
            raise InvalidArgumentError(f'draft method must be "auto", "mtp", "ngram" or "none", got {self.method!r}')
        object.__setattr__(self, "n_draft_max", check_draft_length(self.n_draft_max, stacklevel=4))
        check_int("n_min", self.n_min, 0, 64)
        p_min = check_number("p_min", self.p_min)
        if not 0 <= p_min <= 1:  # NaN fails too
            raise InvalidConfigError(f"p_min must be in [0, 1], got {self.p_min}")
        if self.ngram not in NGRAM_KINDS:
            raise InvalidArgumentError(f"ngram must be one of {', '.join(NGRAM_KINDS)}, got {self.ngram!r}")
        if self.ngram_n_max is not None:
            check_int("ngram_n_max", self.ngram_n_max, 1, 256)
        if self.ngram_size_n is not None:
            check_int("ngram_size_n", self.ngram_size_n, 1, 64)
        check_bool("exact", self.exact)
        check_bool("sampled_drafts", self.sampled_drafts)
        object.__setattr__(self, "draft_vocab", check_draft_vocab(self.draft_vocab))

    @property
    def adaptive(self) -> bool:
        """Whether the MTP draft length is chosen step by step."""
        return self.n_draft_max == "adaptive"

    @property
    def longest_mtp_draft(self) -> int:
        """The longest MTP draft this allows (`AUTO_DRAFT_MAX` when adaptive)."""
        return draft_ceiling(self.n_draft_max)


def check_draft_vocab(value: object) -> DraftVocab:
    """A draft vocabulary setting: "auto", "full" (None), an int in [1, 2**31) or token ids
    (a non-empty sequence of ints >= 0, kept as a tuple; their range is the model's to check)."""
    if value is None:
        return "full"
    if isinstance(value, str | bytes):
        if value in ("auto", "full"):
            return value  # type: ignore[return-value]
        raise InvalidArgumentError(f'draft_vocab must be "auto", "full", an int or token ids, got {value!r}')
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return check_int("draft_vocab", value, 1, (1 << 31) - 1)
    if not isinstance(value, Sequence | np.ndarray):
        raise ArgumentTypeError(f'draft_vocab must be "auto", "full", an int or token ids, not {type(value).__name__}')
    ids = tuple(check_int("a draft_vocab token", t, 0, (1 << 31) - 1) for t in value)
    if not ids:
        raise InvalidArgumentError('draft_vocab: no token ids given ("full" is the whole vocabulary)')
    return ids


def check_draft_length(value: object, *, stacklevel: int = 3) -> DraftLength:
    """An MTP draft length: an int in [1, 64] or "adaptive" ("auto", its old name, warns)."""
    if value == "auto":
        warnings.warn(
            'n_draft_max="auto" is now spelled "adaptive" ("auto" is the drafters\' word)',
            DeprecationWarning,
            stacklevel=stacklevel,
        )
        return "adaptive"
    if isinstance(value, int) and not isinstance(value, bool) and not 1 <= value <= 64:
        # MtpSessionConfig's own error for it
        raise InvalidConfigError(f'n_draft_max must be in [1, 64] or "adaptive", got {value}')
    draft_ceiling(value)  # type: ignore[arg-type]  # typed errors for anything else
    return value  # type: ignore[return-value]


class SamplingKwargs(TypedDict, total=False):
    """`SamplingParams`' fields as keyword arguments (documented there)."""

    max_tokens: int
    temperature: float
    top_k: int
    top_p: float
    min_p: float
    seed: int | None
    stop: str | Sequence[str] | None
    ignore_eos: bool
    grammar: Grammar | str | None
    json_schema: Mapping[str, Any] | str | None
    logit_bias: Mapping[int, float] | None
    logprobs: int | None
    add_special: bool
    parse_special: bool


class DraftKwargs(TypedDict, total=False):
    """`DraftConfig`'s fields but `method` as keyword arguments (documented there; `draft=`
    takes the method or a whole `DraftConfig`), and `mtp`, deprecated: `mtp=False` is
    `draft="none"`, `mtp=True` requires NextN layers."""

    n_draft_max: DraftLength | Literal["auto"] | None
    n_min: int | None
    p_min: float | None
    ngram: NgramKind
    ngram_n_max: int | None
    ngram_size_n: int | None
    exact: bool | None
    sampled_drafts: bool | None
    draft_vocab: DraftVocab | None
    mtp: bool | None


class GenerateKwargs(SamplingKwargs, DraftKwargs, total=False):
    """The keyword arguments of `generate()`, `stream()`, `chat()` and their `LLM` methods:
    `SamplingParams`' and `DraftConfig`'s fields, and `n_threads` (None: the automatic thread
    count; an `LLM` takes it once, at `LLM(n_threads=...)`)."""

    n_threads: int | None


class ChatKwargs(GenerateKwargs, total=False):
    """`chat()`'s keyword arguments: the chat template's options and `GenerateKwargs`.

    tools / tool_choice: OpenAI function tools; a tool call in the reply comes back parsed in
    `.tool_calls` (finish_reason "tool_calls"). response_format: `{"type": "json_schema",
    "json_schema": {"schema": {...}}}` or `{"type": "json_object"}` constrains the reply
    through a grammar. chat_template: jinja source replacing the model's. parallel_tool_calls,
    enable_thinking, template_kwargs: passed to the template. add_generation_prompt=False: the
    conversation alone, without the assistant turn's opening (vLLM's and transformers' option)."""

    tools: Sequence[Mapping[str, Any]] | None
    tool_choice: str
    response_format: Mapping[str, Any] | None
    chat_template: str | None
    parallel_tool_calls: bool
    enable_thinking: bool
    template_kwargs: Mapping[str, Any] | None
    add_generation_prompt: bool


SAMPLING_FIELDS = frozenset(f.name for f in dataclasses.fields(SamplingParams))
DRAFT_FIELDS = frozenset(f.name for f in dataclasses.fields(DraftConfig)) - {"method"}
CHAT_FIELDS = frozenset(ChatKwargs.__annotations__) - frozenset(GenerateKwargs.__annotations__)
GENERATE_FIELDS = SAMPLING_FIELDS | DRAFT_FIELDS | {"mtp", "n_threads"}


@dataclass(frozen=True)
class ResolvedOptions:
    """What resolve_options() makes of a call's arguments."""

    sampling: SamplingParams
    draft: DraftConfig | None  # None: the LLM's own (nothing about drafting was given)
    mtp: bool | None  # the deprecated mtp= (None: not given)
    n_threads: int | None = None


def resolve_options(
    *,
    sampling: SamplingParams | None,
    draft: Draft | DraftConfig | None,
    base_draft: DraftConfig | None = None,
    stacklevel: int = 3,
    caller: str = "generate",
    accepted: frozenset[str] = GENERATE_FIELDS,
    **options: Unpack[GenerateKwargs],
) -> ResolvedOptions:
    """A call's `sampling=`, `draft=` and keyword arguments as options objects: the keywords
    replace the objects' fields (on `base_draft`, the LLM's config, when no DraftConfig is
    given). A keyword outside `accepted` raises ArgumentTypeError, as Python's own call would."""
    if sampling is not None and not isinstance(sampling, SamplingParams):
        raise ArgumentTypeError(f"sampling must be a SamplingParams, not {type(sampling).__name__}")
    unknown = set(options) - accepted
    if unknown:
        raise ArgumentTypeError(f"{caller}() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    raw: dict[str, Any] = dict(options)
    sampling_given = {k: v for k, v in raw.items() if k in SAMPLING_FIELDS}
    if sampling_given.get("stop", ()) is None:
        sampling_given["stop"] = ()
    sampling = dataclasses.replace(sampling or SamplingParams(), **sampling_given)
    draft_given = {k: v for k, v in raw.items() if k in DRAFT_FIELDS and v is not None}
    mtp = raw.get("mtp")
    if mtp is not None:
        check_bool("mtp", mtp)
        warnings.warn(
            'mtp= is deprecated: draft="none" for plain decoding, draft="mtp" for MTP alone',
            DeprecationWarning,
            stacklevel=stacklevel,
        )
    config: DraftConfig | None
    if isinstance(draft, DraftConfig):
        config = draft
    elif draft is None:
        config = base_draft
    elif isinstance(draft, str):
        if draft not in _DRAFT_METHODS:
            raise InvalidArgumentError(f'draft must be "auto", "mtp", "ngram", "none" or a DraftConfig, got {draft!r}')
        config = dataclasses.replace(base_draft or DraftConfig(), method=draft)
    else:
        raise ArgumentTypeError(f"draft must be a method name or a DraftConfig, not {type(draft).__name__}")
    if draft_given:
        if "n_draft_max" in draft_given:
            draft_given["n_draft_max"] = check_draft_length(draft_given["n_draft_max"], stacklevel=stacklevel + 1)
        config = dataclasses.replace(config or DraftConfig(), **draft_given)
    n_threads = raw.get("n_threads")
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, 1, 1024)
    return ResolvedOptions(sampling=sampling, draft=config, mtp=mtp, n_threads=n_threads)

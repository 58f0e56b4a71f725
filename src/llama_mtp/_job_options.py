"""A request's options as the engine takes them (JobOptions): the one conversion that
`LLM.job_options()` and so every caller, the server included, goes through."""

from __future__ import annotations

from collections.abc import Sequence

from ._checks import as_grammar
from ._core import InvalidArgumentError, Model
from ._jobs import JobOptions
from .drafters import Drafters, request_drafters
from .generation import require_exact_support
from .options import DraftConfig, InvalidOptionError, SamplingParams

# DraftConfig fields an LLM sizes or builds its drafters by: a request may not change them
_FIXED_DRAFT_FIELDS = ("n_min", "p_min", "ngram", "ngram_n_max", "ngram_size_n", "draft_vocab")


def job_options_for(
    model: Model,
    config: DraftConfig,
    drafters: Drafters,
    sampling: SamplingParams,
    draft: DraftConfig | None,
    *,
    mtp: bool | None,
    stop: Sequence[str],
    index: int,
    draft_max: int,
    ceiling: int,
) -> JobOptions:
    """See LLM.job_options(); config, drafters: the LLM's; draft_max: the longest MTP draft its
    contexts are sized for; ceiling: the longest its generator drafts now."""
    if draft is None:
        draft = config
    for name in _FIXED_DRAFT_FIELDS:
        value, have = getattr(draft, name), getattr(config, name)
        if value != have and not (value is None and name in ("ngram_n_max", "ngram_size_n")):
            raise InvalidOptionError(
                name, f"{name}={value!r}: this LLM was made with {name}={have!r}; it is set once, at LLM({name}=...)"
            )
    try:
        use = request_drafters(drafters, draft=draft.method, mtp=mtp)
    except InvalidArgumentError as e:  # the drafters' refusal, with the field named
        raise InvalidOptionError("draft", str(e)) from e
    if not use.mtp:
        n_draft = 0
    elif draft.n_draft_max == config.n_draft_max:
        n_draft = -1
    elif draft.adaptive:
        raise InvalidOptionError(
            "n_draft_max", f'n_draft_max="adaptive" needs an LLM made with it; this one drafts {config.n_draft_max}'
        )
    else:
        k = draft.longest_mtp_draft
        if k > draft_max:
            raise InvalidOptionError(
                "n_draft_max",
                f"n_draft_max={k}: this LLM's contexts are sized for drafts of at most {draft_max} (LLM(n_draft_max=...))",
            )
        n_draft = min(k, ceiling)
    if draft.exact and not config.exact:
        try:
            require_exact_support(model)
        except InvalidArgumentError as e:
            raise InvalidOptionError("exact", str(e)) from e
    grammar = as_grammar(model, sampling.grammar, sampling.json_schema)
    seed = None if sampling.seed is None else (sampling.seed + index) % (1 << 32)
    return JobOptions(
        sampling=sampling,
        grammar=grammar,
        seed=seed,
        n_draft=n_draft,
        ngram=use.ngram,
        exact=draft.exact,
        sampled_drafts=draft.sampled_drafts,
        stop=(*sampling.stops, *stop),
    )

"""A draft vocabulary: the tokens a draft head's output layer may be restricted to (FR-Spec,
Zhao et al. 2025). A drafted token outside it cannot be drafted, so the set decides how much
acceptance a cheaper draft keeps; the target still verifies every token, so the text does not
depend on it.

The set is the K most frequent tokens of a corpus, tokenized with the model's own tokenizer
(ties and unseen tokens in the tokenizer's order: BPE merges and SentencePiece scores both put
frequent pieces first), plus every end-of-generation token, plus every token of the prompt and of
the text generated so far (a token the text already uses is never out of reach).

The default corpus is text that ships with every Python: the standard library's sources (code,
comments, docstrings) and pydoc's topics (the language reference's prose), read in a fixed
order up to a budget, so the ranking is the same on every machine without a download. A model's
ranking is kept in memory and in llama-mtp's cache directory (draft-vocab/, keyed by the model
file and the corpus), so only the first LLM of a model tokenizes the corpus (1-4 s).

`DraftConfig(draft_vocab=...)` is how an `LLM` uses it: `draft_vocab_ids` resolves the setting.
"""

from __future__ import annotations

import contextlib
import os
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ._cache_dir import default_cache_dir, file_cache_key
from ._checks import check_int
from ._core import InvalidArgumentError, Model

__all__ = [
    "AUTO_DRAFT_VOCAB",
    "AUTO_DRAFT_VOCAB_MIN_VOCAB",
    "coverage",
    "draft_vocab_ids",
    "draft_vocabulary",
    "eog_tokens",
    "python_corpus",
    "ranked_tokens",
    "ranking_for",
    "token_counts",
    "with_coverage",
]

DEFAULT_CORPUS_BYTES = 4 << 20
# draft_vocab="auto": heads of vocabularies this large or larger are restricted to the
# AUTO_DRAFT_VOCAB most frequent tokens (benchmarks/README.md, "A draft vocabulary": a drafted
# token then costs 0.13-0.15 of a plain step on the qwen35-0.8b shape instead of 0.52, and 32k
# tokens cover 0.98-1.00 of Gemma-3's English, code, JSON and quoting output)
AUTO_DRAFT_VOCAB = 32_768
AUTO_DRAFT_VOCAB_MIN_VOCAB = 2 * AUTO_DRAFT_VOCAB
# the ranking's cache format (and the corpus's definition): a change makes old entries misses
_RANKING_FORMAT = 1


def python_corpus(*, max_bytes: int = DEFAULT_CORPUS_BYTES, exclude: Sequence[str] = ()) -> Iterator[str]:
    """Text that ships with Python: pydoc's topics, then the standard library's .py files in
    sorted order, until max_bytes. exclude: path fragments of files to leave out (a benchmark's
    own sources, so that it does not measure on what it ranked by)."""
    budget = check_int("max_bytes", max_bytes, 0, 1 << 34)
    import importlib

    try:
        topics: dict[str, str] = dict(importlib.import_module("pydoc_data.topics").topics)
    except ImportError:  # some distributions split pydoc_data out
        topics = {}
    for name in sorted(topics):
        text = str(topics[name])
        budget -= len(text.encode())
        if budget < 0:
            return
        yield text
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        relative = path.relative_to(stdlib).as_posix()
        if "site-packages" in relative or "test" in relative.split("/")[0] or any(x in relative for x in exclude):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        budget -= len(text.encode())
        if budget < 0:
            return
        yield text


def token_counts(model: Model, texts: Iterable[str]) -> np.ndarray:
    """How often each token id occurs in the texts, tokenized as the model reads text (no BOS)."""
    counts = np.zeros(model.n_vocab, dtype=np.int64)
    for text in texts:
        tokens = model.tokenize(text, add_special=False, parse_special=False)
        counts += np.bincount(tokens, minlength=model.n_vocab)[: model.n_vocab]
    return counts


def ranked_tokens(counts: np.ndarray) -> np.ndarray:
    """Token ids, most frequent first; equal counts (unseen tokens among them) in id order."""
    counts = np.asarray(counts)
    return np.lexsort((np.arange(counts.size), -counts)).astype(np.int32)


def draft_vocabulary(model: Model, k: int, ranking: np.ndarray, *, always: Iterable[int] = ()) -> np.ndarray:
    """The sorted token ids of a draft vocabulary: the first k of ranking, every
    end-of-generation token and the tokens of `always` (a prompt, the text so far)."""
    k = check_int("k", k, 1, model.n_vocab)
    chosen = set(int(t) for t in ranking[:k])
    chosen.update(eog_tokens(model))
    chosen.update(int(t) for t in always if 0 <= int(t) < model.n_vocab)
    return np.array(sorted(chosen), dtype=np.int32)


def coverage(rank_of: np.ndarray, k: int, prompt: Sequence[int], generated: Sequence[int]) -> tuple[float, float]:
    """The share of generated tokens inside the draft vocabulary of size k: by the ranking
    alone, and with the prompt's and the earlier generated tokens added (what a draft at each
    position could reach). rank_of[t]: token t's place in the ranking."""
    if not generated:
        return 1.0, 1.0
    seen = set(int(t) for t in prompt)
    static = dynamic = 0
    for t in generated:
        inside = int(rank_of[int(t)]) < k
        static += inside
        dynamic += inside or int(t) in seen
        seen.add(int(t))
    return static / len(generated), dynamic / len(generated)


_rankings: dict[str, np.ndarray] = {}
_eog: dict[str, tuple[int, ...]] = {}
_rankings_lock = threading.Lock()


def eog_tokens(model: Model) -> tuple[int, ...]:
    """The model's end-of-generation tokens (asked of every token once per model file)."""
    key = _ranking_key(model)
    with _rankings_lock:
        if key is not None and key in _eog:
            return _eog[key]
    found = tuple(t for t in range(model.n_vocab) if model.is_eog(t))
    if key is not None:
        with _rankings_lock:
            _eog[key] = found
    return found


def _ranking_key(model: Model) -> str | None:
    return file_cache_key(model.path, format=_RANKING_FORMAT, python=sys.version, corpus_bytes=DEFAULT_CORPUS_BYTES)


def _read_ranking(path: Path, n_vocab: int) -> np.ndarray | None:
    """A cached ranking, or None when the file is missing or is not a permutation of the
    vocabulary (a corrupt entry is a miss, rewritten by the caller)."""
    try:
        if not path.is_file() or path.stat().st_size > 16 + 4 * n_vocab + 1024:
            return None
        ranking = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if ranking.shape != (n_vocab,) or ranking.dtype != np.int32:
        return None
    seen = np.zeros(n_vocab, dtype=bool)
    if ranking.min(initial=0) < 0 or ranking.max(initial=0) >= n_vocab:
        return None
    seen[ranking] = True
    return ranking if seen.all() else None


def ranking_for(model: Model) -> np.ndarray:
    """The model's tokens ranked by frequency in `python_corpus()` (see ranked_tokens), from
    the memory or disk cache when this model file was ranked before."""
    key = _ranking_key(model)
    with _rankings_lock:
        if key is not None and key in _rankings:
            return _rankings[key]
    path = default_cache_dir() / "draft-vocab" / f"{key}.npy" if key is not None else None
    ranking = _read_ranking(path, model.n_vocab) if path is not None else None
    if ranking is None:
        ranking = ranked_tokens(token_counts(model, python_corpus(max_bytes=DEFAULT_CORPUS_BYTES)))
        if path is not None:
            with contextlib.suppress(OSError):  # a read-only cache costs the next LLM the ranking
                path.parent.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
                    np.save(f, ranking, allow_pickle=False)
                os.replace(f.name, path)
    if key is not None:
        with _rankings_lock:
            _rankings[key] = ranking
    return ranking


def draft_vocab_ids(model: Model, setting: int | str | Sequence[int] | None) -> np.ndarray | None:
    """The starting set of a `DraftConfig.draft_vocab` setting for this model (sorted token ids),
    or None for the whole vocabulary ("full", None): "auto" is AUTO_DRAFT_VOCAB tokens for vocabularies of
    AUTO_DRAFT_VOCAB_MIN_VOCAB or more, else the whole; an int K is the K most frequent (the whole
    when K >= the vocabulary); a sequence is those ids. End-of-generation tokens are added."""
    if setting is None or setting == "full":
        return None
    if isinstance(setting, str):
        if setting != "auto":
            raise InvalidArgumentError(f'draft_vocab must be "auto", "full", an int or token ids, got {setting!r}')
        if model.n_vocab < AUTO_DRAFT_VOCAB_MIN_VOCAB:
            return None
        setting = AUTO_DRAFT_VOCAB
    if isinstance(setting, int):
        if setting >= model.n_vocab:
            return None
        return draft_vocabulary(model, setting, ranking_for(model))
    ids = {int(t) for t in setting}
    if not ids:
        raise InvalidArgumentError("draft_vocab: no token ids given (None is the whole vocabulary)")
    outside = sorted(t for t in ids if not 0 <= t < model.n_vocab)
    if outside:
        raise InvalidArgumentError(f"draft_vocab: token {outside[0]} out of range [0, {model.n_vocab})")
    ids.update(eog_tokens(model))
    return np.array(sorted(ids), dtype=np.int32)


def with_coverage(
    vocab: np.ndarray, text: Sequence[int], *, prompt: Sequence[int] = (), coverage: float, seed: int = 0
) -> np.ndarray:
    """A draft vocabulary for a synthesized model, whose pseudo-word text no corpus ranks: `vocab`
    with just enough of `text`'s tokens left out that the share of its tokens a draft can reach
    (inside the set or used before, as `coverage()` counts "+context") is `coverage`, the rate
    measured on a real model's output. Which tokens are left out is seeded; the prompt's tokens
    stay in (the set admits them before the first draft)."""
    if not 0.0 <= coverage <= 1.0:
        raise InvalidArgumentError(f"coverage must be in [0, 1], got {coverage}")
    firsts = list(dict.fromkeys(int(t) for t in text))  # each token at its first use
    candidates = [t for t in firsts if t not in set(int(p) for p in prompt)]
    n_out = min(len(candidates), round((1.0 - coverage) * len(text)))
    rng = np.random.default_rng(seed)
    left_out = set(rng.choice(candidates, n_out, replace=False).tolist()) if n_out else set()
    kept = set(int(t) for t in vocab) | set(firsts)
    return np.array(sorted(kept - left_out), dtype=np.int32)

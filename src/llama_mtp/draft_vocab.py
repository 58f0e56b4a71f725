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
order up to a budget, so the ranking is the same on every machine without a download.
"""

from __future__ import annotations

import sysconfig
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ._checks import check_int
from ._core import Model

__all__ = ["coverage", "draft_vocabulary", "python_corpus", "ranked_tokens", "token_counts"]

DEFAULT_CORPUS_BYTES = 4 << 20


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
    chosen.update(t for t in range(model.n_vocab) if model.is_eog(t))
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

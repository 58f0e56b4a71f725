"""The `llama-mtp` command's value types for argparse: each refuses a bad value as a usage
error (exit 2, one line) before any work starts."""

from __future__ import annotations

import argparse
from typing import Any

from .sizing import DraftLength


class UsageError(Exception):
    """A bad option value found after parsing: reported with the subcommand's usage (it never
    leaves main())."""


def draft_length(text: str) -> DraftLength:
    """--n-draft-max: "adaptive" ("auto", its old name, is taken too) or a draft length >= 1."""
    if text in ("adaptive", "auto"):
        return "adaptive"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected "adaptive" or an integer, not {text!r}') from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f'expected "adaptive" or an integer in [1, 64], not {value}')
    return value


def draft_vocab_arg(text: str) -> int | str:
    """--draft-vocab: "auto", "full" or the number of most frequent tokens the MTP head drafts from."""
    if text in ("auto", "full"):
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected "auto", "full" or an integer, not {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected "auto", "full" or an integer >= 1, not {value}')
    return value


DRAFT_VOCAB_HELP = (
    'tokens the MTP head drafts from: "auto" (the 32768 most frequent for vocabularies of 65536 or more), '
    '"full", or a number of most frequent tokens (the text\'s own tokens join them)'
)


SAMPLED_DRAFTS_HELP = (
    "at temperature > 0, sample MTP drafts from the head and verify them by rejection sampling (accepts more; "
    "the text then depends on the drafts, not on the seed alone)"
)


def int_in(lo: int, hi: int) -> Any:
    """An argparse type: an integer in [lo, hi] (a usage error, exit 2, otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected an integer in [{lo}, {hi}], not {value}")
        return value

    return parse


def float_in(lo: float, hi: float, *, above: bool = False) -> Any:
    """An argparse type: a number in [lo, hi] ((lo, hi] with above)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
        if not (lo < value if above else lo <= value) or not value <= hi:  # NaN fails both
            raise argparse.ArgumentTypeError(f"expected a number in {'(' if above else '['}{lo}, {hi}], not {text}")
        return value

    return parse


def text(text: str) -> str:
    """An argparse type: text that is UTF-8 (an argument in another encoding reaches Python as
    lone surrogates, which no tokenizer takes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("not UTF-8 text (set a UTF-8 locale, or pass the text as UTF-8)") from None
    return text


THREADS = int_in(1, 1024)
CONTEXT = int_in(64, 1 << 24)
PORT = int_in(0, 65535)


def endpoints(text: str) -> list[str]:
    """--rpc: comma-separated host:port endpoints."""
    return [e.strip() for e in text.split(",") if e.strip()]

"""Checks of the public API's arguments: one rule per kind of value, each failure typed
(ArgumentTypeError for a wrong type, InvalidArgumentError for a value out of range; both are
LlamaErrors)."""

from __future__ import annotations

import math

import numpy as np

from ._core import ArgumentTypeError, Grammar, InvalidArgumentError, Model


def check_int(name: str, value: object, lo: int, hi: int) -> int:
    """An int (not a bool) in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise InvalidArgumentError(f"{name} must be in [{lo}, {hi}], got {value}")
    return int(value)


def check_bool(name: str, value: object) -> bool:
    """A bool: "no" or 0 is not taken for one (both would read as a truth value)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be True or False, not {value!r}")
    return bool(value)


def check_optional_bool(name: str, value: object) -> bool | None:
    """None (the default's meaning) or a bool."""
    return None if value is None else check_bool(name, value)


def check_number(name: str, value: object) -> float:
    """A number (not a bool), as a float; its range is its user's to check."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{name} must be a number, not {type(value).__name__}")
    return float(value)


def check_float(name: str, value: object, lo: float, hi: float) -> float:
    """A finite number in [lo, hi] (NaN is refused: every comparison with it is false)."""
    f = check_number(name, value)
    if math.isnan(f) or not lo <= f <= hi:
        raise InvalidArgumentError(f"{name} must be in [{lo}, {hi}], got {value}")
    return f


def as_grammar(model: Model, grammar: object, json_schema: object = None) -> Grammar | None:
    """A request's grammar: a Grammar, GBNF source text (parsed against model's vocabulary), a
    JSON schema's (a mapping or JSON text), or None."""
    if json_schema is not None:
        import json

        text = json_schema if isinstance(json_schema, str) else json.dumps(json_schema)
        return Grammar.from_json_schema(model, text)
    if grammar is None or isinstance(grammar, Grammar):
        return grammar
    if isinstance(grammar, str):
        return Grammar.from_gbnf(model, grammar)
    raise ArgumentTypeError(f"grammar must be a Grammar or GBNF text, not {type(grammar).__name__}")

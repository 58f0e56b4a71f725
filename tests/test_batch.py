from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import llama_mtp
from llama_mtp.testing import TinyModelSpec


def data_ptr(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def test_add_and_views() -> None:
    b = llama_mtp.Batch(8, n_seq_max=2)
    assert len(b) == 0 and b.capacity == 8 and b.n_seq_max == 2
    assert b.add(5, 0, 0) == 0
    assert b.add(6, 1, [1, 0], logits=True) == 1
    assert len(b) == 2
    assert list(b.token) == [5, 6]
    assert list(b.pos) == [0, 1]
    assert list(b.seq_id) == [0, 1]
    assert list(b.n_seq_id) == [1, 2]
    assert list(b.logits) == [0, 1]
    assert b.n_outputs == 1
    b.clear()
    assert len(b) == 0 and b.token.shape == (0,)


def test_views_are_zero_copy_and_writable() -> None:
    b = llama_mtp.Batch(16)
    b.set_tokens(np.arange(10, 20, dtype=np.int32), pos0=3, seq_id=0)
    tok1, tok2 = b.token, b.token
    assert data_ptr(tok1) == data_ptr(tok2)  # same memory every time
    assert tok1.flags.writeable and not tok1.flags.owndata
    tok1[:] = 7
    assert list(b.token) == [7] * 10  # the write reached the batch
    b.seq_id[:] = 0
    b.logits[:] = 1
    assert b.n_outputs == 10
    # strided seq_id view over a (capacity, n_seq_max) table
    b2 = llama_mtp.Batch(4, n_seq_max=3)
    b2.set_tokens(np.array([1, 2, 3], dtype=np.int32), seq_id=2)
    assert b2.seq_id.strides == (12,)
    assert list(b2.seq_id) == [2, 2, 2]


def test_views_outlive_the_python_batch_reference() -> None:
    b = llama_mtp.Batch(4)
    b.set_tokens(np.array([1, 2, 3], dtype=np.int32))
    tokens = b.token
    del b  # the view keeps the batch alive (reference_internal)
    assert list(tokens) == [1, 2, 3]


def test_set_tokens_and_append() -> None:
    b = llama_mtp.Batch(6)
    b.set_tokens(np.array([1, 2], dtype=np.int32), pos0=0, logits_last=False)
    b.set_tokens(np.array([3, 4], dtype=np.int32), pos0=2, append=True)
    assert list(b.token) == [1, 2, 3, 4]
    assert list(b.pos) == [0, 1, 2, 3]
    assert list(b.logits) == [0, 0, 0, 1]


def test_capacity_errors() -> None:
    b = llama_mtp.Batch(2)
    b.add(1, 0)
    b.add(1, 1)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="full"):
        b.add(1, 2)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="capacity"):
        b.set_tokens(np.arange(3, dtype=np.int32))
    with pytest.raises(llama_mtp.InvalidArgumentError):
        b.set_len(3)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.Batch(0)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.Batch(4, n_seq_max=0)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="seq ids"):
        llama_mtp.Batch(4).add(1, 0, [0, 1])  # n_seq_max=1
    assert len(b) == 2  # failed calls changed nothing


def test_decode_reads_what_the_views_show(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    """Fill a batch only through numpy views; the target's greedy output proves decode read them."""
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=32)
    b = llama_mtp.Batch(32)
    prompt = model.tokenize("Hi!")
    b.set_tokens(np.zeros(len(prompt), dtype=np.int32), logits_last=False)
    b.token[:] = prompt
    b.pos[:] = np.arange(len(prompt))
    b.logits[-1] = 1
    ctx.decode(b)
    first = int(np.argmax(ctx.get_logits_ith(len(prompt) - 1)))
    assert first == spec.expected_tokens(list(prompt), 1)[0]
    # now change a token through the view: a word token -> its cycle successor
    word = spec.start
    b.set_tokens(np.array([word], dtype=np.int32), pos0=len(prompt))
    b.token[0] = spec.next_token(word)
    ctx.decode(b)
    assert int(np.argmax(ctx.get_logits_ith(0))) == spec.next_token(spec.next_token(word))


@given(st.lists(st.integers(min_value=3, max_value=1023), min_size=1, max_size=16))
def test_set_tokens_matches_add(tokens: list[int]) -> None:
    a = llama_mtp.Batch(16)
    b = llama_mtp.Batch(16)
    a.set_tokens(np.array(tokens, dtype=np.int32), pos0=5, seq_id=0, logits_last=True)
    for i, t in enumerate(tokens):
        b.add(t, 5 + i, 0, logits=(i == len(tokens) - 1))
    for name in ("token", "pos", "seq_id", "n_seq_id", "logits"):
        assert list(getattr(a, name)) == list(getattr(b, name))

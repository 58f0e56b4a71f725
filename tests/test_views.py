"""Zero-copy views of a context's outputs (logits, embeddings, pre-norm hidden states): no
copy, no stale memory (src/bindings/view_owner.cpp, bound in src/bindings/views.cpp)."""

from __future__ import annotations

import gc
import itertools
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from test_context import data_ptr, prompt_batch

import llama_mtp
from llama_mtp.testing import TinyModelSpec


def test_logits_view_is_zero_copy(ctx: llama_mtp.Context, model: llama_mtp.Model) -> None:
    b = prompt_batch(model)
    b.logits[:] = 1
    ctx.decode(b)
    full = ctx.get_logits()
    assert full.shape == (len(b), model.n_vocab) and full.dtype == np.float32
    row = ctx.get_logits_ith(2)
    assert data_ptr(row) == data_ptr(full) + 2 * model.n_vocab * 4
    assert data_ptr(ctx.get_logits_ith(-1)) == data_ptr(ctx.get_logits_ith(len(b) - 1))
    assert data_ptr(ctx.get_logits()) == data_ptr(full)  # repeated access: same memory
    assert not full.flags.writeable and not full.flags.owndata
    with pytest.raises(ValueError):
        full[0, 0] = 1.0
    del full, row
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    views = [ctx.get_logits() for _ in range(20)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    # 20 copies would be 20 * rows * n_vocab * 4 bytes; views cost only small objects
    assert grown < 20 * len(b) * model.n_vocab * 4 / 10
    assert len(views) == 20


def test_logits_ith_validation(ctx: llama_mtp.Context, model: llama_mtp.Model) -> None:
    with pytest.raises(llama_mtp.ContextError, match="decode"):
        ctx.get_logits()
    b = prompt_batch(model)
    ctx.decode(b)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="logits flag"):
        ctx.get_logits_ith(0)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        ctx.get_logits_ith(len(b))
    with pytest.raises(llama_mtp.InvalidArgumentError):
        ctx.get_logits_ith(-2)


def test_stale_views_are_detectable(ctx: llama_mtp.Context, model: llama_mtp.Model) -> None:
    ctx.decode(prompt_batch(model))
    view = ctx.get_logits_ith(-1)
    owner = view.base
    assert isinstance(owner, llama_mtp.ViewOwner)
    assert owner.generation == ctx.decode_count and owner.is_current
    assert llama_mtp.view_owner(view[5:10]) is owner
    b = llama_mtp.Batch(1)
    b.set_tokens(np.array([300], dtype=np.int32), pos0=len(model.tokenize("Hi!")))
    ctx.decode(b)
    assert not owner.is_current and owner.generation == ctx.decode_count - 1
    assert not llama_mtp.view_is_current(view)


def test_decode_refuses_to_reallocate_under_live_views(ctx: llama_mtp.Context, model: llama_mtp.Model) -> None:
    ctx.decode(prompt_batch(model))
    view = ctx.get_logits_ith(-1)
    big = prompt_batch(model, "a longer prompt")
    big.logits[:] = 1
    ctx.memory_clear()
    with pytest.raises(llama_mtp.StaleViewError, match="copy"):
        ctx.decode(big)
    kept = view.copy()
    del view
    ctx.decode(big)  # fine once the view is gone
    assert kept.shape == (model.n_vocab,)
    with pytest.raises(llama_mtp.StaleViewError):
        held = ctx.get_logits()
        ctx.close()
    del held
    ctx.close()
    assert ctx.closed
    with pytest.raises(llama_mtp.ClosedError):
        ctx.decode(big)


@pytest.mark.parametrize("order", list(itertools.permutations(["model", "ctx", "view", "batch"])))
def test_delete_in_any_order(model_path: Path, order: tuple[str, ...]) -> None:
    objs: dict[str, object] = {}
    objs["model"] = llama_mtp.Model(str(model_path))
    objs["ctx"] = llama_mtp.Context(objs["model"], n_ctx=256, n_batch=16)  # type: ignore[arg-type]
    objs["batch"] = llama_mtp.Batch(8)
    objs["batch"].set_tokens(np.array([1, 300, 301], dtype=np.int32))  # type: ignore[attr-defined]
    objs["ctx"].decode(objs["batch"])  # type: ignore[attr-defined]
    objs["view"] = objs["ctx"].get_logits_ith(-1)  # type: ignore[attr-defined]
    expected = float(np.max(objs["view"]))  # type: ignore[call-overload]
    for name in order:
        if name == "view":
            assert float(np.max(objs["view"])) == expected  # type: ignore[call-overload]
        del objs[name]
        gc.collect()


def test_embeddings(model: llama_mtp.Model) -> None:
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=32, embeddings=True)
    b = prompt_batch(model)
    ctx.decode(b)
    e = ctx.get_embeddings_ith(-1)
    assert e.shape == (model.n_embd,) and np.isfinite(e).all()
    assert data_ptr(e) == data_ptr(ctx.get_embeddings_ith(len(b) - 1))
    with pytest.raises(llama_mtp.ContextError, match="pooling"):
        ctx.get_embeddings_seq(0)
    plain = llama_mtp.Context(model, n_ctx=256)
    plain.decode(prompt_batch(model))
    with pytest.raises(llama_mtp.ContextError, match="embeddings=True"):
        plain.get_embeddings_ith(-1)


def test_pre_norm_hidden_states(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=32)
    b = prompt_batch(model)
    with pytest.raises(llama_mtp.ContextError, match="set_embeddings_pre_norm"):
        ctx.decode(b)
        ctx.get_embeddings_pre_norm_ith(0)
    ctx.memory_clear()
    ctx.set_embeddings_pre_norm(True)
    assert ctx.embeddings_pre_norm
    ctx.decode(b)
    rows = [ctx.get_embeddings_pre_norm_ith(i) for i in range(len(b))]  # unmasked: every row
    assert all(r.shape == (model.n_embd_out,) for r in rows)
    assert data_ptr(rows[1]) - data_ptr(rows[0]) == model.n_embd_out * 4
    # crafted model: the hidden state stays close to the current token's embedding,
    # so rows of different tokens differ and have RMS near 1
    assert not np.allclose(rows[0], rows[1])
    assert 0.5 < float(np.sqrt(np.mean(rows[-1] ** 2))) < 2.0
    with pytest.raises(llama_mtp.InvalidArgumentError):
        ctx.get_embeddings_pre_norm_ith(len(b))

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import llama_mtp
from llama_mtp.testing import TinyModelSpec


def data_ptr(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def prompt_batch(model: llama_mtp.Model, text: str = "Hi!", capacity: int = 32) -> llama_mtp.Batch:
    b = llama_mtp.Batch(capacity)
    b.set_tokens(model.tokenize(text))
    return b


def greedy(ctx: llama_mtp.Context, prompt: np.ndarray, n: int) -> list[int]:
    b = llama_mtp.Batch(max(len(prompt), 1))
    b.set_tokens(prompt)
    ctx.decode(b)
    out: list[int] = []
    pos = len(prompt)
    for _ in range(n):
        tok = int(np.argmax(ctx.get_logits_ith(-1)))
        out.append(tok)
        b.set_tokens(np.array([tok], dtype=np.int32), pos0=pos)
        pos += 1
        ctx.decode(b)
    return out


def test_params(model: llama_mtp.Model) -> None:
    ctx = llama_mtp.Context(model, n_ctx=512, n_batch=64, n_ubatch=32, n_seq_max=2, n_threads=1)
    assert ctx.n_ctx >= 512 and ctx.n_batch == 64 and ctx.n_ubatch == 32
    assert ctx.n_seq_max == 2 and ctx.n_threads == 1 and ctx.n_threads_batch == 1
    assert ctx.ctx_type == llama_mtp.ContextType.DEFAULT
    assert ctx.model is model
    clamped = llama_mtp.Context(model, n_batch=16)  # n_ubatch defaults to 512
    assert clamped.n_ubatch == 16


def test_mtp_context(model: llama_mtp.Model, kind: str) -> None:
    n_rs = 3 if kind == "hybrid" else 0
    d = model.new_context(ctx_type=llama_mtp.ContextType.MTP, n_ctx=256, n_rs_seq=n_rs)
    assert d.ctx_type == llama_mtp.ContextType.MTP
    with pytest.raises(llama_mtp.ContextError, match="MtpSession"):
        d.decode(prompt_batch(model))


@pytest.mark.parametrize(
    "params",
    [
        dict(n_ctx=0),
        dict(n_batch=0),
        dict(n_ubatch=0),
        dict(n_seq_max=0),
        dict(n_seq_max=100000),
        dict(n_threads=0),
        dict(n_threads_batch=-1),
        dict(n_rs_seq=1000),
        dict(n_threads=100000),
        dict(n_threads_batch=513),
    ],
)
def test_nonsense_params_raise(model: llama_mtp.Model, params: dict[str, int]) -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.Context(model, **params)  # type: ignore[arg-type]


def test_set_n_threads_is_bounded(ctx: llama_mtp.Context) -> None:
    for bad in (0, -1, 513, 100000):
        with pytest.raises(llama_mtp.InvalidArgumentError, match=r"\[1, 512\]"):
            ctx.set_n_threads(bad)
    ctx.set_n_threads(1, 2)
    assert (ctx.n_threads, ctx.n_threads_batch) == (1, 2)


def test_default_thread_count(model: llama_mtp.Model) -> None:
    n = llama_mtp.default_threads()
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    assert 1 <= n <= available  # one per physical core, never more than this process may use
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=16)
    assert ctx.n_threads == n and ctx.n_threads_batch == n


def test_negative_sizes_raise_invalid_argument_errors(model: llama_mtp.Model) -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError, match=r"n_ctx must be in \[1, 16777216\], got -5"):
        llama_mtp.Context(model, n_ctx=-5)
    with pytest.raises(TypeError):
        llama_mtp.Context("not a model")  # type: ignore[arg-type]


def test_greedy_generation_matches_crafted_sequence(ctx: llama_mtp.Context, model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    prompt = model.tokenize("Once upon a time,")
    assert greedy(ctx, prompt, 40) == spec.expected_tokens(list(prompt), 40)


def test_logits_are_decisive(ctx: llama_mtp.Context, model: llama_mtp.Model) -> None:
    ctx.decode(prompt_batch(model))
    top2 = np.sort(ctx.get_logits_ith(-1))[-2:]
    assert top2[1] - top2[0] > 2.0


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b: b.token.__setitem__(0, 1024), "token"),
        (lambda b: b.token.__setitem__(0, -3), "token"),
        (lambda b: b.pos.__setitem__(1, -1), "position"),
        (lambda b: b.seq_id.__setitem__(0, 1), "seq_id"),
        (lambda b: b.seq_id.__setitem__(0, -2), "seq_id"),
        (lambda b: b.n_seq_id.__setitem__(0, 0), "n_seq_id"),
        (lambda b: b.n_seq_id.__setitem__(0, 5), "n_seq_id"),
        (lambda b: b.clear(), "empty"),
    ],
)
def test_bad_batches_raise_before_llama(ctx: llama_mtp.Context, model: llama_mtp.Model, mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    b = prompt_batch(model)
    mutate(b)
    with pytest.raises(llama_mtp.InvalidArgumentError, match=match):
        ctx.decode(b)
    # the context is still usable afterwards
    ctx.decode(prompt_batch(model))
    assert ctx.get_logits_ith(-1).shape == (model.n_vocab,)


def test_batch_larger_than_n_batch(model: llama_mtp.Model) -> None:
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=4)
    b = llama_mtp.Batch(8)
    b.set_tokens(np.arange(300, 308, dtype=np.int32))
    with pytest.raises(llama_mtp.InvalidArgumentError, match="n_batch"):
        ctx.decode(b)


def test_inconsistent_positions_are_a_typed_decode_error(dense_model: llama_mtp.Model) -> None:
    # attention-only KV memory requires consecutive positions; a recurrent state does not
    model = dense_model
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=32)
    ctx.decode(prompt_batch(model))
    b = llama_mtp.Batch(2)
    b.set_tokens(np.array([300, 301], dtype=np.int32), pos0=100)  # gap after the prompt
    with pytest.raises(llama_mtp.DecodeError) as info:
        ctx.decode(b)
    assert isinstance(info.value, llama_mtp.InvalidBatchError)
    assert info.value.code == -1  # type: ignore[attr-defined]
    b.set_tokens(np.array([300], dtype=np.int32), pos0=int(ctx.memory_seq_pos_max(0)) + 1)
    ctx.decode(b)  # still usable


def test_kv_cache_full(model: llama_mtp.Model) -> None:
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=256)
    b = llama_mtp.Batch(256)
    b.set_tokens(np.full(256, 300, dtype=np.int32))
    ctx.decode(b)
    b.set_tokens(np.array([300], dtype=np.int32), pos0=256)
    with pytest.raises(llama_mtp.KvCacheFullError) as info:
        ctx.decode(b)
    assert info.value.code == 1  # type: ignore[attr-defined]
    assert isinstance(info.value, llama_mtp.DecodeError)
    ctx.memory_seq_rm(0, 200, -1) or ctx.memory_clear()
    ctx.memory_clear()
    ctx.decode(prompt_batch(model))


def test_memory_ops(ctx: llama_mtp.Context, model: llama_mtp.Model) -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError):
        ctx.memory_seq_pos_max(1)
    assert ctx.memory_seq_pos_max(0) == -1
    b = prompt_batch(model)
    ctx.decode(b)
    # attention KV keeps every position; recurrent state keeps only the last one
    assert 0 <= ctx.memory_seq_pos_min(0) <= len(b) - 1
    assert ctx.memory_seq_pos_max(0) == len(b) - 1
    ctx.memory_seq_keep(0)
    assert ctx.memory_seq_rm(0)  # the whole sequence
    assert ctx.memory_seq_pos_max(0) == -1


def test_partial_seq_rm(model: llama_mtp.Model, kind: str) -> None:
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=32)
    b = prompt_batch(model, "Hello there")
    ctx.decode(b)
    removed = ctx.memory_seq_rm(0, 3, -1)
    # attention-only memory can drop a suffix; recurrent state without snapshots cannot
    assert removed == (kind == "dense")


def test_state_round_trip(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=32)
    prompt = model.tokenize("State test.")
    continuation = greedy(ctx, prompt, 3)
    state = ctx.state_seq_get(0)
    assert isinstance(state, bytes) and len(state) > 0
    after = greedy_continue(ctx, len(prompt) + 3, continuation[-1], 5)
    ctx.memory_clear()
    ctx.state_seq_set(0, state)
    assert ctx.memory_seq_pos_max(0) == len(prompt) + 2
    assert greedy_continue(ctx, len(prompt) + 3, continuation[-1], 5) == after
    with pytest.raises(llama_mtp.StateError):
        ctx.state_seq_set(0, b"garbage" * 10)
    with pytest.raises(llama_mtp.StateError):
        ctx.state_seq_set(0, b"")


def greedy_continue(ctx: llama_mtp.Context, pos: int, last: int, n: int) -> list[int]:
    b = llama_mtp.Batch(1)
    out = []
    for _ in range(n):
        b.set_tokens(np.array([last], dtype=np.int32), pos0=pos)
        ctx.decode(b)
        last = int(np.argmax(ctx.get_logits_ith(-1)))
        out.append(last)
        pos += 1
    return out


def test_multi_sequence_batch(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    ctx = llama_mtp.Context(model, n_ctx=512, n_batch=64, n_seq_max=3)
    prompts = [model.tokenize(t) for t in ("One.", "Two words", "3")]
    b = llama_mtp.Batch(64)
    for s, p in enumerate(prompts):
        b.set_tokens(p, seq_id=s, append=True)
    ctx.decode(b)
    ends = np.cumsum([len(p) for p in prompts]) - 1
    for s, p in enumerate(prompts):
        assert int(np.argmax(ctx.get_logits_ith(int(ends[s])))) == spec.expected_tokens(list(p), 1)[0]
        assert ctx.memory_seq_pos_max(s) == len(p) - 1


def test_perf_counters(ctx: llama_mtp.Context, model: llama_mtp.Model) -> None:
    ctx.perf_reset()
    ctx.decode(prompt_batch(model))
    perf = ctx.perf()
    assert perf["n_prompt_eval"] + perf["n_eval"] >= 1
    assert perf["t_prompt_eval_ms"] + perf["t_eval_ms"] >= 0.0


def _runs_concurrently(work) -> bool:  # type: ignore[no-untyped-def]
    """True when another Python thread runs while `work()` runs, with the interpreter's
    periodic GIL hand-over disabled: only native code that releases the GIL lets it run."""
    import sys
    import threading
    import time

    counter = [0]
    seen: list[int] = []
    finished = threading.Event()

    def worker() -> None:
        seen.append(counter[0])
        work()
        seen.append(counter[0])
        finished.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        t = threading.Thread(target=worker)
        t.start()
        while not finished.is_set():
            counter[0] += 1
            time.sleep(0)  # yields the GIL; lets the worker start and continue
        t.join()
    finally:
        sys.setswitchinterval(old)
    return seen[1] > seen[0]


def test_decode_releases_the_gil(model: llama_mtp.Model) -> None:
    ctx = llama_mtp.Context(model, n_ctx=2048, n_batch=256, n_threads=1)
    b = llama_mtp.Batch(256)

    def work() -> None:
        for i in range(4):
            b.set_tokens(np.full(256, 300, dtype=np.int32), pos0=256 * i, logits_last=False)
            ctx.decode(b)

    assert _runs_concurrently(work)


def test_model_load_releases_the_gil(model_path: Path) -> None:
    assert _runs_concurrently(lambda: [llama_mtp.Model(str(model_path)) for _ in range(3)])


def test_gil_probe_detects_a_gil_holder() -> None:
    # the probe above is meaningful: with a GIL, pure Python work never lets the other thread
    # run; a free-threaded interpreter runs both at once
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    assert _runs_concurrently(lambda: sum(range(3 * 10**6))) is not gil


def test_memory_seq_cp_copies_whole_sequences_only(model: llama_mtp.Model) -> None:
    ctx = llama_mtp.Context(model, n_ctx=512, n_batch=32, n_seq_max=2, n_threads=1)
    b = llama_mtp.Batch(32)
    b.set_tokens(np.arange(1, 11, dtype=np.int32), seq_id=0)
    ctx.decode(b)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="whole sequences"):
        ctx.memory_seq_cp(0, 1, 2, 5)  # upstream asserts on this (separate KV streams)
    ctx.memory_seq_cp(0, 1)
    assert ctx.memory_seq_pos_max(1) == 9
    ctx.memory_seq_cp(0, 0, 2, 5)  # within one sequence a range is fine


def test_the_effective_sizes_are_what_llama_uses(model: llama_mtp.Model) -> None:
    ctx = llama_mtp.Context(model, n_ctx=100, n_batch=4096, n_ubatch=8192, n_seq_max=3, n_threads=1)
    assert ctx.n_ctx_seq == 256 and ctx.n_ctx == 3 * 256  # padded per sequence
    assert ctx.n_batch == 100 and ctx.n_ubatch == 100  # n_batch <= requested n_ctx, n_ubatch <= n_batch


def test_close_is_idempotent_and_closed_contexts_raise(model: llama_mtp.Model) -> None:
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=32, n_threads=1)
    ctx.close()
    ctx.close()
    for call in (
        lambda: ctx.memory_clear(),
        lambda: ctx.perf(),
        lambda: ctx.state_seq_get(0),
        lambda: ctx.set_n_threads(1),
        lambda: ctx.get_logits(),
    ):
        with pytest.raises(llama_mtp.ClosedError):
            call()
    assert ctx.n_ctx == 256 and "closed" in repr(ctx)

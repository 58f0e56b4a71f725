"""The misuse matrix: every bad argument raises a typed error naming the parameter (an
InvalidArgumentError, a ValueError, for values out of range, including integers too large for
C types) and never crashes. Runs in a child process, so a crash fails the test."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from child import run_child
from mtp_helpers import Loop, mtp_contexts

import llama_mtp

# name -> (statement, exception class name expected, text the message must contain)
CASES: dict[str, tuple[str, str, str]] = {
    "n_ctx=-1": ("L.Context(m, n_ctx=-1)", "InvalidArgumentError", "n_ctx"),
    "n_ctx=2**64": ("L.Context(m, n_ctx=2**64)", "InvalidArgumentError", "n_ctx"),
    "n_batch=0": ("L.Context(m, n_batch=0)", "InvalidArgumentError", "n_batch"),
    "n_ubatch=2**40": ("L.Context(m, n_ubatch=2**40)", "InvalidArgumentError", "n_ubatch"),
    "n_seq_max=10**9": ("L.Context(m, n_seq_max=10**9)", "InvalidArgumentError", "n_seq_max"),
    "n_threads=100000": ("L.Context(m, n_threads=100000)", "InvalidArgumentError", "n_threads"),
    "n_threads_batch=-3": ("L.Context(m, n_threads_batch=-3)", "InvalidArgumentError", "n_threads_batch"),
    "n_rs_seq=-1": ("L.Context(m, n_rs_seq=-1)", "InvalidArgumentError", "n_rs_seq"),
    "set_n_threads(2**31)": ("ctx.set_n_threads(2**31)", "InvalidArgumentError", "n_threads"),
    "Batch(2**31)": ("L.Batch(2**31)", "InvalidArgumentError", "capacity"),
    "Batch(2**31-1)": ("L.Batch(2**31 - 1)", "InvalidArgumentError", "capacity"),
    "Batch(0)": ("L.Batch(0)", "InvalidArgumentError", "capacity"),
    "Batch(n_seq_max=10**6)": ("L.Batch(8, n_seq_max=10**6)", "InvalidArgumentError", "n_seq_max"),
    "Batch rows*seqs": ("L.Batch(2**24, n_seq_max=256)", "InvalidArgumentError", "n_seq_max"),
    "Batch.add(token=2**31)": ("L.Batch(4).add(2**31, 0)", "InvalidArgumentError", "token"),
    "Batch.add(pos=-1)": ("L.Batch(4).add(1, -1)", "InvalidArgumentError", "pos"),
    "Batch.add(seq_id=2**40)": ("L.Batch(4).add(1, 0, 2**40)", "InvalidArgumentError", "seq_id"),
    "Batch.set_len(99)": ("L.Batch(4).set_len(99)", "InvalidArgumentError", "n must be"),
    "set_tokens(float array)": ("L.Batch(4).set_tokens(np.array([1.0, 2.0]))", "InvalidArgumentError", "dtype float64"),
    "set_tokens(1e10)": ("L.Batch(4).set_tokens(np.array([1e10]))", "InvalidArgumentError", "dtype"),
    "set_tokens(pos0=2**31-1)": ("L.Batch(4).set_tokens([1, 2], pos0=2**31 - 1)", "InvalidArgumentError", "pos0"),
    "memory_seq_rm(0, 2**32+3)": ("ctx.memory_seq_rm(0, 2**32 + 3)", "InvalidArgumentError", "p0"),
    "memory_seq_rm(-2)": ("ctx.memory_seq_rm(-2)", "InvalidArgumentError", "seq_id"),
    "memory_seq_cp partial": ("ctx2.memory_seq_cp(0, 1, 2, 5)", "InvalidArgumentError", "whole sequences"),
    "memory_seq_cp p1 only": ("ctx2.memory_seq_cp(0, 1, -1, 5)", "InvalidArgumentError", "whole sequences"),
    "memory_seq_keep(9)": ("ctx.memory_seq_keep(9)", "InvalidArgumentError", "seq_id"),
    "memory_seq_pos_max(2**63)": ("ctx.memory_seq_pos_max(2**63)", "InvalidArgumentError", "seq_id"),
    "state_seq_get(2**40)": ("ctx.state_seq_get(2**40)", "InvalidArgumentError", "seq_id"),
    "state_seq_get(flags=99)": ("ctx.state_seq_get(0, 99)", "InvalidArgumentError", "flags"),
    "get_logits_ith(2**63)": ("ctx.get_logits_ith(2**63)", "InvalidArgumentError", "i must be"),
    "seed=-1": ("L.generate(m, 'x', max_tokens=2, temperature=1.0, seed=-1)", "InvalidArgumentError", "seed"),
    "seed=2**32": ("L.Sampler(temperature=1.0, seed=2**32)", "InvalidArgumentError", "seed"),
    "max_tokens=10**12": ("L.generate(m, 'x', max_tokens=10**12)", "InvalidArgumentError", "max_tokens"),
    "max_tokens=-1": ("L.generate(m, 'x', max_tokens=-1)", "InvalidArgumentError", "max_tokens"),
    "top_k=2**40": ("L.generate(m, 'x', max_tokens=2, temperature=1.0, top_k=2**40)", "InvalidArgumentError", "top_k"),
    "Sampler(top_k=-1)": ("L.Sampler(temperature=1.0, top_k=-1)", "InvalidArgumentError", "top_k"),
    "Sampler.accept(2**40)": ("L.Sampler().accept(2**40)", "InvalidArgumentError", "token"),
    "n_draft_max=2**40": ("L.generate(m, 'x', max_tokens=2, n_draft_max=2**40)", "InvalidConfigError", "n_draft_max"),
    "MtpSessionConfig(n_seq=2**40)": ("L.MtpSessionConfig(n_seq=2**40)", "InvalidConfigError", "n_seq"),
    "with_n_min(-2**70)": ("L.MtpSessionConfig().with_n_min(-2**70)", "InvalidConfigError", "n_min"),
    "accept(0, 2**31)": ("session.accept(0, 2**31)", "InvalidArgumentError", "n_accepted"),
    "draft(n_past=-1)": ("session.draft(0, -1, 1)", "InvalidArgumentError", "n_past"),
    "draft(seq 2**33)": ("session.draft(2**33, 0, 1)", "InvalidArgumentError", "seq_id"),
    "draft(last_token=10**6)": ("session.draft(0, 3, 10**6)", "InvalidArgumentError", "last_token"),
    "begin(float tokens)": ("session.begin(0, [1.5, 2.0])", "TypeError", "must be an int"),
    "begin(None token)": ("session.begin(0, [1, None])", "TypeError", "must be an int, got NoneType"),
    "begin(out of vocab)": ("session.begin(0, [1, 2, 10**6])", "InvalidArgumentError", "vocabulary"),
    "detokenize([1.5])": ("m.detokenize([1.5])", "TypeError", "must be an int"),
    "detokenize([None])": ("m.detokenize([None])", "TypeError", "must be an int, got NoneType"),
    "detokenize(float array)": ("m.detokenize(np.array([1.0]))", "InvalidArgumentError", "dtype"),
    "detokenize(2**70)": ("m.detokenize([2**70])", "InvalidArgumentError", "2**63"),
    "detokenize(uint64 max)": ("m.detokenize(np.array([2**64 - 1], dtype=np.uint64))", "InvalidArgumentError", "vocabulary"),
    "detokenize(2-D)": ("m.detokenize(np.ones((2, 2), dtype=np.int32))", "InvalidArgumentError", "1-D"),
    "detokenize(text)": ("m.detokenize('abc')", "TypeError", "not text"),
    "token_to_piece(2**31)": ("m.token_to_piece(2**31)", "InvalidArgumentError", "token"),
    "is_eog(-5)": ("m.is_eog(-5)", "InvalidArgumentError", "token"),
    "generate(float prompt)": ("L.generate(m, [1.5, 2.5], max_tokens=2)", "TypeError", "must be an int"),
    "generate(None token)": ("L.generate(m, [1, None], max_tokens=2)", "TypeError", "must be an int, got NoneType"),
    "generate(text and ids)": ("L.generate(m, ['a', [1, 2]], max_tokens=2)", "ArgumentTypeError", "all text or all token"),
    "generate(ids and text)": ("L.generate(m, [[1, 2], 'a'], max_tokens=2)", "ArgumentTypeError", "all text or all token"),
    "generate(text and int)": ("L.generate(m, ['a', 1], max_tokens=2)", "ArgumentTypeError", "all text or all token"),
    "generate(None prompt)": ("L.generate(m, None, max_tokens=2)", "ArgumentTypeError", "prompt"),
    "stream(text and ids)": (
        "list(L.stream(m, ['a', np.array([1, 2])], max_tokens=2))",
        "ArgumentTypeError",
        "all text or all token",
    ),
    "generate(float array)": ("L.generate(m, np.array([1e10]), max_tokens=2)", "InvalidArgumentError", "dtype"),
    "Model(n_gpu_layers=2**40)": ("L.Model(sys.argv[1], n_gpu_layers=2**40)", "InvalidArgumentError", "n_gpu_layers"),
    "Model(NUL in path)": ("L.Model(sys.argv[1] + '\\0junk')", "InvalidArgumentError", "NUL"),
    # Windows file names may hold lone surrogates (its file system encoding passes them through)
    "Model(lone surrogate)": (
        "L.Model('/tmp/\\ud800.gguf')",
        *(("ModelNotFoundError", "not found") if sys.platform == "win32" else ("InvalidArgumentError", "encoded")),
    ),
    "Model(empty path)": ("L.Model('')", "InvalidArgumentError", "empty"),
    "Model(missing Path)": ("L.Model(__import__('pathlib').Path('/nonexistent/m.gguf'))", "ModelNotFoundError", "not found"),
    "Model(42)": ("L.Model(42)", "TypeError", ""),
    "Model(non-UTF-8 bytes path)": ("L.Model(b'/nonexistent/\\xff.gguf')", "ModelNotFoundError", "\ufffd"),
}

SETUP = """
import json
m = L.Model(sys.argv[1])
ctx = L.Context(m, n_ctx=256, n_batch=32, n_threads=1)
ctx2 = L.Context(m, n_ctx=512, n_batch=32, n_seq_max=2, n_threads=1)
rollback = m.is_recurrent or m.is_hybrid
target = L.Context(m, n_ctx=256, n_batch=32, n_ubatch=32, n_rs_seq=3 if rollback else 0, n_threads=1)
draft = L.Context(m, n_ctx=256, n_batch=32, n_ubatch=32, ctx_type=L.ContextType.MTP, n_threads=1)
session = L.MtpSession(target, draft)
session.begin(0, [1, 2, 3])
cases = json.loads(sys.argv[2])
results = {}
for name, statement in cases.items():
    try:
        exec(statement)
        results[name] = ["no error", ""]
    except Exception as e:
        results[name] = [type(e).__name__, str(e)]
print(json.dumps(results))
"""


def test_every_bad_argument_raises_a_typed_error(model_path: Path) -> None:
    out = run_child(SETUP, str(model_path), json.dumps({k: v[0] for k, v in CASES.items()}))
    results = json.loads(out)
    wrong = {name: got for name, got in results.items() if got[0] != CASES[name][1] or CASES[name][2] not in got[1]}
    assert not wrong, f"{len(wrong)} of {len(CASES)} bad arguments raised the wrong error: {wrong}"
    print(f"{len(CASES)} bad arguments, 0 with the wrong error type")


def test_value_errors_are_value_errors() -> None:
    assert issubclass(llama_mtp.InvalidArgumentError, ValueError)
    assert issubclass(llama_mtp.InvalidConfigError, ValueError)


def test_paths_may_be_pathlike_str_or_bytes(model_path: Path) -> None:
    for path in (model_path, str(model_path), bytes(model_path)):
        m = llama_mtp.Model(path)
        assert m.path == str(model_path)
    g = llama_mtp.generate(model_path, "path", max_tokens=2, draft="none")
    assert isinstance(g, llama_mtp.Generation) and len(g.tokens) == 2


def test_integral_numpy_tokens_are_accepted(model: llama_mtp.Model) -> None:
    ids = model.tokenize("numpy ints")
    text = model.detokenize(ids)
    for dtype in (np.int64, np.uint16, np.int32):
        assert model.detokenize(ids.astype(dtype)) == text
    assert model.detokenize([np.int64(t) for t in ids]) == text


def test_set_state_validates_what_it_restores(model: llama_mtp.Model) -> None:
    session = llama_mtp.MtpSession(*mtp_contexts(model))
    loop = Loop(session, model.tokenize("state check"))
    loop.step()
    state = session.get_state(0)
    n_hist = struct.unpack_from("<I", state, 32)[0]
    assert n_hist > 0
    out_of_vocab = state[:36] + struct.pack("<I", 10**6) + state[40:]
    nan_row = state[:-4] + struct.pack("<f", float("nan"))
    for bad, match in ((out_of_vocab, "vocabulary"), (nan_row, "non-finite")):
        with pytest.raises(llama_mtp.MtpStateError, match=match):
            session.set_state(0, bad)
    assert session.get_state(0) == state  # nothing changed

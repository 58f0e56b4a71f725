"""The crafted weights of a tiny model: greedy decoding follows the spec's cycle with decisive
logits, the NextN head agrees with it where the spec says (the recipe is llama_mtp.testing's).

Tensors go to a sink one at a time, as they are made (the GGUF writer spools them to disk): the
three vocabulary-sized matrices of a shaped model (248k x 1024) are built from row chunks of one
random stream, replayed from its saved state for each of them, so at most one of them is held,
in f16 (0.5 GB for the demo's shape, where holding them at once in f64 took 7 GB)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ._tiny_copy_head import copy_head_tensors
from ._tiny_spec import TinyModelSpec

Sink = Callable[[str, np.ndarray], None]
_CHUNK_ELEMENTS = 1 << 22  # f64 elements of a row chunk of the embedding stream (32 MiB)


def attention_dims(n_embd: int) -> tuple[int, int, int]:
    """(heads, kv heads, head dim): 2x1x32 for tiny models, 8x2x128 at n_embd=1024."""
    if n_embd < 256:
        return 2, 1, 32
    heads = max(2, n_embd // 128)
    return heads, max(1, heads // 4), 128


def ssm_dims(n_embd: int) -> tuple[int, int, int]:
    """(state size = head dim, k heads, v heads) of the gated delta-net layers."""
    return (16, 2, 2) if n_embd < 256 else (128, 2, 4)


def _rope_sections(rope_dim: int) -> list[int]:
    r = rope_dim // 2
    return [r - 2 * (r // 3), r // 3, r // 3, 0]


def _rms_rows(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True))
    return out


class _Weights:
    def __init__(self, spec: TinyModelSpec, rng: np.random.Generator, sink: Sink) -> None:
        self.spec = spec
        self.rng = rng
        self.sink = sink

    def normal(self, out: int, inp: int, std: float | None = None) -> np.ndarray:
        std = 1.0 / np.sqrt(inp) if std is None else std
        return (self.rng.standard_normal((out, inp)) * std).astype(np.float16)

    def small(self, out: int, inp: int) -> np.ndarray:
        # residual writes: every layer computes, the hidden state stays close to e_cur
        return self.normal(out, inp, 0.05 / np.sqrt(inp))

    def ones(self, n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    def add(self, name: str, array: np.ndarray) -> None:
        self.sink(name, array)


def _row_chunks(n_rows: int, n_cols: int) -> Iterator[tuple[int, int]]:
    step = max(1, _CHUNK_ELEMENTS // max(n_cols, 1))
    for lo in range(0, n_rows, step):
        yield lo, min(n_rows, lo + step)


class _Embedding:
    """The input embedding (f64 rows: random words, non-words leaning on one direction u) as
    row chunks of one random stream, replayable from the state it started in: chunk by chunk
    the stream and every row's arithmetic are those of the whole matrix at once."""

    def __init__(self, rng: np.random.Generator, u: np.ndarray, n_vocab: int, non_word: np.ndarray) -> None:
        self.state = rng.bit_generator.state
        self.u, self.n_vocab, self.non_word = u, n_vocab, non_word

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        rng = np.random.default_rng()
        rng.bit_generator.state = self.state
        D = self.u.size
        for lo, hi in _row_chunks(self.n_vocab, D):
            rows = _rms_rows(rng.standard_normal((hi - lo, D)))
            lean = self.non_word[lo:hi]
            rows[lean] = _rms_rows(0.9 * self.u + 0.44 * rows[lean])
            yield lo, rows
        self.end_state = rng.bit_generator.state

    def f16(self) -> np.ndarray:
        out = np.empty((self.n_vocab, self.u.size), dtype=np.float16)
        for lo, rows in self.chunks():
            out[lo : lo + len(rows)] = rows
        return out


def build_tensors(spec: TinyModelSpec, sink: Sink) -> dict[str, object]:
    """Hand every tensor of the spec's model to sink(name, array), in file order; the metadata
    the GGUF keys need."""
    rng = np.random.default_rng(spec.seed + 1)
    D, V, FF, L = spec.n_embd, spec.n_vocab, spec.n_ff, spec.n_layer
    w = _Weights(spec, rng, sink)
    words = np.array(spec.words)
    assert words.size > 0
    non_word = np.ones(V, dtype=bool)
    non_word[words] = False

    # embeddings: words random; every non-word token leans on one shared direction u
    u = _rms_rows(rng.standard_normal(D))
    emb = _Embedding(rng, u, V, non_word)
    w.add("token_embd.weight", emb.f16())
    rng.bit_generator.state = emb.end_state  # what follows draws after the whole matrix
    w.add("output_norm.weight", w.ones(D))
    # output layer: row pi(t) is e_t (f32, as it was first held), the start word's leans on u
    predecessor = {nxt: t for t, nxt in spec.cycle.items()}
    out = np.zeros((V, D), dtype=np.float16)
    sources = np.array(sorted(spec.cycle))
    targets = np.array([spec.cycle[t] for t in sources])
    start_row = np.zeros(D, dtype=np.float32)
    for lo, rows in emb.chunks():
        here = (sources >= lo) & (sources < lo + len(rows))
        scaled = (rows[sources[here] - lo] / np.sqrt(D)).astype(np.float32)
        out[targets[here]] = scaled
        if spec.start in predecessor and lo <= predecessor[spec.start] < lo + len(rows):
            start_row = scaled[np.searchsorted(sources[here], predecessor[spec.start])].copy()
    start_row += 1.5 * u / np.sqrt(D)
    out[spec.start] = start_row
    if spec.near_ties:  # the hidden state is ~ e_cur (norm sqrt(D)): word logits ~ N(0, 1)
        for lo, hi in _row_chunks(words.size, D):
            out[words[lo:hi]] = (rng.standard_normal((hi - lo, D)) / np.sqrt(D)).astype(np.float32)
    w.add("output.weight", out)
    del out

    H, HKV, HD = attention_dims(D)
    meta: dict[str, object] = {}
    if spec.kind == "hybrid":
        dk, nk, nv = ssm_dims(D)
        key_dim, value_dim = dk * nk, dk * nv
        conv_dim = 2 * key_dim + value_dim
        recurrent = [i < L - 1 for i in range(L)] + [False]  # last trunk layer: attention
        meta.update(
            rope_dim=HD // 4,
            sections=_rope_sections(HD // 4),
            recurrent=recurrent,
            ssm=dict(conv_kernel=4, state_size=dk, group_count=nk, time_step_rank=nv, inner_size=value_dim),
        )
        for i in range(L + 1):
            p = f"blk.{i}."
            w.add(p + "attn_norm.weight", w.ones(D))
            w.add(p + "post_attention_norm.weight", w.ones(D))
            w.add(p + "ffn_gate.weight", w.normal(FF, D))
            w.add(p + "ffn_up.weight", w.normal(FF, D))
            w.add(p + "ffn_down.weight", w.small(D, FF))
            if recurrent[i]:
                w.add(p + "attn_qkv.weight", w.normal(conv_dim, D))
                w.add(p + "attn_gate.weight", w.normal(value_dim, D))
                w.add(p + "ssm_conv1d.weight", (rng.standard_normal((conv_dim, 4)) * 0.5).astype(np.float32))
                w.add(p + "ssm_dt.bias", np.zeros(nv, dtype=np.float32))
                w.add(p + "ssm_a", -np.ones(nv, dtype=np.float32))
                w.add(p + "ssm_beta.weight", w.normal(nv, D))
                w.add(p + "ssm_alpha.weight", w.normal(nv, D))
                w.add(p + "ssm_norm.weight", w.ones(dk))
                w.add(p + "ssm_out.weight", w.small(D, value_dim))
            else:
                w.add(p + "attn_q.weight", w.normal(2 * H * HD, D))
                w.add(p + "attn_k.weight", w.normal(HKV * HD, D))
                w.add(p + "attn_v.weight", w.normal(HKV * HD, D))
                w.add(p + "attn_output.weight", w.small(D, H * HD))
                w.add(p + "attn_q_norm.weight", w.ones(HD))
                w.add(p + "attn_k_norm.weight", w.ones(HD))
    else:
        E, EU, FX = 4, 2, 32
        meta.update(rope_dim=HD // 2, experts=dict(count=E, used=EU, shared=1, ff=FX))
        for i in range(L + 1):
            p = f"blk.{i}."
            w.add(p + "attn_norm.weight", w.ones(D))
            w.add(p + "post_attention_norm.weight", w.ones(D))
            w.add(p + "attn_q.weight", w.normal(H * HD, D))
            w.add(p + "attn_k.weight", w.normal(HKV * HD, D))
            w.add(p + "attn_v.weight", w.normal(HKV * HD, D))
            w.add(p + "attn_output.weight", w.small(D, H * HD))
            if i < L:
                w.add(p + "ffn_gate.weight", w.normal(FF, D))
                w.add(p + "ffn_up.weight", w.normal(FF, D))
                w.add(p + "ffn_down.weight", w.small(D, FF))
            else:  # the NextN block must be MoE with a shared expert
                w.add(p + "ffn_gate_inp.weight", w.normal(E, D).astype(np.float32))
                w.add(p + "exp_probs_b.bias", np.zeros(E, dtype=np.float32))
                w.add(p + "ffn_gate_exps.weight", (rng.standard_normal((E, FX, D)) / np.sqrt(D)).astype(np.float16))
                w.add(p + "ffn_up_exps.weight", (rng.standard_normal((E, FX, D)) / np.sqrt(D)).astype(np.float16))
                w.add(p + "ffn_down_exps.weight", (rng.standard_normal((E, D, FX)) * 0.05 / np.sqrt(FX)).astype(np.float16))
                w.add(p + "ffn_gate_shexp.weight", w.normal(FX, D))
                w.add(p + "ffn_up_shexp.weight", w.normal(FX, D))
                w.add(p + "ffn_down_shexp.weight", w.small(D, FX))

    # NextN block: eh_proj = [I | 0] reads only the (normalised) token embedding
    p = f"blk.{L}.nextn."
    eh = np.zeros((D, 2 * D), dtype=np.float16)
    eh[:, :D] = np.eye(D, dtype=np.float16)
    w.add(p + "eh_proj.weight", eh)
    w.add(p + "enorm.weight", w.ones(D))
    w.add(p + "hnorm.weight", w.ones(D))
    w.add(p + "shared_head_norm.weight", w.ones(D))
    # the NextN head's embedding: the input one, but after the wrong words it predicts
    # pi(pi(t)), and (acceptance < 0.5) after a non-word pi(start) instead of start
    nextn = emb.f16()
    start_embedding = nextn[spec.start].copy()
    wrong = np.array(sorted(spec.wrong), dtype=np.int64)
    if wrong.size:
        nextn[wrong] = nextn[[spec.cycle[int(t)] for t in wrong]]  # the sources are read first: a copy
    if spec.acceptance < 0.5:
        nextn[non_word] = start_embedding
    w.add(p + "embed_tokens.weight", nextn)
    if spec.mtp_head == "copy":
        rope_dim = HD // 4 if spec.kind == "hybrid" else HD // 2  # as meta["rope_dim"]
        copy = copy_head_tensors(
            n_embd=D, heads=H, kv_heads=HKV, head_dim=HD, rope_dim=rope_dim, gated_query=spec.kind == "hybrid", rng=rng
        )
        for name, array in copy.items():
            w.add(f"blk.{L}.{name}", array)
    return meta

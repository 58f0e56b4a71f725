"""GGUF mutation fuzzing, the seeded mutator (private).

Used by tests/test_gguf_fuzz.py (a fixed corpus in CI) and scripts/fuzz_gguf.py (more seeds on
demand). Each case is (kind, seed): the mutated bytes are derived from the tiny model of that
kind, so a case is reproduced from its seed alone. _fuzz_runner.py runs the cases.
"""

from __future__ import annotations

import json
import math
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._gguf_edit import (
    ARR,
    BOOL,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    KV,
    STR,
    U8,
    U16,
    U32,
    U64,
    Gguf,
    TensorInfo,
    _Reader,
    parse,
    serialize,
)

KINDS = ("dense", "hybrid")

# --- mutations ------------------------------------------------------------------------------

_INTERESTING_U32 = [
    0,
    1,
    2,
    3,
    7,
    31,
    32,
    33,
    63,
    64,
    255,
    256,
    511,
    512,
    513,
    1023,
    1024,
    1025,
    4096,
    65535,
    65536,
    2**31 - 1,
    2**31,
    2**32 - 1,
]
_INTERESTING_F32 = [0.0, -0.0, -1.0, 1e-30, 1e30, 1.0, math.nan, math.inf, -math.inf, 3.4e38]
_HPARAM_SUFFIXES = [
    "block_count",
    "nextn_predict_layers",
    "expert_count",
    "expert_used_count",
    "expert_shared_count",
    "expert_feed_forward_length",
    "leading_dense_block_count",
    "expert_gating_func",
    "context_length",
    "embedding_length",
    "feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "attention.layer_norm_rms_epsilon",
    "rope.dimension_count",
    "rope.freq_base",
    "rope.dimension_sections",
    "ssm.conv_kernel",
    "ssm.state_size",
    "ssm.group_count",
    "ssm.time_step_rank",
    "ssm.inner_size",
    "full_attention_interval",
    "attention.recurrent_layers",
    "expert_weights_scale",
    "expert_group_count",
    "expert_group_used_count",
    "attention.layer_norm_epsilon",
]
_TOKENIZER_KEYS = [
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unk_token_id",
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.seperator_token_id",
]


def _hparam_value(rng: random.Random, g: Gguf, key: str) -> tuple[int, Any]:
    kv = g.get(key)
    if (kv is not None and kv.type == F32) or key.endswith(("epsilon", "freq_base", "scale")):
        return F32, rng.choice(_INTERESTING_F32)
    if kv is not None and kv.type == ARR and rng.random() < 0.6:
        et, items = kv.value
        items = list(items)
        op = rng.randrange(3)
        if op == 0 and items:
            items[rng.randrange(len(items))] = rng.choice(_INTERESTING_U32) if et != BOOL else rng.random() < 0.5
        elif op == 1:
            items = items[: rng.randrange(len(items) + 1)]
        else:
            items = items + items[: rng.randrange(1, 4)]
        return ARR, (et, items)
    if rng.random() < 0.15:  # a per-layer array where a scalar is expected (or vice versa)
        n = rng.choice([1, 2, 3, 4, 600])
        return ARR, (U32, [rng.choice(_INTERESTING_U32[:20]) for _ in range(n)])
    return U32, rng.choice(_INTERESTING_U32)


def _mutate_hparams(rng: random.Random, g: Gguf) -> str:
    done = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        key = f"{g.arch}.{rng.choice(_HPARAM_SUFFIXES)}"
        if rng.random() < 0.1:
            g.drop(key)
            done.append(f"drop {key}")
            continue
        t, v = _hparam_value(rng, g, key)
        g.set(key, t, v)
        done.append(f"{key}={v if t != ARR else 'array'}")
    return "hparam " + ", ".join(done)


def _mutate_tokenizer(rng: random.Random, g: Gguf) -> str:
    tokens = g.get("tokenizer.ggml.tokens")
    assert tokens is not None
    et, items = tokens.value
    items = list(items)
    op = rng.randrange(9)
    if op == 0:  # a duplicate vocabulary string
        i, j = rng.sample(range(len(items)), 2)
        items[j] = items[i]
        tokens.value = (et, items)
        return "duplicate token"
    if op == 1:
        tokens.value = (et, items[: rng.choice([0, 0, 1, 2, 3, 100])])
        return "truncate token list"
    if op == 2:
        key = rng.choice(["tokenizer.ggml.scores", "tokenizer.ggml.token_type"])
        kv = g.get(key)
        assert kv is not None
        et2, vals = kv.value
        kv.value = (et2, list(vals)[: rng.randrange(len(vals))])
        return f"short {key}"
    if op == 3:
        key = rng.choice(_TOKENIZER_KEYS)
        type_ = rng.choice([U32, U32, I32, STR])
        g.set(
            key,
            type_,
            {U32: rng.choice([0, 1, 2, 1023, 1024, 65535, 2**31 - 1]), I32: rng.choice([-1, -2, 5, 2**31 - 1]), STR: "x"}[type_],
        )
        return f"special token {key}"
    if op == 4:
        g.set(
            "tokenizer.ggml.model",
            STR,
            rng.choice(["none", "no_vocab", "gpt2", "bert", "t5", "rwkv", "plamo2", "gemma4", "test", "", "unknown-model"]),
        )
        return "tokenizer model"
    if op == 5:
        kv = g.get("tokenizer.ggml.token_type")
        assert kv is not None
        et2, vals = kv.value
        vals = list(vals)
        for _ in range(rng.randrange(1, 20)):
            vals[rng.randrange(len(vals))] = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, -1, 2**31 - 1])
        kv.value = (et2, vals)
        return "token types"
    if op == 6:
        for _ in range(rng.randrange(1, 10)):
            i = rng.randrange(len(items))
            items[i] = rng.choice(["", " ", "\n", "<0x0A>", "<0xZZ>", "<0x", "\u2581", "\udcffx", "a" * 300, items[i] + "\u2581"])
        tokens.value = (et, items)
        return "token strings"
    if op == 7:
        g.drop(
            rng.choice(
                [
                    "tokenizer.ggml.tokens",
                    "tokenizer.ggml.scores",
                    "tokenizer.ggml.token_type",
                    "tokenizer.ggml.model",
                    "general.architecture",
                ]
            )
        )
        return "drop tokenizer key"
    g.set(
        rng.choice(["tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_space_prefix", "tokenizer.ggml.add_eos_token"]),
        rng.choice([BOOL, U32, STR]),
        0,
    )
    return "tokenizer flag type"


def _mutate_types(rng: random.Random, g: Gguf) -> str:
    kv = rng.choice(g.kvs)
    new = rng.choice([U8, I8, U16, I16, U32, I32, F32, BOOL, STR, U64, I64, F64, ARR])
    if new == STR:
        kv.type, kv.value = STR, rng.choice(["", "1", "qwen35", "glm4moe", "llama"])
    elif new == ARR:
        kv.type, kv.value = ARR, (rng.choice([U32, I32, F32, STR, BOOL]), [])
        et = kv.value[0]
        kv.value = (et, [("x" if et == STR else 1) for _ in range(rng.choice([0, 1, 4, 513]))])
    else:
        kv.type = new
        kv.value = {F32: 1.0, F64: 1.0, BOOL: True}.get(new, rng.choice([0, 1, 4]))
    return f"retype {kv.key} -> {new}"


def _mutate_tensors(rng: random.Random, g: Gguf) -> str:
    t = rng.choice(g.tensors)
    op = rng.randrange(6)
    if op == 0:
        i = rng.randrange(len(t.dims))
        t.dims[i] = rng.choice([0, 1, 2, t.dims[i] * 2, t.dims[i] + 1, 2**31, 2**62, 2**64 - 1])
        return f"tensor dim {t.name}"
    if op == 1:
        t.type = rng.choice([0, 1, 2, 8, 12, 30, 39, 40, 41, 1000, 2**32 - 1])
        return f"tensor type {t.name}"
    if op == 2:
        t.offset = rng.choice([0, 1, 32, t.offset + 32, len(g.data), 2**40, 2**64 - 32])
        return f"tensor offset {t.name}"
    if op == 3:
        t.dims = t.dims + [1] if rng.random() < 0.5 else t.dims[:-1] or [1]
        return f"tensor n_dims {t.name}"
    if op == 4:
        other = rng.choice(g.tensors)
        t.name = other.name if rng.random() < 0.5 else t.name + ".x"
        return f"tensor name {t.name}"
    g.tensors.remove(t)
    return f"drop tensor {t.name}"


@dataclass(frozen=True)
class _Layout:
    """Where the header counts and the kv/tensor records start, for byte-level mutations."""

    kv_starts: list[int]
    tensor_starts: list[int]
    data_start: int


def _layout(buf: bytes) -> _Layout:
    r = _Reader(buf)
    r.pos = 8
    n_tensors = int(r.take("<Q"))
    n_kv = int(r.take("<Q"))
    kv_starts, tensor_starts = [], []
    for _ in range(n_kv):
        kv_starts.append(r.pos)
        r.string()
        r.value(int(r.take("<I")))
    for _ in range(n_tensors):
        tensor_starts.append(r.pos)
        r.string()
        nd = int(r.take("<I"))
        r.pos += 8 * nd + 12
    return _Layout(kv_starts, tensor_starts, r.pos)


def _mutate_bytes(rng: random.Random, buf: bytes) -> tuple[bytes, str]:
    b = bytearray(buf)
    lay = _layout(buf)
    op = rng.randrange(7)
    if op == 6:  # weights: NaN, infinities and huge values (f16 and f32 bit patterns) in the data
        data_start = lay.data_start + (-lay.data_start) % 32
        for _ in range(rng.choice([1, 16, 256, 4096])):
            pos = rng.randrange(data_start, len(b) - 4) & ~1
            b[pos : pos + 2] = rng.choice([b"\xff\x7f", b"\x00\x7c", b"\x00\xfc", b"\xff\x7b", b"\x00\x00"])
        return bytes(b), "weights"
    if op == 0:
        cut = rng.choice([rng.randrange(len(b)), rng.randrange(lay.data_start + 1), lay.data_start, rng.randrange(24)])
        return bytes(b[:cut]), f"truncate at {cut}"
    if op == 1:
        hi = lay.data_start if rng.random() < 0.8 else len(b)
        for _ in range(rng.choice([1, 1, 2, 4, 16])):
            b[rng.randrange(hi)] ^= 1 << rng.randrange(8)
        return bytes(b), "bit flips"
    if op == 2:
        off = rng.choice([4, 8, 16])  # version, n_tensors, n_kv
        fmt = "<I" if off == 4 else "<Q"
        cur = struct.unpack_from(fmt, b, off)[0]
        struct.pack_into(
            fmt,
            b,
            off,
            rng.choice(
                [0, 1, 2, 3, 4, cur - 1, cur + 1, 2**31, 2**32 - 1]
                if fmt == "<I"
                else [0, cur - 1, cur + 1, 2**40, 2**63, 2**64 - 1]
            ),
        )
        return bytes(b), f"header field at {off}"
    if op == 3:  # a string or array length field: key length or, for arrays, the element count
        start = rng.choice(lay.kv_starts)
        klen = struct.unpack_from("<Q", b, start)[0]
        tpos = start + 8 + klen
        if struct.unpack_from("<I", b, tpos)[0] in (ARR, STR) and rng.random() < 0.7:
            pos = tpos + 4 + (4 if struct.unpack_from("<I", b, tpos)[0] == ARR else 0)
        else:
            pos = start
        cur = struct.unpack_from("<Q", b, pos)[0]
        struct.pack_into("<Q", b, pos, rng.choice([0, cur + 1, max(cur - 1, 0), cur * 2, 2**32, 2**63, 2**64 - 1]))
        return bytes(b), f"length field at {pos}"
    if op == 4:  # a value type field
        start = rng.choice(lay.kv_starts)
        tpos = start + 8 + struct.unpack_from("<Q", b, start)[0]
        struct.pack_into("<I", b, tpos, rng.choice([*range(14), 255, 2**32 - 1]))
        return bytes(b), f"type field at {tpos}"
    start = rng.choice(lay.tensor_starts)  # tensor n_dims, raw
    pos = start + 8 + struct.unpack_from("<Q", b, start)[0]
    struct.pack_into("<I", b, pos, rng.choice([0, 1, 2, 3, 4, 5, 64, 2**32 - 1]))
    return bytes(b), f"tensor n_dims field at {pos}"


_parsed: dict[bytes, Gguf] = {}


def _copy(g: Gguf) -> Gguf:
    # mutations replace values, never edit them in place: copying the records is enough
    return Gguf(
        g.version,
        [KV(kv.key, kv.type, kv.value) for kv in g.kvs],
        [TensorInfo(t.name, list(t.dims), t.type, t.offset) for t in g.tensors],
        g.data,
        g.alignment,
    )


def mutate(base: bytes, seed: int) -> tuple[bytes, str]:
    """One deterministic mutation of the GGUF `base`: (mutated bytes, what was done)."""
    rng = random.Random(seed)
    strategy = rng.choices(["hparams", "tokenizer", "types", "tensors", "bytes"], weights=[35, 20, 10, 15, 20])[0]
    if strategy == "bytes":
        return _mutate_bytes(rng, base)
    if base not in _parsed:
        _parsed[base] = parse(base)
    g = _copy(_parsed[base])
    what = {"hparams": _mutate_hparams, "tokenizer": _mutate_tokenizer, "types": _mutate_types, "tensors": _mutate_tensors}[
        strategy
    ](rng, g)
    if rng.random() < 0.15:  # stack a second structured mutation
        what += "; " + _mutate_hparams(rng, g)
    return serialize(g), what


def base_model(kind: str, cache_dir: Path) -> bytes:
    from llama_mtp.testing import tiny_mtp_model

    return tiny_mtp_model(cache_dir / f"fuzz-base-{kind}.gguf", kind=kind).read_bytes()  # type: ignore[arg-type]


def corpus(n: int, first_seed: int = 0) -> Iterator[tuple[str, int]]:
    """n cases alternating the two tiny model kinds."""
    for i in range(n):
        yield KINDS[i % 2], first_seed + i


def write_case(kind: str, seed: int, cache_dir: Path, out_dir: Path) -> Path:
    data, what = mutate(base_model(kind, cache_dir), seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{kind}-{seed}.gguf"
    path.write_bytes(data)
    (out_dir / f"{kind}-{seed}.json").write_text(json.dumps({"kind": kind, "seed": seed, "mutation": what}))
    return path

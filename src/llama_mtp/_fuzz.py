"""GGUF mutation fuzzing: a seeded mutator and a crash-isolating runner (private).

Used by tests/test_gguf_fuzz.py (a fixed corpus in CI) and scripts/fuzz_gguf.py (more seeds on
demand). Each case is (kind, seed): the mutated bytes are derived from the tiny model of that
kind, so a case is reproduced from its seed alone. Files are loaded in worker subprocesses that
report each case before and after it runs, so a crash or a hang kills one worker, not the run.
"""

from __future__ import annotations

import json
import math
import os
import random
import select
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# gguf value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
           U64: "<Q", I64: "<q", F64: "<d"}

KINDS = ("dense", "hybrid")


# --- a byte-exact GGUF model: parse, edit, serialize --------------------------------------


@dataclass
class KV:
    key: str
    type: int
    value: Any  # scalar, str, or (element type, list) for arrays


@dataclass
class TensorInfo:
    name: str
    dims: list[int]
    type: int
    offset: int


@dataclass
class Gguf:
    version: int
    kvs: list[KV]
    tensors: list[TensorInfo]
    data: bytes  # the tensor data section, after the alignment padding
    alignment: int = 32

    def get(self, key: str) -> KV | None:
        return next((kv for kv in self.kvs if kv.key == key), None)

    def set(self, key: str, type_: int, value: Any) -> None:
        kv = self.get(key)
        if kv is None:
            self.kvs.append(KV(key, type_, value))
        else:
            kv.type, kv.value = type_, value

    def drop(self, key: str) -> None:
        self.kvs = [kv for kv in self.kvs if kv.key != key]

    @property
    def arch(self) -> str:
        kv = self.get("general.architecture")
        return str(kv.value) if kv else ""


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> Any:
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self) -> str:
        n = int(self.take("<Q"))
        s = self.buf[self.pos : self.pos + n].decode("utf-8", "surrogateescape")
        self.pos += n
        return s

    def value(self, type_: int) -> Any:
        if type_ == STR:
            return self.string()
        if type_ == ARR:
            et = int(self.take("<I"))
            n = int(self.take("<Q"))
            return (et, [self.value(et) for _ in range(n)])
        return self.take(_SCALAR[type_])


def parse(buf: bytes) -> Gguf:
    r = _Reader(buf)
    if buf[:4] != b"GGUF":
        raise ValueError("not a GGUF file")
    r.pos = 4
    version = int(r.take("<I"))
    n_tensors = int(r.take("<Q"))
    n_kv = int(r.take("<Q"))
    kvs = []
    for _ in range(n_kv):
        key = r.string()
        t = int(r.take("<I"))
        kvs.append(KV(key, t, r.value(t)))
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        nd = int(r.take("<I"))
        dims = [int(r.take("<Q")) for _ in range(nd)]
        tensors.append(TensorInfo(name, dims, int(r.take("<I")), int(r.take("<Q"))))
    g = Gguf(version, kvs, tensors, b"")
    al = g.get("general.alignment")
    g.alignment = int(al.value) if al and al.type == U32 else 32
    start = (r.pos + g.alignment - 1) // g.alignment * g.alignment
    g.data = buf[start:]
    return g


def _pack_string(s: str) -> bytes:
    b = s.encode("utf-8", "surrogateescape")
    return struct.pack("<Q", len(b)) + b


def _pack_value(type_: int, value: Any) -> bytes:
    if type_ == STR:
        return _pack_string(str(value))
    if type_ == ARR:
        et, items = value
        head = struct.pack("<IQ", et, len(items))
        if et in _SCALAR and et != BOOL:
            try:  # fast path: a homogeneous numeric array
                return head + struct.pack(f"<{len(items)}{_SCALAR[et][1]}", *items)
            except struct.error:
                pass
        return head + b"".join(_pack_value(et, v) for v in items)
    fmt = _SCALAR[type_]
    if fmt in ("<f", "<d"):
        return struct.pack(fmt, float(value) if isinstance(value, (int, float)) else 0.0)
    if fmt == "<?":
        return struct.pack(fmt, bool(value))
    # mutations reuse values across types: wrap them into the field's width
    n = int(value) if isinstance(value, (int, float)) and math.isfinite(value) else 0
    bits = 8 * struct.calcsize(fmt)
    n &= (1 << bits) - 1
    if fmt[1].islower() and n >= 1 << (bits - 1):
        n -= 1 << bits
    return struct.pack(fmt, n)


def serialize(g: Gguf) -> bytes:
    out = [b"GGUF", struct.pack("<IQQ", g.version, len(g.tensors), len(g.kvs))]
    for kv in g.kvs:
        out += [_pack_string(kv.key), struct.pack("<I", kv.type), _pack_value(kv.type, kv.value)]
    for t in g.tensors:
        out += [_pack_string(t.name), struct.pack("<I", len(t.dims)),
                b"".join(struct.pack("<Q", d) for d in t.dims), struct.pack("<IQ", t.type, t.offset)]
    head = b"".join(out)
    pad = (-len(head)) % g.alignment
    return head + b"\0" * pad + g.data


def rewrite(src: str | os.PathLike[str], dst: str | os.PathLike[str], edit: Callable[[Gguf], None]) -> Path:
    """Copy a GGUF file with `edit` applied to its parsed form (tests mutate one key this way)."""
    g = parse(Path(src).read_bytes())
    edit(g)
    Path(dst).write_bytes(serialize(g))
    return Path(dst)


# --- mutations ------------------------------------------------------------------------------

_INTERESTING_U32 = [0, 1, 2, 3, 7, 31, 32, 33, 63, 64, 255, 256, 511, 512, 513, 1023, 1024, 1025,
                    4096, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1]
_INTERESTING_F32 = [0.0, -0.0, -1.0, 1e-30, 1e30, 1.0, math.nan, math.inf, -math.inf, 3.4e38]
_HPARAM_SUFFIXES = [
    "block_count", "nextn_predict_layers", "expert_count", "expert_used_count", "expert_shared_count",
    "expert_feed_forward_length", "leading_dense_block_count", "expert_gating_func", "context_length",
    "embedding_length", "feed_forward_length", "attention.head_count", "attention.head_count_kv",
    "attention.key_length", "attention.value_length", "attention.layer_norm_rms_epsilon",
    "rope.dimension_count", "rope.freq_base", "rope.dimension_sections", "ssm.conv_kernel",
    "ssm.state_size", "ssm.group_count", "ssm.time_step_rank", "ssm.inner_size",
    "full_attention_interval", "attention.recurrent_layers", "expert_weights_scale",
    "expert_group_count", "expert_group_used_count", "attention.layer_norm_epsilon",
]
_TOKENIZER_KEYS = ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unk_token_id",
                   "tokenizer.ggml.eot_token_id", "tokenizer.ggml.padding_token_id",
                   "tokenizer.ggml.seperator_token_id"]


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
        g.set(key, type_, {U32: rng.choice([0, 1, 2, 1023, 1024, 65535, 2**31 - 1]),
                           I32: rng.choice([-1, -2, 5, 2**31 - 1]), STR: "x"}[type_])
        return f"special token {key}"
    if op == 4:
        g.set("tokenizer.ggml.model", STR, rng.choice(["none", "no_vocab", "gpt2", "bert", "t5", "rwkv", "plamo2",
                                                      "gemma4", "test", "", "unknown-model"]))
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
            items[i] = rng.choice(["", " ", "\n", "<0x0A>", "<0xZZ>", "<0x", "\u2581", "\udcffx", "a" * 300,
                                   items[i] + "\u2581"])
        tokens.value = (et, items)
        return "token strings"
    if op == 7:
        g.drop(rng.choice(["tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                           "tokenizer.ggml.model", "general.architecture"]))
        return "drop tokenizer key"
    g.set(rng.choice(["tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_space_prefix", "tokenizer.ggml.add_eos_token"]),
          rng.choice([BOOL, U32, STR]), 0)
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
        cut = rng.choice([rng.randrange(len(b)), rng.randrange(lay.data_start + 1), lay.data_start,
                          rng.randrange(24)])
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
        struct.pack_into(fmt, b, off, rng.choice([0, 1, 2, 3, 4, cur - 1, cur + 1, 2**31, 2**32 - 1]
                                                if fmt == "<I" else [0, cur - 1, cur + 1, 2**40, 2**63, 2**64 - 1]))
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
    return Gguf(g.version, [KV(kv.key, kv.type, kv.value) for kv in g.kvs],
                [TensorInfo(t.name, list(t.dims), t.type, t.offset) for t in g.tensors], g.data, g.alignment)


def mutate(base: bytes, seed: int) -> tuple[bytes, str]:
    """One deterministic mutation of the GGUF `base`: (mutated bytes, what was done)."""
    rng = random.Random(seed)
    strategy = rng.choices(["hparams", "tokenizer", "types", "tensors", "bytes"], weights=[35, 20, 10, 15, 20])[0]
    if strategy == "bytes":
        return _mutate_bytes(rng, base)
    if base not in _parsed:
        _parsed[base] = parse(base)
    g = _copy(_parsed[base])
    what = {"hparams": _mutate_hparams, "tokenizer": _mutate_tokenizer, "types": _mutate_types,
            "tensors": _mutate_tensors}[strategy](rng, g)
    if rng.random() < 0.15:  # stack a second structured mutation
        what += "; " + _mutate_hparams(rng, g)
    return serialize(g), what


# --- running cases ------------------------------------------------------------------------------


def base_model(kind: str, cache_dir: Path) -> bytes:
    from llama_mtp.testing import tiny_mtp_model

    return tiny_mtp_model(cache_dir / f"fuzz-base-{kind}.gguf", kind=kind).read_bytes()  # type: ignore[arg-type]


def exercise(path: str) -> str:
    """Load a file every way the fuzzer checks; 'ok' or the typed error's class name.

    Anything other than a llama_mtp.LlamaError propagates: that is a finding."""
    import llama_mtp

    try:
        with llama_mtp.Model(path, vocab_only=True) as vocab:
            vocab.tokenize("Hello world, 123!")
        with llama_mtp.Model(path) as model:
            gen = llama_mtp.generate(model, "Hi there", max_tokens=4, mtp=model.has_mtp, n_threads=1)
            assert isinstance(gen, llama_mtp.Generation)
    except llama_mtp.LlamaError as e:
        return type(e).__name__
    return "ok"


# ggml's abort handler may run gdb, which writes to the same stdout: protocol lines carry a mark
_MARK = "@@gguf-fuzz "


def _worker(cache_dir: str) -> None:
    """Reads 'kind seed' lines; prints 'begin i' before and 'end i outcome' after each case."""
    import llama_mtp

    llama_mtp.set_log_level("none")
    bases = {k: base_model(k, Path(cache_dir)) for k in KINDS}
    fd, tmp = tempfile.mkstemp(suffix=".gguf", dir=cache_dir)
    os.close(fd)
    try:
        for line in sys.stdin:
            kind, seed = line.split()
            data, _ = mutate(bases[kind], int(seed))
            Path(tmp).write_bytes(data)
            print(f"{_MARK}begin {kind} {seed}", flush=True)
            try:
                outcome = exercise(tmp)
            except Exception as e:  # noqa: BLE001 - reported, the parent counts it as wrong-type
                outcome = f"WRONG_TYPE {type(e).__name__}: {str(e)[:200]!r}"
            print(f"{_MARK}end {kind} {seed} {outcome}", flush=True)
    finally:
        os.unlink(tmp)


@dataclass
class Report:
    tried: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    crashes: list[tuple[str, int, str]] = field(default_factory=list)
    hangs: list[tuple[str, int]] = field(default_factory=list)
    wrong_type: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return self.outcomes.get("ok", 0)

    @property
    def typed_errors(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k != "ok")

    def summary(self) -> str:
        return (f"tried {self.tried}: {self.successes} loaded and generated, {self.typed_errors} typed errors "
                f"{dict(sorted(self.outcomes.items()))}, {len(self.crashes)} crashes, {len(self.hangs)} hangs, "
                f"{len(self.wrong_type)} wrong-type exceptions")


class _Worker:
    def __init__(self, cache_dir: Path) -> None:
        # stderr to a file: a pipe nobody reads would fill up with upstream's messages and block
        self.stderr = tempfile.TemporaryFile(dir=cache_dir)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from llama_mtp._fuzz import _worker; _worker({str(cache_dir)!r})"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, bufsize=1,
            env={**os.environ, "OMP_NUM_THREADS": "1", "GGML_NO_BACKTRACE": "1"})
        self.buf = ""
        self.eof = False  # stdout closed: the worker exited (or crashed)

    def readline(self, deadline: float) -> str | None:
        """The next protocol line (without its mark), or None at EOF or past the deadline."""
        while True:
            line = self._rawline(deadline)
            if line is None or line.startswith(_MARK):
                return None if line is None else line[len(_MARK):]

    def _rawline(self, deadline: float) -> str | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while "\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536).decode(errors="replace")
            if not chunk:
                self.eof = True
                return None
            self.buf += chunk
        line, self.buf = self.buf.split("\n", 1)
        return line

    def stop(self) -> str:
        """Ends the worker; returns the tail of its stderr."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.stderr.seek(0)
        err = self.stderr.read()[-400:].decode(errors="replace")
        self.stderr.close()
        return err


def run_cases(cases: Sequence[tuple[str, int]], cache_dir: Path, *, jobs: int = 2, timeout_s: float = 20.0,
              on_finding: Callable[[str, str, int, str], None] | None = None) -> Report:
    """Run every (kind, seed) case in `jobs` worker processes; a crash or hang restarts one worker."""
    for k in KINDS:
        base_model(k, cache_dir)  # written once, before the workers race for it
    report = Report()
    shards = [list(cases[i::jobs]) for i in range(jobs)]
    lock = threading.Lock()
    failures: list[BaseException] = []

    def run_shard(shard: list[tuple[str, int]]) -> None:
        try:
            _run_shard(shard)
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            failures.append(e)

    def _run_shard(shard: list[tuple[str, int]]) -> None:
        todo = list(shard)
        w: _Worker | None = None
        while todo:
            kind, seed = todo.pop(0)
            if w is None:
                w = _Worker(cache_dir)
            assert w.proc.stdin is not None
            w.proc.stdin.write(f"{kind} {seed}\n")
            w.proc.stdin.flush()
            line = w.readline(time.monotonic() + 120.0)  # may include the worker's start
            if line is None or not line.startswith("begin"):
                raise RuntimeError(f"fuzz worker failed before case {kind} {seed}: {line!r} {w.stop()}")
            line = w.readline(time.monotonic() + timeout_s)
            detail = line or ""
            with lock:
                report.tried += 1
                if line is None:
                    crashed = w.eof
                    err = w.stop()
                    if crashed:
                        finding, detail = "crash", f"exit {w.proc.returncode}: {err}"
                        report.crashes.append((kind, seed, detail))
                    else:
                        finding, detail = "hang", f"no answer in {timeout_s} s"
                        report.hangs.append((kind, seed))
                    w = None  # gone: a new worker takes the rest
                else:
                    outcome = line.split(" ", 3)[3]
                    finding = ""
                    if outcome.startswith("WRONG_TYPE"):
                        report.wrong_type.append((kind, seed, outcome))
                        finding = "wrong-type"
                    name = outcome.split()[0]
                    report.outcomes[name] = report.outcomes.get(name, 0) + 1
            if finding and on_finding:
                on_finding(finding, kind, seed, detail)
        if w is not None:
            assert w.proc.stdin is not None
            w.proc.stdin.close()
            w.stop()

    threads = [threading.Thread(target=run_shard, args=(s,)) for s in shards if s]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return report


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

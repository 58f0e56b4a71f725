"""A byte-exact GGUF reader/writer for the fuzzer (private): parse a file, edit keys, values and
tensor infos, serialize it back, including the invalid files the `gguf` package refuses to write."""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# gguf value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}


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
        out += [
            _pack_string(t.name),
            struct.pack("<I", len(t.dims)),
            b"".join(struct.pack("<Q", d) for d in t.dims),
            struct.pack("<IQ", t.type, t.offset),
        ]
    head = b"".join(out)
    pad = (-len(head)) % g.alignment
    return head + b"\0" * pad + g.data


def rewrite(src: str | os.PathLike[str], dst: str | os.PathLike[str], edit: Callable[[Gguf], None]) -> Path:
    """Copy a GGUF file with `edit` applied to its parsed form (tests mutate one key this way)."""
    g = parse(Path(src).read_bytes())
    edit(g)
    Path(dst).write_bytes(serialize(g))
    return Path(dst)

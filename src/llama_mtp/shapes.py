"""Synthesized MTP models with the proportions of real ones, quantized, for benchmarks and the demo.

The tiny models of `llama_mtp.testing` (vocabulary 4096, hidden size 1024, 8 layers) are one
cost shape only: their output layer is small, so a verify row costs what the body costs. Real
MTP models pay a 150–250k-word output layer per row, and their body and output layer are
quantized. A `ModelShape` gives a synthesized model such proportions (crafted weights as in
`llama_mtp.testing`, so greedy text is known and the MTP head's acceptance is dialed), written
in f16 and quantized with llama.cpp's own quantizer (`llama_mtp.quantize`), then cached.

Benchmarks and the demo build them (the first time takes about a minute; tensors are streamed to
disk and quantized in slabs, so the peak memory stays under 1 GiB for the demo's shape); the
tests keep their tiny models.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .testing import Kind, default_cache_dir, tiny_model_spec, tiny_mtp_model

__all__ = ["DECAYING_PROFILE", "SHAPES", "ModelShape", "shaped_mtp_model"]

# conditional acceptance per draft position falling with depth, as real MTP heads measure
DECAYING_PROFILE: tuple[float, ...] = (0.8, 0.65, 0.5, 0.4, 0.35, 0.3)


@dataclass(frozen=True)
class ModelShape:
    """The proportions of a model: architecture kind, vocabulary, hidden size, layers, FFN width."""

    kind: Kind
    n_vocab: int
    n_embd: int
    n_layer: int
    n_ff: int
    like: str  # the real models it is shaped after

    @property
    def n_params(self) -> int:
        """Parameters written, approximately: three vocabulary matrices (input embedding, output
        layer, the NextN block's embedding) and the blocks' projections."""
        d, ff = self.n_embd, self.n_ff
        heads = max(2, d // 128)
        attention = d * 128 * (2 * heads + 2 * max(1, heads // 4))
        return 3 * self.n_vocab * d + (self.n_layer + 1) * (3 * d * ff + attention)


SHAPES: dict[str, ModelShape] = {
    # output-layer heavy: a 248k vocabulary against a hidden size of 1024 (Qwen3.5-0.8B's)
    "qwen35-0.8b": ModelShape("hybrid", 248_320, 1024, 24, 3584, "Qwen3.5/3.6 0.8B (gated delta-net + attention)"),
    # body heavy: hidden size 2048 and a 151k vocabulary (GLM's), dense attention trunk
    "glm-1.5b": ModelShape("dense", 151_552, 2048, 16, 4096, "GLM-4.5/5-style NextN, small dense trunk"),
}

QUANT_TYPES = ("F16", "Q8_0", "Q4_K_M")


def _log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _record_path(model: Path) -> Path:
    return model.with_name(model.name + ".json")


def _is_whole(model: Path) -> bool:
    """Whether a cached model is the file this module wrote: the size recorded beside it when it
    was written, and a header the loader's preflight reads (a truncated, emptied or foreign file
    is written again, not handed to every later benchmark)."""
    from ._core import LlamaError, inspect_gguf

    try:
        recorded = json.loads(_record_path(model).read_text()).get("size")
        if not model.is_file() or model.stat().st_size != recorded:
            return False
        inspect_gguf(model)
    except (OSError, ValueError, AttributeError, LlamaError):
        return False
    return True


def shaped_mtp_model(
    shape: str | ModelShape = "qwen35-0.8b",
    *,
    quant: str = "Q4_K_M",
    acceptance: float = 0.9,
    acceptance_profiles: Sequence[Sequence[float]] = (),
    region_tokens: int = 0,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    n_threads: int = 0,
    keep_f16: bool = False,
    log: Callable[[str], None] | None = _log,
) -> Path:
    """Write (or reuse) a model of `shape` (a name in SHAPES, or a ModelShape) quantized to
    `quant` (F16, Q8_0, Q4_K_M) and return its path, cached under cache_dir (default:
    default_cache_dir()). acceptance / acceptance_profiles / region_tokens: the MTP head's
    acceptance, as for `llama_mtp.testing.tiny_mtp_model`. keep_f16: cache the f16 file too (other
    quantizations of the same model then start from it). log: progress lines (None: quiet).
    """
    from ._core import quantize

    if isinstance(shape, str) and shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: one of {', '.join(SHAPES)}, or a ModelShape")
    s = SHAPES[shape] if isinstance(shape, str) else shape
    if quant not in QUANT_TYPES:
        raise ValueError(f"quant must be one of {', '.join(QUANT_TYPES)}, not {quant!r}")
    model_args = dict(
        kind=s.kind,
        acceptance=acceptance,
        n_vocab=s.n_vocab,
        n_embd=s.n_embd,
        n_layer=s.n_layer,
        n_ff=s.n_ff,
        seed=seed,
        acceptance_profiles=acceptance_profiles,
        region_tokens=region_tokens,
    )
    spec = tiny_model_spec(**model_args)  # type: ignore[arg-type]
    key = json.dumps({**spec.params(), "quant": quant}, sort_keys=True)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    name = shape if isinstance(shape, str) else f"{s.kind}-V{s.n_vocab}-D{s.n_embd}-L{s.n_layer}"
    target = directory / f"shaped-{name}-{quant.lower()}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.gguf"
    if _is_whole(target):
        return target
    directory.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _: None)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=directory, prefix=".shaped-") as tmp:
        out = Path(tmp) / "model.gguf"
        if quant != "F16" and keep_f16:  # from the cached f16 file (written first if need be)
            f16 = shaped_mtp_model(
                shape,
                quant="F16",
                acceptance=acceptance,
                acceptance_profiles=acceptance_profiles,
                region_tokens=region_tokens,
                seed=seed,
                cache_dir=directory,
                log=log,
            )
        else:
            say(
                f"writing the {name} benchmark model once ({s.n_params / 1e9:.2f} B parameters, {quant}; "
                f"cached in {directory})..."
            )
            f16 = tiny_mtp_model(Path(tmp) / "f16.gguf", **model_args)  # type: ignore[arg-type]
            say(f"  f16 written in {time.perf_counter() - t0:.0f} s")
        if quant == "F16":
            os.replace(f16, out)
        else:
            t1 = time.perf_counter()
            quantize(f16, out, quant, n_threads=n_threads)
            say(f"  quantized to {quant} in {time.perf_counter() - t1:.0f} s")
        os.chmod(out, 0o644)
        size = out.stat().st_size
        os.replace(out, target)  # one rename: a concurrent reader never sees a partial file
        _record_path(target).write_text(json.dumps({"size": size}))
    say(f"  done in {time.perf_counter() - t0:.0f} s: {target}")
    return target

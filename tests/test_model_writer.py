"""The synthesized models' writer streams (llama_mtp/_tiny_weights.py, _tiny_gguf.py) and the
quantizer works in slabs: a model's peak memory is a fraction of its weights, and the bytes
written do not depend on how the work was cut."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from child import run_child

from llama_mtp import _tiny_weights
from llama_mtp.testing import tiny_model_spec

# vocabulary-sized matrices of 96k x 768: 282 MiB in f64 each, 141 MiB in f16
BIG = dict(n_vocab=96_000, n_embd=768, n_layer=1, acceptance=0.4)


def tensors(spec: object, chunk_elements: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    monkeypatch.setattr(_tiny_weights, "_CHUNK_ELEMENTS", chunk_elements)
    out: dict[str, np.ndarray] = {}
    _tiny_weights.build_tensors(spec, out.__setitem__)  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize(
    "options", [{}, {"kind": "hybrid"}, {"near_ties": True, "acceptance": 0.3}, {"acceptance_profiles": [(0.8, 0.6, 0.5)]}]
)
def test_the_tensors_do_not_depend_on_the_chunking(options: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tiny_model_spec(**options)  # type: ignore[arg-type]
    whole = tensors(spec, 1 << 40, monkeypatch)  # one chunk: the whole matrix at once
    rows = tensors(spec, 64, monkeypatch)  # one row of 64 columns per chunk
    assert list(whole) == list(rows)
    for name, array in whole.items():
        assert array.dtype == rows[name].dtype and np.array_equal(array.view(np.uint8), rows[name].view(np.uint8)), name


@pytest.mark.skipif(
    "libasan" in os.environ.get("LD_PRELOAD", ""),
    reason="AddressSanitizer's shadow memory and quarantine change what a process holds",
)
def test_writing_and_quantizing_a_large_vocabulary_holds_a_fraction_of_it(tmp_path: Path) -> None:
    # one vocabulary matrix in f64 is 563 MB: held whole, the three of them and their copies took
    # over 1.5 GB; the quantizer's default slab (8 GiB) held the output layer in f32, 282 MB
    out = run_child(
        f"""
        import resource
        from llama_mtp.testing import tiny_mtp_model
        f16 = tiny_mtp_model(sys.argv[1], **{BIG!r})
        written = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        L.quantize(f16, sys.argv[2], "Q8_0")
        quantized = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        m = L.Model(sys.argv[2])
        print(written, quantized, m.n_vocab)
    """,
        str(tmp_path / "f16.gguf"),
        str(tmp_path / "q8.gguf"),
        timeout=600,
    )
    written_kb, quantized_kb, n_vocab = map(int, out.split())
    assert n_vocab == BIG["n_vocab"]
    f64_matrix_kb = BIG["n_vocab"] * BIG["n_embd"] * 8 // 1024
    assert written_kb < f64_matrix_kb, (written_kb, f64_matrix_kb)
    assert quantized_kb < f64_matrix_kb, (quantized_kb, f64_matrix_kb)

"""llama_mtp.shapes: synthesized models with real models' proportions, quantized and cached.
The suite writes only a small shape; the real-sized ones are for benchmarks and the demo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import llama_mtp
from llama_mtp.shapes import DECAYING_PROFILE, SHAPES, ModelShape, shaped_mtp_model
from llama_mtp.testing import tiny_model_spec

SMALL = ModelShape("dense", 2000, 256, 2, 512, "a test shape")


def test_the_shapes_have_real_models_proportions() -> None:
    for name, shape in SHAPES.items():
        assert 150_000 <= shape.n_vocab <= 250_000, name
        assert 1024 <= shape.n_embd <= 4096 and 16 <= shape.n_layer <= 28, name
        assert 0.3e9 <= shape.n_params <= 1.6e9, name
        assert shape.n_embd % 256 == 0 and shape.n_ff % 256 == 0, name  # K-quant rows fit
    # one output-layer heavy, one body heavy: the two ends of the cost shapes
    vocab_share = {n: 3 * s.n_vocab * s.n_embd / s.n_params for n, s in SHAPES.items()}
    assert max(vocab_share.values()) > 0.6 and min(vocab_share.values()) < 0.65


def test_a_shape_is_written_quantized_and_cached(tmp_path: Path) -> None:
    lines: list[str] = []
    path = shaped_mtp_model(SMALL, quant="Q8_0", acceptance_profiles=[DECAYING_PROFILE], cache_dir=tmp_path, log=lines.append)
    assert path.parent == tmp_path and "q8_0" in path.name
    assert any("quantized to Q8_0" in line for line in lines)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".shaped-")]  # no temporary left
    model = llama_mtp.Model(str(path))
    assert model.n_vocab == 2000 and model.n_embd == 256 and model.has_mtp
    assert "Q8_0" in model.description
    # the crafted text survives quantization, and MTP output is the plain one
    spec = tiny_model_spec(kind="dense", n_vocab=2000, n_embd=256, n_layer=2, n_ff=512, acceptance_profiles=[DECAYING_PROFILE])
    g = llama_mtp.generate(model, "xyz", max_tokens=40, n_draft_max=3, n_threads=1, ignore_eos=True)
    assert g.tokens == spec.expected_tokens(model.tokenize("xyz"), 40)
    # reused: no second write
    again: list[str] = []
    assert (
        shaped_mtp_model(SMALL, quant="Q8_0", acceptance_profiles=[DECAYING_PROFILE], cache_dir=tmp_path, log=again.append)
        == path
    )
    assert again == []


def test_the_f16_file_can_be_kept_for_other_quantizations(tmp_path: Path) -> None:
    q4 = shaped_mtp_model(SMALL, quant="Q4_K_M", cache_dir=tmp_path, keep_f16=True, log=None)
    f16 = shaped_mtp_model(SMALL, quant="F16", cache_dir=tmp_path, log=None)
    assert f16.is_file() and f16 != q4
    assert q4.stat().st_size < f16.stat().st_size
    assert "Q4_K" in llama_mtp.Model(str(q4)).description


def test_an_unknown_quantization_or_shape_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quant must be one of"):
        shaped_mtp_model(SMALL, quant="Q3", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown shape 'no-such-shape': one of qwen35-0.8b"):
        shaped_mtp_model("no-such-shape", cache_dir=tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "emptied", "unrecorded"])
def test_a_cached_model_that_is_not_whole_is_written_again(tmp_path: Path, damage: str) -> None:
    path = shaped_mtp_model(SMALL, quant="F16", cache_dir=tmp_path, log=None)
    size = path.stat().st_size
    if damage == "truncated":
        os.truncate(path, size // 2)
    elif damage == "emptied":
        path.write_bytes(b"")
    else:  # a file of the right name that this module did not record (an older version's, a copy)
        path.with_name(path.name + ".json").unlink()
    lines: list[str] = []
    assert shaped_mtp_model(SMALL, quant="F16", cache_dir=tmp_path, log=lines.append) == path
    assert any("writing" in line for line in lines)  # written again, not handed out as it was
    assert path.stat().st_size == size
    assert llama_mtp.Model(str(path)).has_mtp

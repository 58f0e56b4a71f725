from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import llama_mtp
from llama_mtp.testing import TinyModelSpec


def test_properties(model: llama_mtp.Model, kind: str, spec: TinyModelSpec) -> None:
    assert model.n_vocab == spec.n_vocab
    assert model.n_embd == spec.n_embd
    assert model.n_layer_nextn == 1
    assert model.has_mtp
    assert model.arch == ("qwen35" if kind == "hybrid" else "glm4moe")
    assert model.is_hybrid == (kind == "hybrid")
    assert not model.is_recurrent
    assert model.n_ctx_train == 4096
    assert model.size_bytes > 0 and model.n_params > 0
    assert model.arch in model.description
    assert model.bos == 1 and model.eos == 2
    assert model.is_eog(2) and not model.is_eog(spec.start)


def test_load_without_mtp_layers(model_path: Path) -> None:
    m = llama_mtp.Model(str(model_path), load_mtp=False)
    assert not m.has_mtp and m.n_layer_nextn == 0
    with pytest.raises(llama_mtp.ContextError, match="NextN"):
        llama_mtp.Context(m, ctx_type=llama_mtp.ContextType.MTP)


def test_no_mmap_and_no_repack_load_the_same_weights(model_path: Path) -> None:
    a = llama_mtp.Model(str(model_path), use_mmap=False, repack=False)
    b = llama_mtp.Model(str(model_path))
    assert a.n_params == b.n_params


def test_metadata(model: llama_mtp.Model, kind: str) -> None:
    meta = model.metadata()
    assert meta["general.architecture"] == model.arch
    assert meta[f"{model.arch}.nextn_predict_layers"] == "1"
    assert "llama_mtp.tiny.params" in meta


def test_tokenize_round_trip(model: llama_mtp.Model) -> None:
    text = "Hello, world! 123"
    tokens = model.tokenize(text)
    assert tokens.dtype == np.int32 and tokens[0] == model.bos
    assert model.detokenize(tokens, remove_special=True).strip() == text
    assert model.tokenize(text, add_special=False)[0] != model.bos


def test_tokenize_round_trip_any_ascii(dense_model: llama_mtp.Model) -> None:
    @given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
    def round_trip(text: str) -> None:
        tokens = dense_model.tokenize(text, add_special=False)
        assert dense_model.detokenize(tokens).lstrip(" ") == text.lstrip(" ")

    round_trip()


def test_pseudo_words_tokenize_as_single_tokens(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    words = spec.expected_tokens([1], 5)
    text = model.detokenize(words)
    assert list(model.tokenize(text, add_special=False)) == words


def test_token_to_piece(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    assert model.token_to_piece(spec.start).startswith(" ")
    assert model.token_to_piece(2) == "</s>"


@pytest.mark.parametrize("bad", [-1, 1024, 2**31 - 1])
def test_out_of_range_tokens_raise(model: llama_mtp.Model, bad: int) -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError):
        model.token_to_piece(bad)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        model.detokenize([5, bad])
    with pytest.raises(ValueError):  # InvalidArgumentError is a ValueError
        model.is_eog(bad)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(llama_mtp.ModelNotFoundError) as info:
        llama_mtp.Model(str(tmp_path / "nope.gguf"))
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, llama_mtp.ModelLoadError)
    assert isinstance(info.value, llama_mtp.LlamaError)


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(llama_mtp.ModelLoadError):
        llama_mtp.Model(str(tmp_path))


@pytest.mark.parametrize("content", [b"", b"GGUF", b"not a gguf file at all" * 100, b"GGUF\x03\x00\x00\x00" + b"\xff" * 64])
def test_garbage_files_raise(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(llama_mtp.ModelLoadError):
        llama_mtp.Model(str(path))


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_truncated_gguf_raises(tmp_path: Path, model_path: Path, fraction: float) -> None:
    data = model_path.read_bytes()
    path = tmp_path / "truncated.gguf"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(llama_mtp.ModelLoadError):
        llama_mtp.Model(str(path))


def test_vocab_only(model_path: Path) -> None:
    m = llama_mtp.Model(str(model_path), vocab_only=True)
    assert m.n_vocab == 1024
    assert len(m.tokenize("abc")) > 0
    with pytest.raises(llama_mtp.ContextError, match="vocab_only"):
        llama_mtp.Context(m)


def test_close_keeps_contexts_working(model_path: Path) -> None:
    m = llama_mtp.Model(str(model_path))
    ctx = m.new_context(n_ctx=256, n_batch=32)
    m.close()
    assert m.closed
    with pytest.raises(llama_mtp.ClosedError):
        _ = m.n_vocab
    batch = llama_mtp.Batch(4)
    batch.set_tokens(np.array([1, 300, 301], dtype=np.int32))
    ctx.decode(batch)  # weights still alive through the context
    assert ctx.get_logits_ith(-1).shape == (1024,)
    del ctx
    gc.collect()


def test_context_manager(model_path: Path) -> None:
    with llama_mtp.Model(str(model_path)) as m:
        assert m.n_vocab == 1024
    assert m.closed


def test_new_context_takes_the_context_keywords(model: llama_mtp.Model) -> None:
    ctx = model.new_context(n_ctx=256, n_batch=32, n_threads=1)
    assert isinstance(ctx, llama_mtp.Context) and ctx.n_batch == 32
    with pytest.raises(TypeError, match=r"Model.new_context\(\) got an unexpected keyword argument 'n_cxt'"):
        model.new_context(n_cxt=256)  # type: ignore[call-arg]

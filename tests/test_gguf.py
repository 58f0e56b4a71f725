"""The GGUF preflight: each metadata value upstream asserts on (or hangs on) is a ModelLoadError
naming the key, and valid files still load. Loads run in a child process: without the preflight
these files abort the interpreter, which must fail one test, not end the run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import llama_mtp
from llama_mtp._gguf_edit import ARR, BOOL, F32, I32, STR, U32, Gguf, rewrite
from llama_mtp.testing import tiny_mtp_model

_CHILD = r"""
import json, sys
import llama_mtp
llama_mtp.set_log_level("none")
path, vocab_only = sys.argv[1], sys.argv[2] == "1"
try:
    with llama_mtp.Model(path, vocab_only=vocab_only) as m:
        m.tokenize("Hello world")
        if not vocab_only:
            llama_mtp.generate(m, "Hi", max_tokens=2, n_threads=1)
    print(json.dumps({"error": None}))
except llama_mtp.LlamaError as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
"""


def load_in_child(path: Path, vocab_only: bool = False) -> dict[str, str | None]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), "1" if vocab_only else "0"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"the load crashed (exit {proc.returncode}): {proc.stderr[-2000:]}"
    result: dict[str, str | None] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def dense(model_dir: Path) -> Path:
    return tiny_mtp_model(model_dir / "tiny-dense.gguf", kind="dense")


@pytest.fixture(scope="module")
def hybrid(model_dir: Path) -> Path:
    return tiny_mtp_model(model_dir / "tiny-hybrid.gguf", kind="hybrid")


def mutated(src: Path, tmp_path: Path, edit: Callable[[Gguf], None]) -> Path:
    return rewrite(src, tmp_path / "mutated.gguf", edit)


def set_key(suffix: str, type_: int, value: object) -> Callable[[Gguf], None]:
    """Set `{arch}.{suffix}` (or a full key when it has a dot-prefixed namespace of its own)."""

    def edit(g: Gguf) -> None:
        key = suffix if suffix.startswith(("tokenizer.", "general.")) else f"{g.arch}.{suffix}"
        g.set(key, type_, value)

    return edit


def assert_rejected(path: Path, key: str, vocab_only: bool = False) -> str:
    result = load_in_child(path, vocab_only)
    assert result["error"] == "ModelLoadError", result
    message = str(result["message"])
    assert key in message, message
    with pytest.raises(llama_mtp.ModelLoadError, match=key.replace(".", r"\.")):
        llama_mtp.inspect_gguf(path)  # the same preflight, in process: it never reaches llama.cpp
    return message


# --- valid files -----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["dense", "hybrid"])
def test_valid_tiny_models_load_and_inspect(which: str, dense: Path, hybrid: Path) -> None:
    path = dense if which == "dense" else hybrid
    assert load_in_child(path) == {"error": None}
    info = llama_mtp.inspect_gguf(path)  # a PathLike works as well as a str
    arch = "glm4moe" if which == "dense" else "qwen35"
    assert info["architecture"] == arch
    assert info["version"] == 3
    assert info["n_vocab"] == 1024
    assert info["tokenizer_model"] == "llama"
    hp = info["hparams"]
    assert isinstance(hp, dict)
    assert hp["block_count"] == 3 and hp["nextn_predict_layers"] == 1
    assert hp["embedding_length"] == 64 and hp["context_length"] == 4096
    assert hp["attention.head_count"] == 2 and hp["attention.head_count_kv"] == 1
    assert hp["attention.key_length"] == 32
    assert hp["rope.dimension_count"] == (16 if which == "dense" else 8)
    assert hp["attention.layer_norm_rms_epsilon"] == pytest.approx(1e-6)
    if which == "dense":
        assert hp["expert_count"] == 4 and hp["expert_used_count"] == 2
        assert info["n_tensors"] == 40
    else:
        assert "expert_count" not in hp
        assert info["n_tensors"] == 44
    assert info["n_kv"] == 32
    assert info == llama_mtp.inspect_gguf(str(path))


def test_per_layer_arrays_are_accepted(dense: Path, tmp_path: Path) -> None:
    path = mutated(dense, tmp_path, set_key("attention.head_count", ARR, (U32, [2, 2, 2])))
    assert load_in_child(path) == {"error": None}
    hparams = llama_mtp.inspect_gguf(path)["hparams"]
    assert isinstance(hparams, dict) and hparams["attention.head_count"] == 2


def test_inspect_missing_file_and_not_a_gguf(tmp_path: Path) -> None:
    with pytest.raises(llama_mtp.ModelNotFoundError):
        llama_mtp.inspect_gguf(tmp_path / "missing.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\xff" * 64)
    with pytest.raises(llama_mtp.ModelLoadError, match="not a valid GGUF"):
        llama_mtp.inspect_gguf(junk)
    with pytest.raises(llama_mtp.ModelNotFoundError):
        llama_mtp.inspect_gguf(b"/bytes/path")  # type: ignore[arg-type]  # bytes: as the OS names files
    with pytest.raises(TypeError):
        llama_mtp.inspect_gguf(42)  # type: ignore[arg-type]


# --- one test per rule -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 2**31, 513])
def test_block_count_out_of_range(dense: Path, tmp_path: Path, value: int) -> None:
    msg = assert_rejected(mutated(dense, tmp_path, set_key("block_count", U32, value)), "glm4moe.block_count")
    assert str(value) in msg and "[1, 512]" in msg


def test_vocab_only_skips_the_hparam_rules(dense: Path, tmp_path: Path) -> None:
    # a vocab-only load never reads block_count: upstream returns before the hparams
    path = mutated(dense, tmp_path, set_key("block_count", U32, 0))
    assert load_in_child(path, vocab_only=True) == {"error": None}


def test_message_names_the_file(dense: Path, tmp_path: Path) -> None:
    path = mutated(dense, tmp_path, set_key("block_count", U32, 0))
    assert str(path) in assert_rejected(path, "glm4moe.block_count")


def test_block_count_wrong_type(dense: Path, tmp_path: Path) -> None:
    msg = assert_rejected(mutated(dense, tmp_path, set_key("block_count", STR, "3")), "glm4moe.block_count")
    assert "has type str, expected u32" in msg


@pytest.mark.parametrize("value", [2, 3, 4, 2**31])
def test_nextn_predict_layers_beyond_one_block(hybrid: Path, tmp_path: Path, value: int) -> None:
    assert_rejected(mutated(hybrid, tmp_path, set_key("nextn_predict_layers", U32, value)), "qwen35.nextn_predict_layers")


def test_expert_count_zero_for_moe_arch(dense: Path, tmp_path: Path) -> None:
    assert_rejected(mutated(dense, tmp_path, set_key("expert_count", U32, 0)), "glm4moe.expert_count")


def test_expert_count_above_upstream_max(dense: Path, tmp_path: Path) -> None:
    assert_rejected(mutated(dense, tmp_path, set_key("expert_count", U32, 1025)), "glm4moe.expert_count")


def test_expert_used_count_above_expert_count(dense: Path, tmp_path: Path) -> None:
    assert_rejected(mutated(dense, tmp_path, set_key("expert_used_count", U32, 5)), "glm4moe.expert_used_count")


def test_expert_used_count_zero_with_experts(dense: Path, tmp_path: Path) -> None:
    assert_rejected(mutated(dense, tmp_path, set_key("expert_used_count", U32, 0)), "glm4moe.expert_used_count")


def test_duplicate_token_strings(hybrid: Path, tmp_path: Path) -> None:
    def dup(g: Gguf) -> None:
        kv = g.get("tokenizer.ggml.tokens")
        assert kv is not None
        et, items = kv.value
        kv.value = (et, [*items[:400], items[300], *items[401:]])

    msg = assert_rejected(mutated(hybrid, tmp_path, dup), "tokenizer.ggml.tokens", vocab_only=True)
    assert "[400]" in msg and "duplicate" in msg


def test_empty_token_list(hybrid: Path, tmp_path: Path) -> None:
    def empty(g: Gguf) -> None:
        g.set("tokenizer.ggml.tokens", ARR, (STR, []))
        g.set("tokenizer.ggml.scores", ARR, (F32, []))
        g.set("tokenizer.ggml.token_type", ARR, (I32, []))

    assert_rejected(mutated(hybrid, tmp_path, empty), "tokenizer.ggml.tokens", vocab_only=True)


def test_no_vocabulary_tokenizer(dense: Path, tmp_path: Path) -> None:
    path = mutated(dense, tmp_path, set_key("tokenizer.ggml.model", STR, "none"))
    assert_rejected(path, "tokenizer.ggml.model", vocab_only=True)


@pytest.mark.parametrize("key", ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"])
def test_token_arrays_shorter_than_tokens(dense: Path, tmp_path: Path, key: str) -> None:
    def shorten(g: Gguf) -> None:
        kv = g.get(key)
        assert kv is not None
        et, items = kv.value
        kv.value = (et, items[:-1])

    assert "1023 values for 1024 tokens" in assert_rejected(mutated(dense, tmp_path, shorten), key, vocab_only=True)


@pytest.mark.parametrize(
    "key",
    [
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unk_token_id",
        "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.padding_token_id",
    ],
)
def test_special_token_out_of_vocab(hybrid: Path, tmp_path: Path, key: str) -> None:
    msg = assert_rejected(mutated(hybrid, tmp_path, set_key(key, U32, 1024)), key, vocab_only=True)
    assert "[0, 1023]" in msg


def test_special_token_wrong_type(hybrid: Path, tmp_path: Path) -> None:
    key = "tokenizer.ggml.bos_token_id"
    assert "has type i32, expected u32" in assert_rejected(mutated(hybrid, tmp_path, set_key(key, I32, 1)), key, vocab_only=True)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1e-6])
@pytest.mark.parametrize("suffix", ["attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon"])
def test_norm_epsilon_not_finite_or_negative(dense: Path, tmp_path: Path, suffix: str, value: float) -> None:
    assert_rejected(mutated(dense, tmp_path, set_key(suffix, F32, value)), f"glm4moe.{suffix}")


@pytest.mark.parametrize(("which", "value"), [("dense", 0), ("dense", 34), ("dense", 15), ("hybrid", 0), ("hybrid", 64)])
def test_rope_dimension_count(dense: Path, hybrid: Path, tmp_path: Path, which: str, value: int) -> None:
    # head size 32: 0 spins ggml_graph_compute forever, more than 32 or odd aborts in the rope kernel
    src = dense if which == "dense" else hybrid
    arch = "glm4moe" if which == "dense" else "qwen35"
    assert_rejected(mutated(src, tmp_path, set_key("rope.dimension_count", U32, value)), f"{arch}.rope.dimension_count")


def test_rope_sections_all_zero(hybrid: Path, tmp_path: Path) -> None:
    path = mutated(hybrid, tmp_path, set_key("rope.dimension_sections", ARR, (I32, [0, 0, 0, 4])))
    assert_rejected(path, "qwen35.rope.dimension_sections")


@pytest.mark.parametrize(
    "values", [{"head_count": 0}, {"head_count_kv": 0}, {"head_count_kv": 3}, {"head_count": 3, "head_count_kv": 2}]
)
def test_head_counts(dense: Path, tmp_path: Path, values: dict[str, int]) -> None:
    # 2 heads, 1 kv head: 0 on layers with attention weights, kv > heads, kv not dividing heads
    def edit(g: Gguf) -> None:
        for suffix, value in values.items():
            g.set(f"glm4moe.attention.{suffix}", U32, value)

    assert_rejected(mutated(dense, tmp_path, edit), "glm4moe.attention.head_count")


def test_per_layer_array_of_wrong_length(dense: Path, tmp_path: Path) -> None:
    path = mutated(dense, tmp_path, set_key("attention.head_count", ARR, (U32, [2, 2])))
    assert "expected 3 (one per layer)" in assert_rejected(path, "glm4moe.attention.head_count")


def test_value_length_differs_from_key_length(hybrid: Path, tmp_path: Path) -> None:
    assert_rejected(mutated(hybrid, tmp_path, set_key("attention.value_length", U32, 16)), "qwen35.attention.value_length")


@pytest.mark.parametrize("suffix", ["embedding_length", "context_length"])
def test_sizes_zero(dense: Path, tmp_path: Path, suffix: str) -> None:
    assert_rejected(mutated(dense, tmp_path, set_key(suffix, U32, 0)), f"glm4moe.{suffix}")


def test_full_attention_interval_zero(hybrid: Path, tmp_path: Path) -> None:
    def edit(g: Gguf) -> None:  # the interval is only read without an explicit layer list
        g.drop("qwen35.attention.recurrent_layers")
        g.set("qwen35.full_attention_interval", U32, 0)

    assert_rejected(mutated(hybrid, tmp_path, edit), "qwen35.full_attention_interval")


def test_ssm_heads_not_a_multiple(hybrid: Path, tmp_path: Path) -> None:
    assert_rejected(mutated(hybrid, tmp_path, set_key("ssm.time_step_rank", U32, 3)), "qwen35.ssm.time_step_rank")


@pytest.mark.parametrize("suffix", ["ssm.conv_kernel", "ssm.state_size", "ssm.group_count"])
def test_ssm_sizes_zero(hybrid: Path, tmp_path: Path, suffix: str) -> None:
    assert_rejected(mutated(hybrid, tmp_path, set_key(suffix, U32, 0)), f"qwen35.{suffix}")


def test_missing_architecture(dense: Path, tmp_path: Path) -> None:
    assert_rejected(mutated(dense, tmp_path, lambda g: g.drop("general.architecture")), "general.architecture", vocab_only=True)


def test_rope_sections_wider_than_the_head(hybrid: Path, tmp_path: Path) -> None:
    path = mutated(hybrid, tmp_path, set_key("rope.dimension_sections", ARR, (I32, [40, 1, 1, 0])))
    assert "sum 42 is more than the head size 32" in assert_rejected(path, "qwen35.rope.dimension_sections")


def test_one_dimensional_tensor_not_f32(hybrid: Path, tmp_path: Path) -> None:
    def to_f16(g: Gguf) -> None:  # same element count, half the bytes: the table stays readable
        next(t for t in g.tensors if t.name == "blk.0.ssm_dt.bias").type = 1

    assert_rejected(mutated(hybrid, tmp_path, to_f16), "blk.0.ssm_dt.bias")


def test_token_not_utf8(dense: Path, tmp_path: Path) -> None:
    def bad_text(g: Gguf) -> None:
        kv = g.get("tokenizer.ggml.tokens")
        assert kv is not None
        et, items = kv.value
        kv.value = (et, [*items[:500], "ab\udcff", *items[501:]])  # a lone 0xff byte

    msg = assert_rejected(mutated(dense, tmp_path, bad_text), "tokenizer.ggml.tokens", vocab_only=True)
    assert "[500] is not valid UTF-8" in msg


def test_byte_tokens_need_a_byte_fallback_tokenizer(dense: Path, tmp_path: Path) -> None:
    # the tiny vocabulary has <0xXX> byte tokens; a WordPiece tokenizer aborts decoding them
    path = mutated(dense, tmp_path, set_key("tokenizer.ggml.model", STR, "bert"))
    assert "byte token" in assert_rejected(path, "tokenizer.ggml.token_type", vocab_only=True)


def test_add_bos_without_a_bos_token(dense: Path, tmp_path: Path) -> None:
    def edit(g: Gguf) -> None:  # t5 has no default BOS: tokenize() would assert
        g.set("tokenizer.ggml.model", STR, "t5")
        g.drop("tokenizer.ggml.bos_token_id")
        g.set("tokenizer.ggml.add_bos_token", BOOL, True)

    assert_rejected(mutated(dense, tmp_path, edit), "tokenizer.ggml.bos_token_id", vocab_only=True)

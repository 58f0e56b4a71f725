"""Writing a tiny model's GGUF file (architecture keys, vocabulary, tensors), and reading back
the parameters it was written with."""

from __future__ import annotations

import json
from pathlib import Path

from ._tiny_spec import TinyModelSpec
from ._tiny_vocab import CHAT_VOCAB_VERSION, tokenizer_pieces
from ._tiny_weights import attention_dims, build_tensors

PARAMS_KEY = "llama_mtp.tiny.params"


def write_gguf(spec: TinyModelSpec, path: Path, chat_template: str | None = None) -> None:
    import gguf  # the PyPI package; imported lazily so `import llama_mtp` stays light

    arch = "qwen35" if spec.kind == "hybrid" else "glm4moe"
    D, L = spec.n_embd, spec.n_layer
    H, HKV, HD = attention_dims(D)
    # each tensor goes to the writer's spool file as it is made (past 256 MiB, on disk), not
    # into one dict holding the whole model: a shaped model's f16 weights are GBs
    writer = gguf.GGUFWriter(str(path), arch, use_temp_file=True)
    meta = build_tensors(spec, writer.add_tensor)
    writer.add_name(f"llama-mtp tiny {spec.kind} D{D} L{L}")
    params = spec.params()
    if chat_template is not None:
        params.update(chat_template=chat_template, chat_vocab=CHAT_VOCAB_VERSION)
    writer.add_string(PARAMS_KEY, json.dumps(params, sort_keys=True))
    writer.add_uint32(f"{arch}.context_length", 4096)
    writer.add_uint32(f"{arch}.embedding_length", D)
    writer.add_uint32(f"{arch}.block_count", L + 1)
    writer.add_uint32(f"{arch}.feed_forward_length", spec.n_ff)
    writer.add_uint32(f"{arch}.attention.head_count", H)
    writer.add_uint32(f"{arch}.attention.head_count_kv", HKV)
    writer.add_uint32(f"{arch}.attention.key_length", HD)
    writer.add_uint32(f"{arch}.attention.value_length", HD)
    writer.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-6)
    writer.add_float32(f"{arch}.rope.freq_base", 10000.0)
    writer.add_uint32(f"{arch}.rope.dimension_count", int(meta["rope_dim"]))  # type: ignore[call-overload]
    writer.add_uint32(f"{arch}.nextn_predict_layers", 1)
    if spec.kind == "hybrid":
        ssm = meta["ssm"]
        assert isinstance(ssm, dict)
        writer.add_array(f"{arch}.rope.dimension_sections", list(meta["sections"]))  # type: ignore[call-overload]
        writer.add_uint32(f"{arch}.ssm.conv_kernel", ssm["conv_kernel"])
        writer.add_uint32(f"{arch}.ssm.state_size", ssm["state_size"])
        writer.add_uint32(f"{arch}.ssm.group_count", ssm["group_count"])
        writer.add_uint32(f"{arch}.ssm.time_step_rank", ssm["time_step_rank"])
        writer.add_uint32(f"{arch}.ssm.inner_size", ssm["inner_size"])
        writer.add_uint32(f"{arch}.full_attention_interval", L)
        writer.add_array(f"{arch}.attention.recurrent_layers", list(meta["recurrent"]))  # type: ignore[call-overload]
    else:
        ex = meta["experts"]
        assert isinstance(ex, dict)
        writer.add_uint32(f"{arch}.expert_count", ex["count"])
        writer.add_uint32(f"{arch}.expert_used_count", ex["used"])
        writer.add_uint32(f"{arch}.expert_shared_count", ex["shared"])
        writer.add_uint32(f"{arch}.expert_feed_forward_length", ex["ff"])
        writer.add_uint32(f"{arch}.leading_dense_block_count", L)
        writer.add_float32(f"{arch}.expert_weights_scale", 1.0)
        writer.add_bool(f"{arch}.expert_weights_norm", True)
        writer.add_uint32(f"{arch}.expert_gating_func", 2)  # sigmoid

    pieces, scores, types = tokenizer_pieces(spec.n_vocab, chat=chat_template is not None)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(pieces)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(spec.eos)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(chat_template is None)
    if chat_template is not None:
        writer.add_chat_template(chat_template)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def stored_params(path: Path) -> str | None:
    try:
        import gguf

        reader = gguf.GGUFReader(str(path))
        fld = reader.get_field(PARAMS_KEY)
        return None if fld is None else str(fld.contents())
    except Exception:  # unreadable or foreign file: regenerate
        return None

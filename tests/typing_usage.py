"""Static test: every public name used with its declared types (mypy --strict checks it;
pytest imports nothing from here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

import llama_mtp
from llama_mtp.testing import TinyModelSpec, tiny_model_spec, tiny_mtp_model


def use_everything() -> None:
    path = tiny_mtp_model(kind="hybrid", acceptance=0.9)
    spec: TinyModelSpec = tiny_model_spec(kind="hybrid", acceptance=0.9)
    model = llama_mtp.Model(str(path), n_gpu_layers=0, use_mmap=True, load_mtp=True, vocab_only=False, repack=True)
    n: int = model.n_vocab + model.n_embd + model.n_layer + model.n_layer_nextn + model.n_ctx_train
    flags: bool = model.is_recurrent or model.is_hybrid or model.has_mtp or model.is_eog(model.eos)
    text: str = model.arch + model.description + model.token_to_piece(model.bos)
    meta: dict[str, str] = model.metadata()
    tokens: npt.NDArray[np.int32] = model.tokenize("hello", add_special=True, parse_special=False)
    text = model.detokenize(tokens) + model.detokenize([1, 2, 3])
    size: int = model.size_bytes + model.n_params

    ctx = llama_mtp.Context(
        model,
        n_ctx=512,
        n_batch=64,
        n_ubatch=64,
        n_seq_max=1,
        n_threads=None,
        n_threads_batch=None,
        ctx_type=llama_mtp.ContextType.DEFAULT,
        n_rs_seq=3,
        embeddings=False,
    )
    ctx2: llama_mtp.Context = model.new_context(n_ctx=256)
    batch = llama_mtp.Batch(64, n_seq_max=1)
    batch.set_tokens(tokens, 0, 0, True)
    idx: int = batch.add(5, len(tokens), 0, logits=True)
    batch.token[0] = 1
    ctx.decode(batch)
    logits: npt.NDArray[np.float32] = ctx.get_logits_ith(-1)
    all_logits: npt.NDArray[np.float32] = ctx.get_logits()
    owner = llama_mtp.view_owner(logits)
    current: bool = llama_mtp.view_is_current(logits) and (owner is not None and owner.is_current)
    gen: int = ctx.decode_count
    ctx.set_embeddings_pre_norm(True)
    removed: bool = ctx.memory_seq_rm(0, 3, -1)
    pos: int = ctx.memory_seq_pos_max(0) + ctx.memory_seq_pos_min(0)
    state: bytes = ctx.state_seq_get(0)
    ctx.state_seq_set(0, state)
    perf: dict[str, float] = ctx.perf()

    sampler = llama_mtp.Sampler(temperature=0.8, top_k=40, top_p=0.95, min_p=0.05, seed=1)
    tok: int = sampler.sample(ctx, -1)
    sampler.accept(tok)

    draft = llama_mtp.Context(model, ctx_type=llama_mtp.ContextType.MTP, n_batch=64)
    config = llama_mtp.MtpSessionConfig(n_seq=1, n_draft_max=3).with_n_min(0).with_p_min(0.0)
    session = llama_mtp.MtpSession(ctx, draft, config)
    session.begin(0, tokens)
    proposal: npt.NDArray[np.int32] = session.draft(0, len(tokens), tok)
    pending: bool = session.has_pending_proposal(0) and not session.is_quiescent
    session.accept(0, 0)
    stats: llama_mtp.MtpStats = session.stats
    rates: list[float] = stats.acceptance_per_position
    blob: bytes = session.get_state(0)
    session.set_state(0, blob)

    loop = llama_mtp.Generator(ctx, draft, [list(tokens)], max_tokens=4, n_draft_max=2)
    while not loop.done:
        new_tokens: list[list[int]] = loop.step()
    loop_session: llama_mtp.MtpSession | None = loop.session
    reasons: list[str] = loop.finish_reasons

    # the overloads: a prompt gives a Generation, a list of prompts a list, with no isinstance
    g: llama_mtp.Generation = llama_mtp.generate(model, "hi", max_tokens=8, draft="auto", n_draft_max=3)
    out: list[int] = g.tokens
    speed: float = g.tokens_per_s
    batch_results: list[llama_mtp.Generation] = llama_mtp.generate(model, ["a", "b"], stop=["."])
    from_path: llama_mtp.Generation = llama_mtp.generate(Path("m.gguf"), [1, 2, 3], parse_special=True)
    for piece in llama_mtp.stream(model, "hi", max_tokens=8):
        text_piece: str = piece
    for index, indexed_piece in llama_mtp.stream(model, ["a", "b"]):
        print(index + 1, indexed_piece.upper())
    del out, speed, batch_results, from_path, text_piece
    # the warm engine object: the same overloads, and the chat types
    with llama_mtp.LLM(Path("m.gguf"), n_ctx=2048, n_parallel=2, n_draft_max="adaptive") as llm:
        one: llama_mtp.Generation = llm.generate("hi", max_tokens=8, n_draft_max=2)
        many: list[llama_mtp.Generation] = llm.generate([[1, 2], [3, 4]], draft="none")
        for llm_piece in llm.stream("hi"):
            llm_text: str = llm_piece
        for llm_index, llm_indexed in llm.stream(["a", "b"]):
            print(llm_index + 1, llm_indexed.upper())
        reply: llama_mtp.ChatCompletion = llm.chat([{"role": "user", "content": "hi"}], max_tokens=4)
        cached: int = reply.generation.n_cached_tokens + llm.stats.cached_prompt_tokens
        closed: bool = llm.closed
    del one, many, llm_text, reply, cached, closed
    info: dict[str, object] = llama_mtp.build_info()
    llama_mtp.set_log_level("error")
    try:
        llama_mtp.Model("missing.gguf")
    except llama_mtp.ModelNotFoundError:
        pass
    except llama_mtp.BackendError:
        pass
    except llama_mtp.LlamaError:
        pass
    del n, flags, text, meta, size, ctx2, idx, all_logits, current, gen, removed, pos, perf, proposal
    del pending, rates, info, spec, loop_session, reasons


def options_and_errors(model: llama_mtp.Model) -> None:
    """The options objects and the error hierarchy, as mypy sees them."""
    sampling = llama_mtp.SamplingParams(max_tokens=8, temperature=0.7, stop=["\n"])
    draft = llama_mtp.DraftConfig(method="ngram", n_draft_max="adaptive")
    g: llama_mtp.Generation = llama_mtp.generate(model, "hi", sampling=sampling, draft=draft, seed=3)
    with llama_mtp.LLM(model, draft=draft, n_min=0) as llm:
        chat: llama_mtp.ChatCompletion = llm.chat([{"role": "user", "content": "hi"}], sampling=sampling, tools=None)
        config: llama_mtp.DraftConfig = llm.draft_config
    # every error is a LlamaError to a type checker too (the stub declares the native ones)
    errors: list[type[llama_mtp.LlamaError]] = [
        llama_mtp.QueueFullError,
        llama_mtp.EngineStoppedError,
        llama_mtp.InvalidOptionError,
        llama_mtp.ArgumentTypeError,
        llama_mtp.RpcError,
    ]
    value_error: type[ValueError] = llama_mtp.InvalidArgumentError
    del g, chat, config, errors, value_error

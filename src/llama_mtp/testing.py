"""Synthesize tiny GGUF models with an MTP (NextN) block, for tests, demos and benchmarks.

No download: the weights are crafted so that greedy decoding is deterministic with
decisive logits, and the MTP head agrees with the target a chosen fraction of the time
(the recipe follows).

- Vocabulary: SentencePiece-style (byte fallback, ASCII characters, syllables) plus
  pseudo-words W. A random cycle pi over W defines the text: the target's greedy next
  token after a word t is pi(t); after any non-word token it is a chosen start word.
- MTP head: predicts pi(x) for the drafted token x, except for a random fraction
  (1 - acceptance) of words where it predicts pi(pi(x)), always a wrong draft; or, with
  acceptance_profiles, wrong words laid out along the cycle so that the acceptance of each
  draft position follows a profile, per region of the text (_acceptance.py).
- kind="hybrid": qwen35 (gated delta-net recurrent layers + attention), the rollback path.
  kind="dense": glm4moe with a dense attention trunk (its NextN block is MoE, as upstream
  requires).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ._acceptance import Profile, check_profiles, mean_acceptance, wrong_words
from ._cache_dir import default_cache_dir

__all__ = ["TINY_CHAT_TEMPLATE", "TinyModelSpec", "tiny_model_spec", "tiny_mtp_model", "default_cache_dir"]

Kind = Literal["dense", "hybrid"]
GENERATOR_VERSION = 4
PARAMS_KEY = "llama_mtp.tiny.params"

# A ChatML chat template with tools in the Hermes/Qwen style (tool calls as JSON between
# <tool_call> tags), for tiny models that chat: tiny_mtp_model(chat_template=TINY_CHAT_TEMPLATE).
TINY_CHAT_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n"
    "{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "You may call functions. Their signatures:\n<tools>"
    "{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n</tools>\n\n"
    "For each call, return a JSON object with the function name and arguments within <tool_call></tool_call> tags:\n"
    "<tool_call>{\"name\": <function-name>, \"arguments\": <args-json-object>}</tool_call><|im_end|>\n"
    "{% elif messages[0].role == 'system' %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{% endif %}"
    "{% for message in messages %}"
    "{% if message.role == 'user' or (message.role == 'system' and not loop.first) %}"
    "<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{% elif message.role == 'assistant' %}<|im_start|>assistant"
    "{% if message.content %}\n{{ message.content }}{% endif %}"
    "{% for tool_call in message.tool_calls or [] %}"
    "{% if tool_call.function is defined %}{% set tool_call = tool_call.function %}{% endif %}"
    "\n<tool_call>{\"name\": \"{{ tool_call.name }}\", \"arguments\": "
    "{% if tool_call.arguments is string %}{{ tool_call.arguments }}{% else %}{{ tool_call.arguments | tojson }}{% endif %}"
    "}</tool_call>{% endfor %}<|im_end|>\n"
    "{% elif message.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ message.content }}\n</tool_response><|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# the markup tokens such a template needs, as chat models have them (the last ids of the
# vocabulary; token types 3: control, 4: user-defined)
CHAT_VOCAB_VERSION = 1  # the layout of chat models' vocabularies (below and in _write_gguf)
CHAT_TOKENS = (("<|im_start|>", 3), ("<|im_end|>", 3), ("<tool_call>", 4), ("</tool_call>", 4))

_CONSONANTS = "bdfghjklmnprstvwxyz"  # 19
_VOWELS = "aeiou"
_SPACE = "\u2581"  # SentencePiece word-boundary marker

# gguf token types
_NORMAL, _UNKNOWN, _CONTROL, _BYTE = 1, 2, 3, 6


def _base_vocab() -> tuple[list[str], list[float], list[int]]:
    pieces: list[str] = ["<unk>", "<s>", "</s>"]
    types = [_UNKNOWN, _CONTROL, _CONTROL]
    pieces += [f"<0x{b:02X}>" for b in range(256)]
    types += [_BYTE] * 256
    chars = [chr(c) for c in range(33, 127)]
    normal = [_SPACE] + chars + [_SPACE + c for c in chars]
    syllables = [c + v for c in _CONSONANTS for v in _VOWELS]
    # syllables and their word-initial forms make the pseudo-words reachable by SPM merges
    normal += syllables + [_SPACE + s for s in syllables]
    pieces += normal
    types += [_NORMAL] * len(normal)
    scores = [0.0] * len(pieces)
    for i, p in enumerate(pieces):
        if types[i] == _NORMAL:
            scores[i] = -100.0 + len(p)  # longer pieces merge first
    return pieces, scores, types


def _word_pieces(n: int) -> list[str]:
    syllables = [c + v for c in _CONSONANTS for v in _VOWELS]
    words = [_SPACE + a + b for a in syllables for b in syllables]
    if n > len(words):  # large vocabularies: three-syllable words after the two-syllable ones
        words += [w + c for w in words for c in syllables][: n - len(words)]
    if n > len(words):
        raise ValueError(f"n_vocab too large for the pseudo-word generator (max {len(words)} words)")
    return words[:n]


@dataclass(frozen=True)
class TinyModelSpec:
    """Everything that determines a tiny model, and the text it will produce."""

    kind: Kind = "dense"
    acceptance: float = 1.0
    n_vocab: int = 1024
    n_embd: int = 64
    n_layer: int = 2
    seed: int = 0
    n_ff: int = 0  # 0: 2.75 * n_embd rounded up to a multiple of 32
    eos: int = 2  # the end-of-sequence id; a word id makes the model end its text at that word
    # a random output head: logits ~ N(0, 1) over the words, so the top two are often close, as
    # in real models (rounding can flip them); the text is then not the crafted cycle
    near_ties: bool = False
    # conditional acceptance per draft position, one profile per region of region_tokens words
    # of the text (taken in turn); empty: the flat `acceptance`
    acceptance_profiles: tuple[Profile, ...] = ()
    region_tokens: int = 0
    version: int = GENERATOR_VERSION
    # derived, filled by tiny_model_spec()
    words: tuple[int, ...] = field(default=(), compare=False, repr=False)
    cycle: dict[int, int] = field(default_factory=dict, compare=False, repr=False, hash=False)
    start: int = field(default=-1, compare=False, repr=False)
    wrong: frozenset[int] = field(default=frozenset(), compare=False, repr=False)

    def params(self) -> dict[str, object]:
        keys = ("kind", "acceptance", "n_vocab", "n_embd", "n_layer", "seed", "n_ff", "eos", "version")
        params = {k: v for k, v in asdict(self).items() if k in keys}
        if self.near_ties:  # only then: the other models keep their names
            params["near_ties"] = True
        if self.acceptance_profiles:
            params.update(acceptance_profiles=[list(p) for p in self.acceptance_profiles],
                          region_tokens=self.region_tokens)
        return params

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.params(), sort_keys=True).encode()).hexdigest()[:16]

    def next_token(self, last: int) -> int:
        """The target's greedy next token after `last`."""
        if self.near_ties:
            raise ValueError("a near_ties model's text is not known in advance")
        return self.cycle.get(last, self.start)

    def expected_tokens(self, prompt: Sequence[int], n: int) -> list[int]:
        """The n tokens greedy decoding produces after `prompt`."""
        out: list[int] = []
        last = int(prompt[-1])
        for _ in range(n):
            last = self.next_token(last)
            out.append(last)
        return out

    def mtp_agrees(self, token: int) -> bool:
        """Whether the MTP head's prediction after drafted token `token` is right.

        Non-word tokens (they only occur at the end of a prompt) follow the dial as a group:
        right when acceptance >= 0.5."""
        if token not in self.cycle:
            return self.acceptance >= 0.5
        return token not in self.wrong


def tiny_model_spec(
    *,
    kind: Kind = "dense",
    acceptance: float = 1.0,
    n_vocab: int = 1024,
    n_embd: int = 64,
    n_layer: int = 2,
    seed: int = 0,
    n_ff: int = 0,
    eos: int = 2,
    near_ties: bool = False,
    acceptance_profiles: Sequence[Sequence[float]] = (),
    region_tokens: int = 0,
) -> TinyModelSpec:
    """Validate parameters and compute the crafted structure (cheap: no tensors)."""
    if kind not in ("dense", "hybrid"):
        raise ValueError(f"kind must be 'dense' or 'hybrid', not {kind!r}")
    if not (0.0 <= acceptance <= 1.0):
        raise ValueError(f"acceptance must be in [0, 1], got {acceptance}")
    n_base = len(_base_vocab()[0])
    if n_vocab < n_base + 16:
        raise ValueError(f"n_vocab must be >= {n_base + 16}, got {n_vocab}")
    if n_embd < 64 or n_embd % 32:
        raise ValueError(f"n_embd must be a multiple of 32 and >= 64, got {n_embd}")
    if not 0 <= eos < n_vocab:
        raise ValueError(f"eos must be a token id in [0, {n_vocab}), got {eos}")
    if n_layer < (2 if kind == "hybrid" else 1):
        raise ValueError(f"n_layer too small for kind={kind!r}: {n_layer}")
    profiles = check_profiles(acceptance_profiles, region_tokens) if acceptance_profiles else ()
    region_tokens = region_tokens if len(profiles) > 1 else 0  # one profile: no regions
    acceptance = mean_acceptance(profiles, acceptance)  # what non-word tokens follow
    rng = np.random.default_rng(seed)
    words = list(range(n_base, n_vocab))
    order = rng.permutation(words)
    cycle = {int(order[i]): int(order[(i + 1) % len(order)]) for i in range(len(order))}
    start = int(order[0])
    wrong = wrong_words(words, [int(t) for t in order], rng, acceptance=acceptance, profiles=profiles,
                        region_tokens=region_tokens)
    return TinyModelSpec(
        kind=kind, acceptance=float(acceptance), n_vocab=n_vocab, n_embd=n_embd, n_layer=n_layer,
        seed=seed, n_ff=n_ff or (int(2.75 * n_embd) + 31) // 32 * 32, eos=eos, words=tuple(words), cycle=cycle,
        start=start,
        wrong=wrong, near_ties=near_ties, acceptance_profiles=profiles, region_tokens=region_tokens,
    )


def _attention_dims(n_embd: int) -> tuple[int, int, int]:
    """(heads, kv heads, head dim): 2x1x32 for tiny models, 8x2x128 at n_embd=1024."""
    if n_embd < 256:
        return 2, 1, 32
    heads = max(2, n_embd // 128)
    return heads, max(1, heads // 4), 128


def _ssm_dims(n_embd: int) -> tuple[int, int, int]:
    """(state size = head dim, k heads, v heads) of the gated delta-net layers."""
    return (16, 2, 2) if n_embd < 256 else (128, 2, 4)


def _rope_sections(rope_dim: int) -> list[int]:
    r = rope_dim // 2
    return [r - 2 * (r // 3), r // 3, r // 3, 0]


def _rms_rows(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True))
    return out


class _Weights:
    def __init__(self, spec: TinyModelSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.rng = rng
        self.tensors: dict[str, np.ndarray] = {}

    def normal(self, out: int, inp: int, std: float | None = None) -> np.ndarray:
        std = 1.0 / np.sqrt(inp) if std is None else std
        return (self.rng.standard_normal((out, inp)) * std).astype(np.float16)

    def small(self, out: int, inp: int) -> np.ndarray:
        # residual writes: every layer computes, the hidden state stays close to e_cur
        return self.normal(out, inp, 0.05 / np.sqrt(inp))

    def ones(self, n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    def add(self, name: str, array: np.ndarray) -> None:
        self.tensors[name] = array


def _build_tensors(spec: TinyModelSpec) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    rng = np.random.default_rng(spec.seed + 1)
    D, V, FF, L = spec.n_embd, spec.n_vocab, spec.n_ff, spec.n_layer
    w = _Weights(spec, rng)
    words = np.array(spec.words)
    word_set = set(spec.words)

    # embeddings: words random; every non-word token leans on one shared direction u
    u = _rms_rows(rng.standard_normal(D))
    emb = _rms_rows(rng.standard_normal((V, D)))
    non_words = np.array([t for t in range(V) if t not in word_set])
    emb[non_words] = _rms_rows(0.9 * u + 0.44 * emb[non_words])
    out = np.zeros((V, D), dtype=np.float32)
    for t, nxt in spec.cycle.items():
        out[nxt] = emb[t] / np.sqrt(D)
    out[spec.start] += 1.5 * u / np.sqrt(D)
    if spec.near_ties:  # the hidden state is ~ e_cur (norm sqrt(D)): word logits ~ N(0, 1)
        out[words] = rng.standard_normal((words.size, D)) / np.sqrt(D)
    nextn_emb = emb.copy()
    for t in spec.wrong:  # the MTP head predicts pi(pi(t)) after these
        nextn_emb[t] = emb[spec.cycle[t]]
    if spec.acceptance < 0.5:  # after a non-word the head then predicts pi(start), not start
        nextn_emb[non_words] = emb[spec.start]
    assert words.size > 0

    w.add("token_embd.weight", emb.astype(np.float16))
    w.add("output_norm.weight", w.ones(D))
    w.add("output.weight", out.astype(np.float16))

    H, HKV, HD = _attention_dims(D)
    meta: dict[str, object] = {}
    if spec.kind == "hybrid":
        dk, nk, nv = _ssm_dims(D)
        key_dim, value_dim = dk * nk, dk * nv
        conv_dim = 2 * key_dim + value_dim
        recurrent = [i < L - 1 for i in range(L)] + [False]  # last trunk layer: attention
        meta.update(
            rope_dim=HD // 4, sections=_rope_sections(HD // 4), recurrent=recurrent,
            ssm=dict(conv_kernel=4, state_size=dk, group_count=nk, time_step_rank=nv,
                     inner_size=value_dim),
        )
        for i in range(L + 1):
            p = f"blk.{i}."
            w.add(p + "attn_norm.weight", w.ones(D))
            w.add(p + "post_attention_norm.weight", w.ones(D))
            w.add(p + "ffn_gate.weight", w.normal(FF, D))
            w.add(p + "ffn_up.weight", w.normal(FF, D))
            w.add(p + "ffn_down.weight", w.small(D, FF))
            if recurrent[i]:
                w.add(p + "attn_qkv.weight", w.normal(conv_dim, D))
                w.add(p + "attn_gate.weight", w.normal(value_dim, D))
                w.add(p + "ssm_conv1d.weight", (rng.standard_normal((conv_dim, 4)) * 0.5).astype(np.float32))
                w.add(p + "ssm_dt.bias", np.zeros(nv, dtype=np.float32))
                w.add(p + "ssm_a", -np.ones(nv, dtype=np.float32))
                w.add(p + "ssm_beta.weight", w.normal(nv, D))
                w.add(p + "ssm_alpha.weight", w.normal(nv, D))
                w.add(p + "ssm_norm.weight", w.ones(dk))
                w.add(p + "ssm_out.weight", w.small(D, value_dim))
            else:
                w.add(p + "attn_q.weight", w.normal(2 * H * HD, D))
                w.add(p + "attn_k.weight", w.normal(HKV * HD, D))
                w.add(p + "attn_v.weight", w.normal(HKV * HD, D))
                w.add(p + "attn_output.weight", w.small(D, H * HD))
                w.add(p + "attn_q_norm.weight", w.ones(HD))
                w.add(p + "attn_k_norm.weight", w.ones(HD))
    else:
        E, EU, FX = 4, 2, 32
        meta.update(rope_dim=HD // 2, experts=dict(count=E, used=EU, shared=1, ff=FX))
        for i in range(L + 1):
            p = f"blk.{i}."
            w.add(p + "attn_norm.weight", w.ones(D))
            w.add(p + "post_attention_norm.weight", w.ones(D))
            w.add(p + "attn_q.weight", w.normal(H * HD, D))
            w.add(p + "attn_k.weight", w.normal(HKV * HD, D))
            w.add(p + "attn_v.weight", w.normal(HKV * HD, D))
            w.add(p + "attn_output.weight", w.small(D, H * HD))
            if i < L:
                w.add(p + "ffn_gate.weight", w.normal(FF, D))
                w.add(p + "ffn_up.weight", w.normal(FF, D))
                w.add(p + "ffn_down.weight", w.small(D, FF))
            else:  # the NextN block must be MoE with a shared expert
                w.add(p + "ffn_gate_inp.weight", w.normal(E, D).astype(np.float32))
                w.add(p + "exp_probs_b.bias", np.zeros(E, dtype=np.float32))
                w.add(p + "ffn_gate_exps.weight", (rng.standard_normal((E, FX, D)) / np.sqrt(D)).astype(np.float16))
                w.add(p + "ffn_up_exps.weight", (rng.standard_normal((E, FX, D)) / np.sqrt(D)).astype(np.float16))
                w.add(p + "ffn_down_exps.weight", (rng.standard_normal((E, D, FX)) * 0.05 / np.sqrt(FX)).astype(np.float16))
                w.add(p + "ffn_gate_shexp.weight", w.normal(FX, D))
                w.add(p + "ffn_up_shexp.weight", w.normal(FX, D))
                w.add(p + "ffn_down_shexp.weight", w.small(D, FX))

    # NextN block: eh_proj = [I | 0] reads only the (normalised) token embedding
    p = f"blk.{L}.nextn."
    eh = np.zeros((D, 2 * D), dtype=np.float16)
    eh[:, :D] = np.eye(D, dtype=np.float16)
    w.add(p + "eh_proj.weight", eh)
    w.add(p + "enorm.weight", w.ones(D))
    w.add(p + "hnorm.weight", w.ones(D))
    w.add(p + "shared_head_norm.weight", w.ones(D))
    w.add(p + "embed_tokens.weight", nextn_emb.astype(np.float16))
    return w.tensors, meta


def _write_gguf(spec: TinyModelSpec, path: Path, chat_template: str | None = None) -> None:
    import gguf  # the PyPI package; imported lazily so `import llama_mtp` stays light

    tensors, meta = _build_tensors(spec)
    arch = "qwen35" if spec.kind == "hybrid" else "glm4moe"
    D, L = spec.n_embd, spec.n_layer
    H, HKV, HD = _attention_dims(D)
    writer = gguf.GGUFWriter(str(path), arch)
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

    pieces, scores, types = _base_vocab()
    if chat_template is not None:
        # The tiny model scores every non-word token alike, so a grammar's choice among them
        # falls to the lowest id. Chat models list whitespace last: constrained replies (JSON,
        # tool calls) then take the structural characters, not the optional whitespace.
        order = sorted(range(3, len(pieces)), key=lambda i: (types[i] == _BYTE or pieces[i] == _SPACE, i))
        keep = [0, 1, 2, *order]
        pieces, scores, types = [pieces[i] for i in keep], [scores[i] for i in keep], [types[i] for i in keep]
    words = _word_pieces(spec.n_vocab - len(pieces))
    pieces += words
    scores += [-100.0 + len(p) + 10.0 for p in words]
    types += [_NORMAL] * len(words)
    if chat_template is not None:
        # chat models: the template's markup as whole tokens (control / user-defined), and no
        # space prefix, so that "<|im_start|>assistant" tokenizes as the template wrote it
        for i, (text, kind) in enumerate(CHAT_TOKENS):
            j = len(pieces) - len(CHAT_TOKENS) + i
            pieces[j], types[j], scores[j] = text, kind, 0.0
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

    for name, array in tensors.items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _stored_params(path: Path) -> str | None:
    try:
        import gguf

        reader = gguf.GGUFReader(str(path))
        fld = reader.get_field(PARAMS_KEY)
        return None if fld is None else str(fld.contents())
    except Exception:  # unreadable or foreign file: regenerate
        return None


def tiny_mtp_model(
    path: str | os.PathLike[str] | None = None,
    *,
    kind: Kind = "dense",
    acceptance: float = 1.0,
    n_vocab: int = 1024,
    n_embd: int = 64,
    n_layer: int = 2,
    seed: int = 0,
    n_ff: int = 0,
    eos: int = 2,
    near_ties: bool = False,
    acceptance_profiles: Sequence[Sequence[float]] = (),
    region_tokens: int = 0,
    chat_template: str | None = None,
) -> Path:
    """Write (or reuse) a tiny GGUF with one NextN block and return its path.

    path=None caches the file under default_cache_dir(), named by its parameters. An
    existing file at `path` is reused when it was written with the same parameters.
    chat_template: jinja source stored as tokenizer.chat_template (e.g. TINY_CHAT_TEMPLATE).
    near_ties: a random output head (close top-two logits, as real models have); for exactness tests.
    acceptance_profiles: the acceptance of each draft position (e.g. [[0.8, 0.65, 0.5]]); several
    profiles take turns along the text in stretches of region_tokens words.
    """
    spec = tiny_model_spec(kind=kind, acceptance=acceptance, n_vocab=n_vocab, n_embd=n_embd,
                           n_layer=n_layer, seed=seed, n_ff=n_ff, eos=eos, near_ties=near_ties,
                           acceptance_profiles=acceptance_profiles, region_tokens=region_tokens)
    params = spec.params()
    if chat_template is not None:  # only then: files without one keep their names
        params.update(chat_template=chat_template, chat_vocab=CHAT_VOCAB_VERSION)
    wanted = json.dumps(params, sort_keys=True)
    if path is None:
        digest = hashlib.sha256(wanted.encode()).hexdigest()[:16] if chat_template is not None else spec.digest()
        target = default_cache_dir() / f"tiny-{kind}-{digest}.gguf"
    else:
        target = Path(path)
    if target.is_file() and _stored_params(target) == wanted:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # write to a temporary name and rename: concurrent test workers never see a partial file
    fd, tmp = tempfile.mkstemp(suffix=".gguf.tmp", dir=target.parent)
    os.close(fd)
    try:
        _write_gguf(spec, Path(tmp), chat_template)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target

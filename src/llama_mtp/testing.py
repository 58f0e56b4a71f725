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
- mtp_head="copy": a head that copies through the draft context's attention (a token seen
  earlier in the sequence), so a draft context missing that history drafts wrong
  (_tiny_copy_head.py); cycle_length sets the text's period so that tokens recur.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ._cache_dir import default_cache_dir
from ._tiny_gguf import stored_params, write_gguf
from ._tiny_spec import Head, Kind, TinyModelSpec, tiny_model_spec
from ._tiny_vocab import CHAT_VOCAB_VERSION, TINY_CHAT_TEMPLATE

__all__ = ["TINY_CHAT_TEMPLATE", "Head", "Kind", "TinyModelSpec", "tiny_model_spec", "tiny_mtp_model", "default_cache_dir"]


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
    mtp_head: Head = "token",
    cycle_length: int = 0,
    chat_template: str | None = None,
) -> Path:
    """Write (or reuse) a tiny GGUF with one NextN block and return its path.

    path=None caches the file under default_cache_dir(), named by its parameters. An
    existing file at `path` is reused when it was written with the same parameters.
    chat_template: jinja source stored as tokenizer.chat_template (e.g. TINY_CHAT_TEMPLATE).
    near_ties: a random output head (close top-two logits, as real models have); for exactness tests.
    acceptance_profiles: the acceptance of each draft position (e.g. [[0.8, 0.65, 0.5]]); several
    profiles take turns along the text in stretches of region_tokens words.
    mtp_head: "copy" makes a head that needs the draft context's history: it drafts right only
    where the drafted token occurred before in what the draft context holds (pair it with a
    cycle_length, the text's period, and a prompt that holds one period).
    """
    spec = tiny_model_spec(
        kind=kind,
        acceptance=acceptance,
        n_vocab=n_vocab,
        n_embd=n_embd,
        n_layer=n_layer,
        seed=seed,
        n_ff=n_ff,
        eos=eos,
        near_ties=near_ties,
        acceptance_profiles=acceptance_profiles,
        region_tokens=region_tokens,
        mtp_head=mtp_head,
        cycle_length=cycle_length,
    )
    params = spec.params()
    if chat_template is not None:  # only then: files without one keep their names
        params.update(chat_template=chat_template, chat_vocab=CHAT_VOCAB_VERSION)
    wanted = json.dumps(params, sort_keys=True)
    if path is None:
        digest = hashlib.sha256(wanted.encode()).hexdigest()[:16] if chat_template is not None else spec.digest()
        target = default_cache_dir() / f"tiny-{kind}-{digest}.gguf"
    else:
        target = Path(path)
    if target.is_file() and stored_params(target) == wanted:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # write to a temporary name and rename: concurrent test workers never see a partial file
    fd, tmp = tempfile.mkstemp(suffix=".gguf.tmp", dir=target.parent)
    os.close(fd)
    try:
        write_gguf(spec, Path(tmp), chat_template)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target

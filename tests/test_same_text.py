"""Plain greedy generate() decodes as llama-completion does (tests/engine/upstream_parity.cpp
checks the engine against upstream's own context setup bit for bit; this checks the Python
path's sizing and prompt layout on top of it): the prompt in 512-row ubatches with its last
token in the last one, then one token per decode, on near-tie quantized models where a
different layout flips tokens."""

from __future__ import annotations

import numpy as np
import pytest
from test_exact import near_tie_model

import llama_mtp


def llama_completion_greedy(model: llama_mtp.Model, prompt: list[int], n: int) -> tuple[list[int], list[np.ndarray]]:
    """llama-completion's way: common_params' n_batch 2048 / n_ubatch 512, the whole prompt with
    logits on its last token, then one token per decode."""
    ctx = llama_mtp.Context(model, n_ctx=4096, n_batch=2048, n_ubatch=512, n_threads=2)
    batch = llama_mtp.Batch(2048)
    batch.set_tokens(prompt)
    ctx.decode(batch)
    out: list[int] = []
    logits: list[np.ndarray] = []
    last = len(prompt) - 1  # the batch row with logits
    for pos in range(len(prompt), len(prompt) + n):
        row = ctx.get_logits_ith(last).copy()
        last = 0
        logits.append(row)
        out.append(int(llama_mtp.argmax(row)))
        batch.set_tokens([out[-1]], pos0=pos)
        ctx.decode(batch)
    return out, logits


@pytest.mark.parametrize("n_prompt", [5, 700])
def test_plain_generate_is_llama_completions_greedy(n_prompt: int) -> None:
    model = llama_mtp.Model(near_tie_model("dense", "Q4_K_M"))
    prompt = [1] + [300 + (i * 37) % 500 for i in range(1, n_prompt)]
    expected, _ = llama_completion_greedy(model, prompt, 32)
    g = llama_mtp.generate(model, prompt, max_tokens=32, draft="none", n_threads=2)
    assert isinstance(g, llama_mtp.Generation)
    assert g.tokens == expected
    assert g.n_prompt_step_tokens == 1  # the first token came from the prompt's last row


def test_the_contexts_cut_prompts_as_llama_completion_does() -> None:
    # tokens rarely flip on the tiny models, so the layout is also checked where it is decided:
    # the prompt's last token comes with the prompt (n_prompt_step_tokens above; the engine
    # test compares logits), and the physical batch is llama-completion's 512 rows whatever
    # n_batch is (a 700-token prompt in one 700-row ubatch computes other K/V)
    model = llama_mtp.Model(near_tie_model("dense", "Q4_K_M"))
    for n_batch in (64, 512, 2048):
        with llama_mtp.LLM(model, n_ctx=4096, n_batch=n_batch, draft="none") as llm:
            target = llm._scheduler.target  # noqa: SLF001
            assert target.n_ubatch == min(target.n_batch, 512)

"""An MTP head that needs the draft context's history: it copies through attention.

At draft-context position p upstream pairs the token at p with the target's hidden state of
p - 1 (~ e of the token at p - 1). The head's query is the drafted token x; each position's key
and value are its hidden state. Attention finds the positions whose target token was x and
returns that hidden state (~ e_x), which the shared output head maps to pi(x): right where x
occurred before in the history the draft context holds, a random wrong word where it did not.
The drafted token alone says nothing: the token half and the hidden half of eh_proj land in
two separate halves of the residual, each through a random rotation the output head cannot read.
Query and key use only the head dimensions that RoPE leaves alone, so matching is by content.
"""

from __future__ import annotations

import numpy as np

# attention logit of an exact match (q/k RMS-normalised): random keys sit ~N(0, (LOGIT / sqrt(m))^2)
MATCH_LOGIT = 40.0
# the attention output against the direct path's noise (logits ~N(0, 1)): right logit ~ 4-8 sigma x GAIN
VALUE_GAIN = 8.0


def _orthonormal_rows(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((cols, rows)))
    out: np.ndarray = q.T
    return out


def copy_head_tensors(
    *,
    n_embd: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    rope_dim: int,
    gated_query: bool,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The NextN block's eh_proj and attention tensors (names without the block prefix)."""
    D, H, HKV, HD = n_embd, heads, kv_heads, head_dim
    half = D // 2
    free = HD - rope_dim  # the dimensions of each head RoPE does not rotate
    if free < 8 or HKV * HD > half:
        raise ValueError(f"no room for a copy head at n_embd={D} (heads {H}x{HKV}x{HD}, rope {rope_dim})")
    rotate = _orthonormal_rows(rng, half, D)  # residual half <- normalised vector, a random rotation
    eh = np.zeros((D, 2 * D), dtype=np.float32)
    eh[:half, :D] = rotate  # the drafted token
    eh[half:, D:] = rotate  # the hidden state paired with it
    match = _orthonormal_rows(rng, free, half)
    values = _orthonormal_rows(rng, HKV * HD, half)  # the hidden half, kept in HKV * HD dimensions

    q_rows = 2 * HD if gated_query else HD  # qwen35 interleaves each head's query and gate rows
    wq = np.zeros((H * q_rows, D), dtype=np.float32)
    for h in range(H):
        wq[h * q_rows + rope_dim : h * q_rows + HD, :half] = match  # gate rows 0: sigmoid 0.5
    wk = np.zeros((HKV * HD, D), dtype=np.float32)
    wv = np.zeros((HKV * HD, D), dtype=np.float32)
    for g in range(HKV):
        wk[g * HD + rope_dim : (g + 1) * HD, half:] = match
        wv[g * HD : (g + 1) * HD, half:] = values[g * HD : (g + 1) * HD]
    wo = np.zeros((D, H * HD), dtype=np.float32)
    group = H // HKV
    back = rotate.T  # D x half: a residual-half vector back in embedding space
    for g in range(HKV):  # the first query head of each group writes; the others stay silent
        wo[:, g * group * HD : (g * group + 1) * HD] = VALUE_GAIN * (back @ values[g * HD : (g + 1) * HD].T)
    qk_scale = np.sqrt(MATCH_LOGIT / np.sqrt(HD))  # q.k / sqrt(HD) = HD * scale^2 * cos / sqrt(HD)
    return {
        "nextn.eh_proj.weight": eh.astype(np.float16),
        "attn_q.weight": wq.astype(np.float16),
        "attn_k.weight": wk.astype(np.float16),
        "attn_v.weight": wv.astype(np.float16),
        "attn_output.weight": wo.astype(np.float16),
        "attn_q_norm.weight": np.full(HD, qk_scale, dtype=np.float32),
        "attn_k_norm.weight": np.full(HD, qk_scale, dtype=np.float32),
    }

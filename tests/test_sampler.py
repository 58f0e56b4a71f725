from __future__ import annotations

import numpy as np
import pytest

import llama_mtp


def decoded(model: llama_mtp.Model) -> llama_mtp.Context:
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=32)
    b = llama_mtp.Batch(32)
    b.set_tokens(model.tokenize("Sampling"))
    ctx.decode(b)
    return ctx


def test_greedy_is_argmax(model: llama_mtp.Model) -> None:
    ctx = decoded(model)
    s = llama_mtp.Sampler()
    assert s.is_greedy
    assert s.sample(ctx) == int(np.argmax(ctx.get_logits_ith(-1)))


def test_seeded_sampling_is_deterministic(model: llama_mtp.Model) -> None:
    ctx = decoded(model)

    def draws(seed: int) -> list[int]:
        s = llama_mtp.Sampler(temperature=50.0, seed=seed)
        return [s.sample(ctx, -1) for _ in range(30)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)  # a flat distribution: 30 draws from different seeds differ
    assert len(set(draws(3))) > 1


def test_top_k_one_is_greedy(model: llama_mtp.Model) -> None:
    ctx = decoded(model)
    s = llama_mtp.Sampler(temperature=5.0, top_k=1, seed=3)
    best = int(np.argmax(ctx.get_logits_ith(-1)))
    assert {s.sample(ctx) for _ in range(10)} == {best}


def test_accept_and_reset(model: llama_mtp.Model) -> None:
    ctx = decoded(model)
    s = llama_mtp.Sampler(temperature=1.0, top_p=0.9, min_p=0.05, seed=7)
    first = s.sample(ctx)
    s.accept(first)
    s.reset()
    assert s.sample(ctx) == first


@pytest.mark.parametrize(
    "params",
    [
        dict(temperature=-1.0),
        dict(temperature=float("nan")),
        dict(top_k=-1),
        dict(top_p=0.0),
        dict(top_p=1.5),
        dict(min_p=1.0),
        dict(min_p=-0.1),
    ],
)
def test_invalid_params(params: dict[str, float]) -> None:
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.Sampler(**params)  # type: ignore[arg-type]


def test_sample_needs_logits(model: llama_mtp.Model) -> None:
    ctx = llama_mtp.Context(model, n_ctx=256)
    s = llama_mtp.Sampler()
    with pytest.raises(llama_mtp.ContextError, match="decode"):
        s.sample(ctx)
    ctx = decoded(model)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        s.sample(ctx, 0)  # a prompt row without its logits flag

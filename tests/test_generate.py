from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from child import run_child
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mtp_helpers import mtp_contexts

import llama_mtp
from llama_mtp.testing import TinyModelSpec, tiny_model_spec, tiny_mtp_model


def test_generate_result(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    prompt = model.tokenize("Generate:")
    g = llama_mtp.generate(model, prompt, max_tokens=30, n_draft_max=3)
    assert isinstance(g, llama_mtp.Generation)
    assert g.tokens == spec.expected_tokens(list(prompt), 30)
    assert g.text == model.detokenize(g.tokens)
    assert g.finish_reason == "length"
    assert g.stats is not None and g.stats.accepted_tokens > 0
    assert g.n_prompt_tokens == len(prompt)
    assert g.tokens_per_s > 0 and g.prompt_tokens_per_s > 0
    plain = llama_mtp.generate(model, "Generate:", max_tokens=30, draft="none")
    assert isinstance(plain, llama_mtp.Generation)
    assert plain.tokens == g.tokens and plain.stats is None
    # the first token comes from the prompt's last row, as llama-completion's, except on a
    # recurrent/hybrid target (its prompt's last token is decoded in the first step)
    assert plain.n_prompt_step_tokens == (0 if model.is_recurrent or model.is_hybrid else 1)
    assert plain.n_steps == 30 - plain.n_prompt_step_tokens
    assert g.n_steps < plain.n_steps


def test_model_path_and_zero_tokens(model_path: Path) -> None:
    g = llama_mtp.generate(str(model_path), "Hi", max_tokens=0)
    assert isinstance(g, llama_mtp.Generation) and g.tokens == [] and g.finish_reason == "length"


def test_stream_yields_the_text(model: llama_mtp.Model) -> None:
    s = llama_mtp.stream(model, "Stream it", max_tokens=25)
    pieces = list(s)
    assert len(pieces) > 1 and all(isinstance(p, str) for p in pieces)
    assert isinstance(s.result, llama_mtp.Generation)
    assert "".join(pieces) == s.result.text


def test_stop_string(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    prompt = model.tokenize("Stop!")
    words = spec.expected_tokens(list(prompt), 6)
    stop_word = model.token_to_piece(words[4])
    g = llama_mtp.generate(model, prompt, max_tokens=50, stop=stop_word)
    assert isinstance(g, llama_mtp.Generation)
    assert g.finish_reason == "stop"
    assert g.text == model.detokenize(words[:4])


def test_batched_prompts(model: llama_mtp.Model, spec: TinyModelSpec) -> None:
    prompts = ["One", "Two two!", "x"]
    results = llama_mtp.generate(model, prompts, max_tokens=20, n_draft_max=2)
    assert isinstance(results, list) and len(results) == 3
    for text, r in zip(prompts, results, strict=True):
        toks = list(model.tokenize(text))
        assert r.tokens == spec.expected_tokens(toks, 20)
    token_prompts = [list(model.tokenize(p)) for p in prompts]
    again = llama_mtp.generate(model, token_prompts, max_tokens=20, n_draft_max=2)
    assert [r.tokens for r in again] == [r.tokens for r in results]  # type: ignore[union-attr]
    s = llama_mtp.stream(model, prompts, max_tokens=10)
    pairs = list(s)
    assert {i for i, _ in pairs} == {0, 1, 2}


def test_sampling_is_seeded(model: llama_mtp.Model) -> None:
    kw = dict(max_tokens=20, temperature=3.0, seed=11)
    a = llama_mtp.generate(model, "Sample", **kw)
    b = llama_mtp.generate(model, "Sample", **kw)
    assert isinstance(a, llama_mtp.Generation) and isinstance(b, llama_mtp.Generation)
    assert a.tokens == b.tokens
    c = llama_mtp.generate(model, "Sample", **{**kw, "seed": 12})
    assert isinstance(c, llama_mtp.Generation) and c.tokens != a.tokens


@pytest.mark.parametrize("draft", ["auto", "none"])
def test_eos_stops(tmp_path: Path, kind: str, draft: str) -> None:
    # a model whose end-of-sequence id is the 6th word it will write: generation ends there,
    # also when that word arrives inside an accepted draft; ignore_eos=True never picks it (as
    # llama.cpp's --ignore-eos, a -inf logit bias) and runs to max_tokens
    spec = tiny_model_spec(kind=kind)  # type: ignore[arg-type]
    plain = llama_mtp.Model(str(tiny_mtp_model(tmp_path / "plain.gguf", kind=kind)))  # type: ignore[arg-type]
    prompt = plain.tokenize("eos")
    words = spec.expected_tokens(list(prompt), 12)
    m = llama_mtp.Model(str(tiny_mtp_model(tmp_path / "eos.gguf", kind=kind, eos=words[5])))  # type: ignore[arg-type]
    assert m.eos == words[5] and m.is_eog(words[5])
    g = llama_mtp.generate(m, prompt, max_tokens=12, draft=draft)
    assert g.tokens == words[:5] and g.finish_reason == "stop"
    s = llama_mtp.stream(m, prompt, max_tokens=12, draft=draft)
    assert "".join(s) == g.text == m.detokenize(words[:5])
    past = llama_mtp.generate(m, prompt, max_tokens=12, draft=draft, ignore_eos=True)
    assert past.tokens[:5] == words[:5] and len(past.tokens) == 12 and past.finish_reason == "length"
    assert not any(m.is_eog(t) for t in past.tokens)
    for seed in range(4):  # sampled too (the bias comes before the sampler chain)
        sampled = llama_mtp.generate(m, prompt, max_tokens=12, draft=draft, ignore_eos=True, temperature=1.5, seed=seed)
        assert len(sampled.tokens) == 12 and not any(m.is_eog(t) for t in sampled.tokens)


@pytest.mark.filterwarnings("ignore:mtp= is deprecated:DeprecationWarning")  # its old meanings, still checked
def test_errors(model_path: Path) -> None:
    no_mtp = llama_mtp.Model(str(model_path), load_mtp=False)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="needs a model with NextN"):
        llama_mtp.generate(no_mtp, "x", max_tokens=4, mtp=True)
    with pytest.raises(llama_mtp.InvalidArgumentError, match='draft="mtp" needs a model with NextN'):
        llama_mtp.generate(no_mtp, "x", max_tokens=4, draft="mtp")
    for bad in (dict(draft="eagle"), dict(mtp=False, draft="ngram"), dict(mtp=True, draft="none")):
        with pytest.raises(llama_mtp.InvalidArgumentError, match="draft"):
            llama_mtp.generate(model_path, "x", max_tokens=4, **bad)  # type: ignore[arg-type]
    g = llama_mtp.generate(no_mtp, "x", max_tokens=4, draft="none")
    assert isinstance(g, llama_mtp.Generation) and len(g.tokens) == 4
    # without NextN layers the default drafts from the text (and decodes the same greedy text)
    assert llama_mtp.generate(no_mtp, "x", max_tokens=4).tokens == g.tokens
    model = llama_mtp.Model(str(model_path))
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.generate(model, "x", max_tokens=-1)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.generate(model, [1, 5, 99999], max_tokens=3)
    with pytest.raises(llama_mtp.InvalidConfigError):
        llama_mtp.generate(model, "x", max_tokens=3, n_draft_max=0)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.generate(model, np.array([], dtype=np.int32), max_tokens=3)
    # the loop builds its samplers with Sampler's validated chain
    for bad in (dict(temperature=-1.0), dict(temperature=1.0, top_p=0.0), dict(temperature=1.0, min_p=1.0)):
        with pytest.raises(llama_mtp.InvalidArgumentError):
            llama_mtp.generate(model, "x", max_tokens=3, **bad)


def test_generation_steps_release_the_gil(model: llama_mtp.Model) -> None:
    from test_context import _runs_concurrently

    s = llama_mtp.stream(model, "GIL", max_tokens=40, n_draft_max=3, n_threads=1)
    gen = s.generator

    def work() -> None:
        while not gen.done:
            gen.step()

    assert _runs_concurrently(work)


def _reference_argmax(x: np.ndarray) -> int:
    masked = np.where(np.isnan(x), -np.inf, x)
    if masked.size == 0 or not np.any(masked > -np.inf):
        return 0
    return int(np.argmax(masked))


@given(
    n=st.integers(0, 9000),
    seed=st.integers(0, 2**32 - 1),
    ties=st.booleans(),
    nans=st.integers(0, 5),
)
def test_argmax_matches_numpy_first_maximum(n: int, seed: int, ties: bool, nans: int) -> None:
    """The loop's greedy pick (blocked, vectorized) against numpy: first maximum, NaN ignored."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(np.float32)
    if n and ties:  # the maximum repeated at several places, one of them the very last
        top = np.float32(x.max() + 1)
        x[rng.integers(0, n, size=3)] = top
        x[-1] = top
    if n:
        x[rng.integers(0, n, size=nans)] = np.nan
    assert llama_mtp.argmax(x) == _reference_argmax(x)


def test_argmax_edge_cases() -> None:
    assert llama_mtp.argmax(np.zeros(0, np.float32)) == 0
    assert llama_mtp.argmax(np.full(5000, -np.inf, np.float32)) == 0
    assert llama_mtp.argmax(np.full(5000, np.nan, np.float32)) == 0
    x = np.zeros(262144, np.float32)
    x[262143] = 1
    assert llama_mtp.argmax(x) == 262143
    assert llama_mtp.argmax(np.array([0.5, 2.0, 2.0], np.float64)) == 1  # converted to float32
    with pytest.raises(TypeError):
        llama_mtp.argmax(np.zeros((2, 3), np.float32))  # one vector at a time


def test_many_prompts_work_within_llamas_effective_batch(model_path: Path) -> None:
    # llama.cpp limits n_batch to n_ctx; 100 prompts once aborted the process. 300 prompts run in
    # groups of llama.cpp's sequence limit. In a child: a crash fails the test.
    out = run_child(
        """
m = L.Model(sys.argv[1])
r = L.generate(m, ["hello world"] * 100, max_tokens=8)
assert len(r) == 100 and all(len(g.tokens) == 8 for g in r)
assert len({tuple(g.tokens) for g in r}) == 1
r = L.generate(m, ["hello world"] * 300, max_tokens=2, draft="none")
assert len(r) == 300 and all(len(g.tokens) == 2 for g in r)
print("ok")
""",
        str(model_path),
        timeout=600,
    )
    assert out.strip() == "ok"


def test_a_decode_larger_than_the_effective_n_batch_is_refused(model: llama_mtp.Model) -> None:
    ctx = llama_mtp.Context(model, n_ctx=256, n_batch=512, n_threads=1)
    assert ctx.n_batch == 256  # what llama.cpp uses
    b = llama_mtp.Batch(300)
    b.set_tokens(np.arange(300, dtype=np.int32) % 50 + 1)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="n_batch 256"):
        ctx.decode(b)
    b.set_len(200)
    ctx.decode(b)  # still usable


def test_the_generator_refuses_to_reallocate_under_a_live_view(model: llama_mtp.Model) -> None:
    # the MTP session switches on pre-norm outputs: the output buffer is laid out anew, so the
    # prompt's decode (a prefill, or the first step where the prompt joins it) may reallocate
    # it; it refuses while a view of the old buffer is alive
    target, draft = mtp_contexts(model)
    b = llama_mtp.Batch(64)
    b.set_tokens(np.arange(1, 9, dtype=np.int32))
    target.decode(b)
    view = target.get_logits()
    before = view.copy()
    target.memory_clear()
    with pytest.raises(llama_mtp.StaleViewError):
        refused = llama_mtp.Generator(target, draft, [list(range(1, 60))], max_tokens=4)
        refused.step()
    assert np.array_equal(view, before)  # the view still reads the memory it was taken from
    del view
    target.memory_clear()
    gen = llama_mtp.Generator(target, draft, [list(range(1, 60))], max_tokens=4)
    while not gen.done:
        gen.step()
    assert len(gen.tokens[0]) == 4


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the model is only read
@given(data=st.data())
def test_stream_pieces_join_to_the_text_for_any_stop_strings(
    model: llama_mtp.Model, spec: TinyModelSpec, data: st.DataObject
) -> None:
    prompt = model.tokenize("1, 2, 3,")
    n = 30
    tokens = spec.expected_tokens(list(prompt), n)
    reference = model.detokenize(tokens)
    # stop strings cut from the text the model will write (so they are hit), plus arbitrary ones
    cut = st.tuples(st.integers(0, len(reference) - 1), st.integers(1, 6)).map(lambda t: reference[t[0] : t[0] + t[1]])
    stops = data.draw(st.lists(st.one_of(cut, st.text(min_size=1, max_size=4)), min_size=1, max_size=3))
    n_draft_max = data.draw(st.integers(1, 4))
    g = llama_mtp.generate(model, prompt, max_tokens=n, stop=stops, n_draft_max=n_draft_max)
    s = llama_mtp.stream(model, prompt, max_tokens=n, stop=stops, n_draft_max=n_draft_max)
    pieces = list(s)
    assert isinstance(s.result, llama_mtp.Generation)
    assert "".join(pieces) == g.text == s.result.text
    # stop strings are looked for after each token, as plain decoding writes them: the text ends
    # where the earliest of those complete after the first token that completes one begins (a
    # stop string that would begin sooner but completes later never comes: "o" stops "boya"
    # before "boya " is complete), and it never shows in a piece
    for i in range(1, n + 1):
        written = model.detokenize(tokens[:i])
        hits = [k for k in (written.find(stop) for stop in stops) if k >= 0]
        if hits:
            assert g.text == written[: min(hits)] and g.finish_reason == "stop"
            break
    else:
        assert g.text == reference and g.finish_reason == "length"
    assert not any(stop in g.text for stop in stops)


def test_batched_streams_join_per_sequence(model: llama_mtp.Model) -> None:
    prompts = ["1, 2, 3,", "Two two!"]
    s = llama_mtp.stream(model, prompts, max_tokens=20, stop=["10", "xyz"])
    joined = ["", ""]
    for i, piece in s:
        joined[i] += piece
    assert isinstance(s.result, list)
    assert joined == [r.text for r in s.result]
    assert [r.text for r in llama_mtp.generate(model, prompts, max_tokens=20, stop=["10", "xyz"])] == joined


def test_a_typo_in_a_keyword_is_a_type_error(model: llama_mtp.Model) -> None:
    with pytest.raises(TypeError, match="generate"):
        llama_mtp.generate(model, "x", max_token=3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="stream"):
        llama_mtp.stream(model, "x", temp=0.5)  # type: ignore[call-overload]
    with pytest.raises(llama_mtp.InvalidArgumentError, match="stop strings must not be empty"):
        llama_mtp.generate(model, "x", max_tokens=3, stop="")


def test_parse_special_reads_special_tokens_in_text_prompts(model: llama_mtp.Model) -> None:
    bos = model.token_to_piece(model.bos)
    plain = llama_mtp.generate(model, bos + "hi", max_tokens=2, add_special=False)
    special = llama_mtp.generate(model, bos + "hi", max_tokens=2, add_special=False, parse_special=True)
    assert isinstance(plain, llama_mtp.Generation) and isinstance(special, llama_mtp.Generation)
    assert special.n_prompt_tokens < plain.n_prompt_tokens  # "<s>" became one token


def test_groups_of_a_long_prompt_list_continue_the_seeds(model: llama_mtp.Model) -> None:
    # 260 prompts run as 256 + 4: sequence i is seeded with seed + i in both groups
    kw = dict(max_tokens=6, temperature=3.0, draft="none")
    gens = llama_mtp.generate(model, ["Seeds"] * 260, seed=7, **kw)  # type: ignore[call-overload]
    tail = llama_mtp.generate(model, ["Seeds"] * 4, seed=7 + 256, **kw)  # type: ignore[call-overload]
    assert [g.tokens for g in gens[256:]] == [g.tokens for g in tail]
    assert len({tuple(g.tokens) for g in gens}) > 200  # not the first group's samples again

"""The options objects (llama_mtp/options.py): SamplingParams and DraftConfig are the one
definition of a request's options; keywords are a convenience that builds them; the
deprecated spellings warn and mean what they meant."""

from __future__ import annotations

import dataclasses
import inspect
import typing
import warnings
from pathlib import Path

import httpx
import pytest
from server_helpers import ServerProcess

import llama_mtp
from llama_mtp import options as opts
from llama_mtp.testing import tiny_mtp_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> llama_mtp.Model:
    return llama_mtp.Model(str(tiny_mtp_model(tmp_path_factory.mktemp("options") / "m.gguf")))


def test_the_keyword_forms_are_the_objects_fields() -> None:
    # the TypedDicts that type **options mirror the dataclasses: one list of fields each
    sampling = {f.name for f in dataclasses.fields(llama_mtp.SamplingParams)}
    draft = {f.name for f in dataclasses.fields(llama_mtp.DraftConfig)}
    assert set(opts.SamplingKwargs.__annotations__) == sampling
    assert set(opts.DraftKwargs.__annotations__) == draft - {"method"} | {"mtp"}
    assert set(opts.GenerateKwargs.__annotations__) == sampling | draft - {"method"} | {"mtp", "n_threads"}
    # every chat template option is render_chat()'s keyword, and nothing else is
    from llama_mtp.chat import render_chat

    render = {p.name for p in inspect.signature(render_chat).parameters.values() if p.kind is p.KEYWORD_ONLY}
    assert opts.CHAT_FIELDS == render | {"chat_template"}


def test_no_public_signature_repeats_the_option_keywords() -> None:
    for fn in (
        llama_mtp.generate,
        llama_mtp.stream,
        llama_mtp.chat,
        llama_mtp.chat_stream,
        llama_mtp.LLM.generate,
        llama_mtp.LLM.stream,
        llama_mtp.LLM.chat,
        llama_mtp.LLM.chat_stream,
        llama_mtp.LLM.__init__,
    ):
        names = set(inspect.signature(fn).parameters)
        assert not names & {"temperature", "max_tokens", "n_draft_max", "exact", "mtp", "top_k"}, fn


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: llama_mtp.SamplingParams(temperature=-1.0), llama_mtp.InvalidArgumentError),
        (lambda: llama_mtp.SamplingParams(top_p=0.0), llama_mtp.InvalidArgumentError),
        (lambda: llama_mtp.SamplingParams(min_p=1.0), llama_mtp.InvalidArgumentError),
        (lambda: llama_mtp.SamplingParams(max_tokens=-1), llama_mtp.InvalidArgumentError),
        (lambda: llama_mtp.SamplingParams(max_tokens=True), llama_mtp.ArgumentTypeError),
        (lambda: llama_mtp.SamplingParams(seed=2**32), llama_mtp.InvalidArgumentError),
        (lambda: llama_mtp.SamplingParams(stop=[1]), llama_mtp.ArgumentTypeError),
        (lambda: llama_mtp.SamplingParams(grammar=3), llama_mtp.ArgumentTypeError),
        (lambda: llama_mtp.SamplingParams(grammar="root ::= x", json_schema={}), llama_mtp.InvalidArgumentError),
        (lambda: llama_mtp.DraftConfig(method="eagle"), llama_mtp.InvalidArgumentError),
        (lambda: llama_mtp.DraftConfig(n_draft_max=0), llama_mtp.InvalidConfigError),
        (lambda: llama_mtp.DraftConfig(n_draft_max="always"), llama_mtp.LlamaError),
        (lambda: llama_mtp.DraftConfig(p_min=float("nan")), llama_mtp.InvalidConfigError),
        (lambda: llama_mtp.DraftConfig(ngram="ngram-cache"), llama_mtp.InvalidArgumentError),
        (lambda: llama_mtp.DraftConfig(exact=1), llama_mtp.ArgumentTypeError),
    ],
)
def test_a_bad_field_raises_when_the_object_is_made(make: typing.Callable[[], object], error: type) -> None:
    with pytest.raises(error):
        make()


def test_objects_are_frozen_and_normalized() -> None:
    s = llama_mtp.SamplingParams(stop="END")
    assert s.stop == ("END",) and s.stops == ("END",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.temperature = 1.0  # type: ignore[misc]
    assert llama_mtp.DraftConfig().adaptive and llama_mtp.DraftConfig().longest_mtp_draft == llama_mtp.AUTO_DRAFT_MAX
    assert llama_mtp.DraftConfig(n_draft_max=3).longest_mtp_draft == 3


def test_keywords_build_the_same_objects(model: llama_mtp.Model) -> None:
    sampling = llama_mtp.SamplingParams(max_tokens=12, temperature=0.8, top_k=20, seed=3)
    by_object = llama_mtp.generate(model, "Once upon", sampling=sampling, draft=llama_mtp.DraftConfig(n_draft_max=2))
    by_keywords = llama_mtp.generate(model, "Once upon", max_tokens=12, temperature=0.8, top_k=20, seed=3, n_draft_max=2)
    assert by_object.tokens == by_keywords.tokens and len(by_object.tokens) == 12
    # a keyword replaces the object's field
    shorter = llama_mtp.generate(model, "Once upon", sampling=sampling, max_tokens=5)
    assert shorter.tokens == by_object.tokens[:5]
    with pytest.raises(llama_mtp.ArgumentTypeError, match=r"generate\(\) got an unexpected keyword argument 'temp'"):
        llama_mtp.generate(model, "x", temp=0.5)  # type: ignore[call-overload]
    with pytest.raises(llama_mtp.ArgumentTypeError, match="sampling must be a SamplingParams"):
        llama_mtp.generate(model, "x", sampling={"max_tokens": 3})  # type: ignore[call-overload]


def test_an_llm_takes_its_draft_config_once_and_requests_narrow_it(model: llama_mtp.Model) -> None:
    with llama_mtp.LLM(model, n_ctx=512, draft=llama_mtp.DraftConfig(n_draft_max=3, n_min=1), n_threads=1) as llm:
        assert llm.draft_config.n_draft_max == 3 and llm.draft_config.method == "auto"
        assert llm.draft_config.ngram_n_max is not None  # resolved for the model
        plain = llm.generate("Once upon", draft="none", max_tokens=8)
        assert plain.stats is None or plain.stats.n_drafts == 0
        short = llm.generate("Once upon", draft=llama_mtp.DraftConfig(n_draft_max=2, n_min=1), max_tokens=8)
        assert short.tokens == plain.tokens  # greedy: drafting never changes the text
        assert max(short.draft_lengths, default=0) <= 2
        with pytest.raises(llama_mtp.InvalidOptionError, match="set once") as info:
            llm.generate("x", n_min=2)
        assert info.value.field == "n_min"
        with pytest.raises(llama_mtp.InvalidOptionError, match="at most 3"):
            llm.generate("x", n_draft_max=5)
        with pytest.raises(llama_mtp.ArgumentTypeError, match="LLM.generate"):
            llm.generate("x", temp=1.0)  # type: ignore[call-overload]
        assert llm.generate("Once upon", max_tokens=8).tokens == plain.tokens  # still usable
    with pytest.raises(llama_mtp.ArgumentTypeError, match="unexpected keyword argument 'temperature'"):
        llama_mtp.LLM(model, temperature=0.5)  # type: ignore[call-arg]


def test_the_deprecated_spellings_warn_and_keep_their_meaning(model: llama_mtp.Model) -> None:
    with pytest.warns(DeprecationWarning, match="mtp= is deprecated") as record:
        g = llama_mtp.generate(model, "Once upon", max_tokens=6, mtp=False)
    assert g.stats is None and not g.drafter_stats.get("ngram", {}).get("steps")
    assert record[0].filename == __file__  # the warning points at the caller's line
    with pytest.warns(DeprecationWarning, match='now spelled "adaptive"'):
        config = llama_mtp.DraftConfig(n_draft_max="auto")  # type: ignore[arg-type]
    assert config.n_draft_max == "adaptive"
    with pytest.warns(DeprecationWarning, match='now spelled "adaptive"') as record:
        with llama_mtp.LLM(model, n_ctx=256, n_draft_max="auto", n_threads=1) as llm:
            assert llm.draft_config.adaptive
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new spellings do not warn
        llama_mtp.generate(model, "x", max_tokens=2, draft="none", n_draft_max="adaptive")


def test_every_exception_derives_from_llama_error() -> None:
    import llama_mtp.serving.requests as requests

    classes = [getattr(llama_mtp, n) for n in llama_mtp.__all__]
    classes += [requests.RequestError, opts.InvalidOptionError]
    errors = [c for c in classes if inspect.isclass(c) and issubclass(c, BaseException)]
    assert len(errors) > 25
    assert [e.__name__ for e in errors if not issubclass(e, llama_mtp.LlamaError)] == []
    assert issubclass(llama_mtp.QueueFullError, llama_mtp.LlamaError)
    assert issubclass(llama_mtp.EngineStoppedError, llama_mtp.LlamaError)


def test_serve_ctx_size_is_the_total_split_across_slots(tmp_path: Path) -> None:
    path = tiny_mtp_model(tmp_path / "m.gguf")
    s = ServerProcess(path, "-np", "4", "-c", "2048")
    try:
        meta = httpx.get(f"{s.url}/v1/models", timeout=30).json()["data"][0]["meta"]
        assert meta["parallel"] == 4 and meta["n_ctx_per_sequence"] == 512
        assert any("2048 KV cells, 4 slot(s) of 512 tokens each" in line for line in s.output)
    finally:
        assert s.stop()

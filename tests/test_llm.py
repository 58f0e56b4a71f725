"""llama_mtp.LLM: the warm engine object. Prefix reuse across calls (dense: any common prefix;
hybrid: the state after the prompt, or the whole kept state when the prompt extends it), multi-
turn chat that decodes only the new messages, threads sharing steps, close semantics, bad input."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from chat_helpers import chat_model_path
from child import run_child

import llama_mtp
from llama_mtp.testing import tiny_mtp_model

HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(scope="module", params=["dense", "hybrid"])
def chat_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> llama_mtp.Model:
    return llama_mtp.Model(chat_model_path(tmp_path_factory.mktemp("llm-chat"), kind=request.param))


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_multi_turn_chat_decodes_only_the_new_messages(chat_model: llama_mtp.Model) -> None:
    template = llama_mtp.ChatTemplate(chat_model)
    messages: list[dict[str, str]] = list(HELLO)
    previous: list[int] = []
    with llama_mtp.LLM(chat_model, n_ctx=2048) as llm:
        for turn in range(5):
            before = (llm.stats.prompt_tokens, llm.stats.cached_prompt_tokens)
            reply = llm.chat(messages, max_tokens=12)
            fresh = llama_mtp.chat(chat_model, messages, max_tokens=12)
            assert reply.generation.tokens == fresh.generation.tokens, turn  # greedy: as a fresh chat()
            assert reply.content == fresh.content
            tokens = [int(t) for t in chat_model.tokenize(reply.prompt.prompt, parse_special=True)]
            assert reply.prompt.prompt == template.apply(__import__("json").dumps(messages)).prompt
            decoded = (llm.stats.prompt_tokens - before[0]) - (llm.stats.cached_prompt_tokens - before[1])
            assert reply.generation.n_prompt_tokens == len(tokens)
            assert decoded == len(tokens) - reply.generation.n_cached_tokens
            if turn == 0:
                assert reply.generation.n_cached_tokens == 0
            else:
                # everything up to where the new messages begin comes from the slot (the earlier
                # prompt but the generation prompt's last token, which the loop decodes itself)
                assert reply.generation.n_cached_tokens == min(common_prefix(tokens, previous), len(previous) - 1)
                assert reply.generation.n_cached_tokens >= len(previous) - 2
            previous = tokens
            messages = [
                *messages,
                {"role": "assistant", "content": reply.content},
                {"role": "user", "content": f"And then {turn}?"},
            ]


def test_a_prompt_that_parts_early_reuses_only_what_is_shared(chat_model: llama_mtp.Model) -> None:
    base = [int(t) for t in chat_model.tokenize("one two three four five six seven eight")]
    other = base[:3] + [int(t) + 1 for t in base[3:]]
    with llama_mtp.LLM(chat_model, n_ctx=1024) as llm:
        first = llm.generate(base, max_tokens=8)
        second = llm.generate(other, max_tokens=8)
        again = llm.generate(base + first.tokens + base[1:4], max_tokens=8)
    assert second.tokens == llama_mtp.generate(chat_model, other, max_tokens=8).tokens
    assert again.tokens == llama_mtp.generate(chat_model, base + first.tokens + base[1:4], max_tokens=8).tokens
    # dense: the shared 3 tokens; hybrid: its state cannot go back to position 3, so nothing
    assert second.n_cached_tokens == (0 if chat_model.is_hybrid else 3)
    assert again.n_cached_tokens == (0 if chat_model.is_hybrid else 3)


def test_a_continuation_of_prompt_and_reply_reuses_all_of_it(chat_model: llama_mtp.Model) -> None:
    prompt = [int(t) for t in chat_model.tokenize("once upon a time")]
    with llama_mtp.LLM(chat_model, n_ctx=1024) as llm:
        first = llm.generate(prompt, max_tokens=10)
        longer = prompt + first.tokens + prompt[1:]
        second = llm.generate(longer, max_tokens=10)
    # the KV holds the prompt and every generated token but the last (never decoded)
    assert second.n_cached_tokens == len(prompt) + len(first.tokens) - 1
    assert second.tokens == llama_mtp.generate(chat_model, longer, max_tokens=10).tokens


def test_the_controller_and_its_costs_persist_across_calls(chat_model: llama_mtp.Model) -> None:
    with llama_mtp.LLM(chat_model, n_ctx=1024) as llm:
        first = llm.generate("a b c", max_tokens=20)
        second = llm.generate("d e f", max_tokens=20)
        assert first.controller is not None and second.controller is not None
        assert second.controller.n_steps >= first.controller.n_steps + second.n_steps
        assert llm.generator is llm.generator  # one generator for the LLM's life


def test_streams_admitted_together_share_every_step(chat_model: llama_mtp.Model) -> None:
    prompts = ["a b", "c d e", "f", "g h i j"]
    expected = [llama_mtp.generate(chat_model, p, max_tokens=16).tokens for p in prompts]
    with llama_mtp.LLM(chat_model, n_ctx=4 * 256, n_parallel=4) as llm:
        streams = [llm.stream(p, max_tokens=16) for p in prompts]
        results: list[list[int]] = [[] for _ in prompts]

        def consume(i: int) -> None:
            for _ in streams[i]:
                pass
            result = streams[i].result
            assert isinstance(result, llama_mtp.Generation)
            results[i] = result.tokens

        threads = [threading.Thread(target=consume, args=(i,)) for i in range(len(prompts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert results == expected
        # one target batch per step for all four: the steps are those of the longest
        steps = [s.result.n_steps for s in streams if isinstance(s.result, llama_mtp.Generation)]
        assert llm.stats.steps == max(steps) < sum(steps)


def test_threads_calling_generate_get_the_sequential_results(chat_model: llama_mtp.Model) -> None:
    prompts = [f"word {i} and more" for i in range(6)]
    expected = [llama_mtp.generate(chat_model, p, max_tokens=12).tokens for p in prompts]
    got: dict[int, list[int]] = {}
    errors: list[BaseException] = []
    with llama_mtp.LLM(chat_model, n_ctx=2 * 256, n_parallel=2) as llm:  # more callers than slots: they queue
        barrier = threading.Barrier(len(prompts))

        def call(i: int) -> None:
            try:
                barrier.wait()
                got[i] = llm.generate(prompts[i], max_tokens=12).tokens
            except BaseException as e:  # noqa: BLE001  # reported below
                errors.append(e)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(prompts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors and not any(t.is_alive() for t in threads)
    assert [got[i] for i in range(len(prompts))] == expected


def test_breaking_out_of_a_stream_frees_its_slot(chat_model: llama_mtp.Model) -> None:
    with llama_mtp.LLM(chat_model, n_ctx=512) as llm:
        s = llm.stream("a b c", max_tokens=64, ignore_eos=True)
        for _ in s:
            break
        assert s.result is None and llm.generator.free_slots == [0]
        assert llm.stats.requests_cancelled == 1
        g = llm.generate("a b c", max_tokens=8)
        assert g.tokens == llama_mtp.generate(chat_model, "a b c", max_tokens=8).tokens


def test_close_is_final_and_idempotent(chat_model: llama_mtp.Model) -> None:
    llm = llama_mtp.LLM(chat_model, n_ctx=512)
    waiting = llm.stream("a b", max_tokens=4)
    llm.close()
    llm.close()
    assert llm.closed and "closed" in repr(llm)
    with pytest.raises(llama_mtp.EngineStoppedError):
        llm.generate("a", max_tokens=2)
    with pytest.raises(llama_mtp.EngineStoppedError):
        list(waiting)  # its request failed with the LLM
    with pytest.raises(llama_mtp.EngineStoppedError):
        _ = llm.generator
    # one error hierarchy: the engine's own errors are LlamaErrors too
    assert issubclass(llama_mtp.EngineStoppedError, llama_mtp.LlamaError)
    assert issubclass(llama_mtp.QueueFullError, llama_mtp.LlamaError)
    chat_model.tokenize("the model stays usable")


def test_bad_arguments_raise_typed_errors_and_leave_it_usable(chat_model: llama_mtp.Model, tmp_path: Path) -> None:
    with pytest.raises(llama_mtp.ModelNotFoundError):
        llama_mtp.LLM(tmp_path / "missing.gguf")
    with pytest.raises(TypeError):
        llama_mtp.LLM(42)  # type: ignore[arg-type]
    with pytest.raises(llama_mtp.InvalidArgumentError, match="n_parallel"):
        llama_mtp.LLM(chat_model, n_parallel=0)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="n_ctx"):
        llama_mtp.LLM(chat_model, n_ctx=16)
    with pytest.raises(llama_mtp.InvalidConfigError, match="p_min"):
        llama_mtp.LLM(chat_model, p_min=2.0)
    # bools where bools are documented: "no" and 0 would read as a truth value
    with pytest.raises(llama_mtp.ArgumentTypeError, match="exact"):
        llama_mtp.LLM(chat_model, exact="no")  # type: ignore[arg-type]
    with pytest.raises(llama_mtp.ArgumentTypeError, match="mtp"):
        llama_mtp.LLM(chat_model, mtp=0)  # type: ignore[arg-type]
    # checked whatever drafts: on n-gram drafts alone too
    with pytest.raises(llama_mtp.InvalidConfigError, match="p_min"):
        llama_mtp.LLM(chat_model, p_min=float("nan"), draft="ngram")
    with llama_mtp.LLM(chat_model, n_ctx=256, draft="none", n_threads=1) as plain:
        with pytest.raises(llama_mtp.InvalidConfigError, match="n_draft_max"):
            plain.generate("a", max_tokens=2, n_draft_max=-5)
    with llama_mtp.LLM(chat_model, n_ctx=256, n_draft_max=3, n_threads=1) as llm:
        with pytest.raises(llama_mtp.InvalidArgumentError, match="n_threads"):
            llm.generate("a", n_threads=2)
        with pytest.raises(llama_mtp.InvalidArgumentError, match="sized for drafts of at most 3"):
            llm.generate("a", n_draft_max=5)
        with pytest.raises(llama_mtp.InvalidArgumentError, match="adaptive"):
            llm.generate("a", n_draft_max="adaptive")
        with pytest.raises(llama_mtp.InvalidArgumentError, match="does not fit"):
            llm.generate(list(range(1, 300)), max_tokens=2)
        with pytest.raises(llama_mtp.InvalidArgumentError, match="empty"):
            llm.generate([], max_tokens=2)
        with pytest.raises(llama_mtp.InvalidArgumentError, match="max_tokens"):
            llm.generate("a", max_tokens=-1)
        with pytest.raises(TypeError):
            llm.generate(["a", [1, 2]])  # type: ignore[call-overload]
        for bad, kind, field in (
            (dict(exact="no"), llama_mtp.ArgumentTypeError, "exact"),
            (dict(mtp=0), llama_mtp.ArgumentTypeError, "mtp"),
            (dict(ignore_eos=1), llama_mtp.ArgumentTypeError, "ignore_eos"),
            (dict(grammar=42), llama_mtp.ArgumentTypeError, "grammar"),
            (dict(grammar="root ::= oops ("), llama_mtp.InvalidArgumentError, "grammar|parse"),
        ):
            with pytest.raises(kind, match=field):
                llm.generate("a", max_tokens=2, **bad)  # type: ignore[call-overload]
        g = llm.generate("a b", max_tokens=4, n_draft_max=2)
        assert g.finish_reason in ("stop", "length") and llm.stats.requests_failed == 0
        assert llm.generate("a b", max_tokens=4, draft="none").stats is not None  # the LLM's session, idle here


def test_ctrl_c_while_generating_leaves_the_llm_usable(chat_model: llama_mtp.Model) -> None:
    out = run_child(
        """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.setswitchinterval(1000)
llm = L.LLM(sys.argv[1], n_ctx=16384 + 256)
prompt = (np.arange(16000, dtype=np.int32) % 50 + 1)
go = threading.Event()
def interrupt():
    go.wait()
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=interrupt).start()
go.set()
try:
    llm.generate(prompt, max_tokens=4)
    print("completed")
except KeyboardInterrupt:
    print("interrupted")
g = llm.generate([1, 2, 3], max_tokens=4)
print("after", len(g.tokens), g.finish_reason)
""",
        chat_model.path,
    )
    assert out.split()[0] in ("interrupted", "completed") and out.split()[-3:] == ["after", "4", "length"], out


def test_numpy_prompts_are_taken_as_token_ids(chat_model: llama_mtp.Model) -> None:
    ids = chat_model.tokenize("a b c")
    with llama_mtp.LLM(chat_model, n_ctx=256) as llm:
        assert llm.generate(ids, max_tokens=4).tokens == llm.generate(list(map(int, ids)), max_tokens=4).tokens
        both = llm.generate([ids, np.asarray(ids)], max_tokens=4)
    assert isinstance(both, list) and both[0].tokens == both[1].tokens


def test_a_request_admitted_by_the_stepping_thread_gets_its_first_token_in_one_step(chat_model: llama_mtp.Model) -> None:
    # as the server's requests are: queued, then admitted by whichever thread steps. The prompt
    # joins the step's batch (a dense target) and that decode gives its first token (a step
    # that verified nothing: not counted); a recurrent/hybrid target prefills apart, and its
    # first step gives the first tokens
    from llama_mtp._scheduler import Job, JobOptions

    with llama_mtp.LLM(chat_model, n_ctx=512) as llm:
        scheduler = llm._scheduler  # noqa: SLF001
        job = Job(chat_model.tokenize("Once upon a time").tolist(), JobOptions(llama_mtp.SamplingParams(max_tokens=16)))
        scheduler.submit([job])
        gen = scheduler.generator_or_raise()
        scheduler.drive(lambda: job.n_generated > 0 or job.done, own=[job])
        hybrid = chat_model.is_recurrent or chat_model.is_hybrid
        assert gen.n_steps == (1 if hybrid else 0)
        assert job.n_generated > 1 if hybrid else job.n_generated == 1
        scheduler.drive(lambda: job.done, own=[job])
        assert job.result_tokens == llm.generate("Once upon a time", max_tokens=16, draft="none").tokens


def test_a_grammar_as_text_a_long_ngram_draft_and_a_bytes_path(chat_model: llama_mtp.Model) -> None:
    # 100: inside the documented range, beyond an MTP draft's (64, the most snapshots a recurrent
    # or hybrid target keeps)
    longest = 64 if chat_model.is_recurrent or chat_model.is_hybrid else 100
    with llama_mtp.LLM(os.fsencode(chat_model.path), n_ctx=256, n_threads=1, ngram_n_max=longest) as llm:
        vocabulary = llm.model.detokenize([llm.model.tokenize("a", add_special=False)[0]])
        g = llm.generate("a", max_tokens=3, grammar=f'root ::= "{vocabulary}"+')
        assert g.text and set(g.text.split()) <= {vocabulary.strip()}
    with llama_mtp.LLM(tiny_mtp_model(kind="dense"), n_ctx=256, n_threads=1, ngram_n_max=100) as dense:
        assert dense.generate("a b a b a b", max_tokens=8).finish_reason == "length"


@pytest.mark.parametrize("n_draft_max", [1, 4, 6, "adaptive"])
def test_the_context_ends_where_plain_decoding_ends(n_draft_max: int | str) -> None:
    """A fully accepted draft at the last KV cells yields no token more than plain decoding."""
    model = llama_mtp.Model(str(tiny_mtp_model(kind="dense", acceptance=1.0)))
    with (
        llama_mtp.LLM(model, n_ctx=256, draft="none", n_threads=1) as plain,
        llama_mtp.LLM(model, n_ctx=256, draft="mtp", n_draft_max=n_draft_max, n_threads=1) as drafted,
    ):  # type: ignore[arg-type]
        for n_prompt in range(3, 10):
            prompt = list(range(5, 5 + n_prompt))
            want = plain.generate(prompt, max_tokens=1000, ignore_eos=True)
            got = drafted.generate(prompt, max_tokens=1000, ignore_eos=True)
            assert got.finish_reason == want.finish_reason == "length"
            assert got.tokens == want.tokens, n_prompt
            assert got.stats is not None and got.stats.accepted_tokens > 0

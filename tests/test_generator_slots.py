"""Generator slots (continuous batching): sequences join and leave between steps, each with its
own options, and generate exactly what they would alone."""

from __future__ import annotations

import re

import pytest

import llama_mtp
from llama_mtp.sizing import mtp_context_params


def open_slots(
    model: llama_mtp.Model, n_slots: int, *, mtp: bool = True, adaptive: bool = True, n_draft_max: int = 4
) -> llama_mtp.Generator:
    sizes = mtp_context_params(model, n_draft_max=n_draft_max, n_seq=n_slots, n_ctx=512, n_threads=2)
    target = llama_mtp.Context(model, **sizes.target())  # type: ignore[arg-type]
    draft = llama_mtp.Context(model, **sizes.draft()) if mtp else None  # type: ignore[arg-type]
    return llama_mtp.Generator.with_slots(target, draft, n_slots=n_slots, n_draft_max=n_draft_max, adaptive=adaptive)


def alone(model: llama_mtp.Model, prompt: str, n: int) -> list[int]:
    return llama_mtp.generate(model, prompt, max_tokens=n, draft="none", ignore_eos=True).tokens


def test_sequences_joining_between_steps_generate_what_they_would_alone(model: llama_mtp.Model) -> None:
    gen = open_slots(model, 3)
    assert gen.done and gen.n_slots == 3 and gen.free_slots == [0, 1, 2] and gen.active_slots == []
    prompts = {"First prompt": 40, "Second one joins later": 25, "Third, later still": 30}
    slots: dict[str, int] = {}
    order = list(prompts)
    slots[order[0]] = gen.add([model.tokenize(order[0])], max_tokens=prompts[order[0]], ignore_eos=True)[0]
    steps = 0
    while not gen.done or len(slots) < len(order):
        if steps == 3 and len(slots) == 1:
            slots[order[1]] = gen.add([model.tokenize(order[1])], max_tokens=prompts[order[1]], ignore_eos=True)[0]
        if steps == 6 and len(slots) == 2:
            slots[order[2]] = gen.add([model.tokenize(order[2])], max_tokens=prompts[order[2]], ignore_eos=True)[0]
        gen.step()
        steps += 1
    assert sorted(slots.values()) == [0, 1, 2]
    for prompt, slot in slots.items():
        assert gen.tokens[slot] == alone(model, prompt, prompts[prompt]), prompt
        assert gen.finish_reasons[slot] == "length"


def test_released_slots_are_reused_and_start_clean(model: llama_mtp.Model) -> None:
    gen = open_slots(model, 2)
    a, b = gen.add([model.tokenize("Alpha"), model.tokenize("Beta")], max_tokens=12, ignore_eos=True)
    while not gen.done:
        gen.step()
    with pytest.raises(llama_mtp.GeneratorFullError):
        gen.add([model.tokenize("Gamma")], max_tokens=5)
    gen.release(a)
    assert gen.free_slots == [a]
    (c,) = gen.add([model.tokenize("Gamma")], max_tokens=20, ignore_eos=True)
    assert c == a
    while not gen.done:
        gen.step()
    assert gen.tokens[c] == alone(model, "Gamma", 20)
    assert gen.tokens[b] == alone(model, "Beta", 12)  # a finished sequence keeps its result until released


def test_cancel_stops_a_sequence_and_release_needs_it(model: llama_mtp.Model) -> None:
    gen = open_slots(model, 2)
    a, b = gen.add([model.tokenize("Keeps going"), model.tokenize("Cancelled")], max_tokens=30, ignore_eos=True)
    gen.step()
    with pytest.raises(llama_mtp.InvalidArgumentError, match="cancel"):
        gen.release(b)
    gen.cancel(b)
    assert gen.finish_reasons[b] == "cancelled" and gen.active_slots == [a]
    n_b = len(gen.tokens[b])
    gen.release(b)
    while not gen.done:
        gen.step()
    assert gen.tokens[a] == alone(model, "Keeps going", 30) and n_b < 30
    with pytest.raises(llama_mtp.InvalidArgumentError):
        gen.cancel(7)


def test_per_sequence_options(model: llama_mtp.Model) -> None:
    """One generator, sequences with their own draft length (none, fixed, the generator's),
    length and stop strings."""
    gen = open_slots(model, 3)
    expected = alone(model, "Options", 24)
    text = model.detokenize(expected)
    stop = text.split()[5]
    plain, fixed, auto = (gen.add([model.tokenize("Options")], max_tokens=24, ignore_eos=True, n_draft=n)[0] for n in (0, 2, -1))
    gen.cancel(auto)
    gen.release(auto)
    (stopped,) = gen.add([model.tokenize("Options")], max_tokens=24, stop=[stop], ignore_eos=True)
    while not gen.done:
        gen.step()
    assert gen.tokens[plain] == expected and gen.tokens[fixed] == expected
    assert gen.finish_reasons[stopped] == "stop" and stop not in gen.text(stopped)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="n_draft"):
        gen.add([model.tokenize("x")], max_tokens=4, n_draft=5)  # more than the generator's 4


def test_bad_prompts_take_no_slot(model: llama_mtp.Model) -> None:
    gen = open_slots(model, 2, mtp=False)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        gen.add([[]], max_tokens=4)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        gen.add([[model.n_vocab]], max_tokens=4)
    with pytest.raises(llama_mtp.InvalidArgumentError):
        gen.add([model.tokenize("x") * 600], max_tokens=4)  # longer than a slot's cells
    with pytest.raises(llama_mtp.InvalidArgumentError):
        gen.add([model.tokenize("x")], max_tokens=-1)
    assert gen.free_slots == [0, 1]
    with pytest.raises(llama_mtp.InvalidArgumentError):
        llama_mtp.Generator.with_slots(gen_target(model), None, n_slots=0)


def gen_target(model: llama_mtp.Model) -> llama_mtp.Context:
    return llama_mtp.Context(model, n_ctx=256, n_seq_max=1, n_threads=2)


def test_grammar_constrains_drafted_and_plain_alike(model: llama_mtp.Model) -> None:
    """Verification samples through the grammar: MTP drafting keeps greedy output equal to
    plain decoding's, and every token is the grammar's."""
    grammar = llama_mtp.Grammar.from_gbnf(model, 'root ::= ("yes" | "no") (" " [a-z]{2,6}){3,6} "."')
    runs = [
        llama_mtp.generate(model, "Answer", max_tokens=64, grammar=grammar, draft=d, n_draft_max=n)
        for d, n in (("none", 3), ("auto", 3), ("auto", "adaptive"))
    ]
    assert runs[0].tokens == runs[1].tokens == runs[2].tokens
    assert re.fullmatch(r"(yes|no)( [a-z]{2,6}){3,6}\.", runs[0].text), runs[0].text
    assert runs[0].finish_reason == "stop"
    sampled = llama_mtp.generate(model, "Answer", max_tokens=200, grammar=grammar, temperature=1.0, seed=5)
    assert re.fullmatch(r"(yes|no)( [a-z]{2,6}){3,6}\.", sampled.text), sampled.text


def test_a_released_slot_keeps_its_prefix_for_the_next_prompt(dense_model: llama_mtp.Model) -> None:
    """Non-recurrent targets keep a released slot's KV: a prompt that starts the same way (the
    next turn of a chat) decodes only the rest, and generates what it would alone."""
    model = dense_model
    gen = open_slots(model, 2)
    first = model.tokenize("A shared beginning of a conversation, then the first turn")
    (a,) = gen.add([first], max_tokens=12, ignore_eos=True)
    while not gen.done:
        gen.step()
    kept = list(first) + gen.tokens[a]
    gen.release(a)
    before = gen.n_prompt_tokens
    follow_up = kept + model.tokenize(" and more", add_special=False).tolist()
    (b,) = gen.add([follow_up], max_tokens=16, ignore_eos=True, n_draft=2)
    assert b == a  # the slot with the longest shared prefix
    assert gen.n_prompt_tokens - before <= len(follow_up) - len(first)  # only the new part was decoded
    while not gen.done:
        gen.step()
    assert gen.tokens[b] == llama_mtp.generate(model, follow_up, max_tokens=16, draft="none", ignore_eos=True).tokens
    # a prompt sharing nothing starts clean, also in a slot that kept something
    gen.release(b)
    (c,) = gen.add([model.tokenize("Unrelated")], max_tokens=10, ignore_eos=True)
    while not gen.done:
        gen.step()
    assert gen.tokens[c] == alone(model, "Unrelated", 10)


@pytest.mark.parametrize("join", [False, True])
def test_joining_the_next_step_generates_the_same(model: llama_mtp.Model, join: bool) -> None:
    gen = open_slots(model, 3)
    (a,) = gen.add([model.tokenize("Already running")], max_tokens=30, ignore_eos=True)
    gen.step()
    gen.step()
    b, c = gen.add_sequences(
        [model.tokenize("Joins"), model.tokenize("Joins too")],
        [
            llama_mtp.SequenceOptions(max_tokens=20, ignore_eos=True),
            llama_mtp.SequenceOptions(max_tokens=15, ignore_eos=True, n_draft=0),
        ],
        join_next_step=join,
    )
    while not gen.done:
        gen.step()
    assert gen.tokens[a] == alone(model, "Already running", 30)
    assert gen.tokens[b] == alone(model, "Joins", 20) and gen.tokens[c] == alone(model, "Joins too", 15)


@pytest.mark.parametrize("running", [False, True], ids=["alone", "beside another"])
def test_a_joining_prompt_gets_its_first_token_from_its_own_decode(dense_model: llama_mtp.Model, running: bool) -> None:
    # the step that decodes the prompt samples its first token (time to first token as plain
    # decoding's), and feeds the draft context, so that the next step drafts at once
    gen = open_slots(dense_model, 2, adaptive=False, n_draft_max=3)
    if running:
        (a,) = gen.add([dense_model.tokenize("Already running")], max_tokens=40, ignore_eos=True)
        gen.step()
    (b,) = gen.add_sequences(
        [dense_model.tokenize("Joins")], [llama_mtp.SequenceOptions(max_tokens=20, ignore_eos=True)], join_next_step=True
    )
    assert gen.tokens[b] == []
    first = gen.step()[b]
    assert first == alone(dense_model, "Joins", 1)
    assert len(gen.step()[b]) == 1 + 3  # every draft of the tiny model is right
    while not gen.done:
        gen.step()
    assert gen.tokens[b] == alone(dense_model, "Joins", 20)
    if running:
        assert gen.tokens[a] == alone(dense_model, "Already running", 40)

"""The draft head restricted to a draft vocabulary (patch 0008, src/engine/draft_vocab.cpp):
drafts come from the set (and the text's own tokens) only, a set holding what the whole head would
draft changes no draft, the text never changes, bad input is refused and leaves the context usable."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from child import run_child
from mtp_helpers import Loop, mtp_contexts

import llama_mtp

PROMPT = np.array([1, 5, 6, 7, 8], dtype=np.int32)


def run(
    model: llama_mtp.Model, vocab: np.ndarray | None = None, *, n: int = 40, spare: int = 64
) -> tuple[list[int], list[list[int]], int | None]:
    """Greedy speculative decoding of n tokens: (text, each step's draft, the set's final size)."""
    target, draft = mtp_contexts(model)
    if vocab is not None:
        assert draft.set_draft_vocabulary(vocab, spare=spare) >= 1  # the model's head was restricted
    session = llama_mtp.MtpSession(target, draft)
    loop = Loop(session, PROMPT)
    drafts: list[list[int]] = []
    while len(loop.out) < n:
        proposal = loop.draft()
        drafts.append(proposal.tolist())
        session.accept(0, loop.verify(proposal))
        loop.commit()
    return loop.out, drafts, draft.draft_vocabulary_size


def test_the_whole_vocabulary_as_a_set_changes_no_draft(model: llama_mtp.Model) -> None:
    text, drafts, _ = run(model)
    assert run(model, np.arange(model.n_vocab)) == (text, drafts, model.n_vocab)


def test_a_set_holding_every_draft_of_the_whole_head_changes_none(model: llama_mtp.Model) -> None:
    # the logits of the set's tokens are the whole head's, so the argmax over a set holding it is
    # the same token: a wrong row or a wrong slot mapping would draft another one
    text, drafts, _ = run(model)
    drafted = {t for d in drafts for t in d}
    rng = np.random.default_rng(0)
    others = rng.choice(model.n_vocab, 100, replace=False)
    vocab = np.array(sorted(drafted | {int(t) for t in others}), dtype=np.int32)
    assert len(vocab) < model.n_vocab // 2
    assert run(model, vocab)[:2] == (text, drafts)


def test_drafts_come_from_the_set_and_the_text_and_the_text_does_not_change(model: llama_mtp.Model) -> None:
    text, drafts, _ = run(model)
    even = np.arange(0, model.n_vocab, 2, dtype=np.int32)
    text_even, drafts_even, size = run(model, even)
    assert text_even == text  # the target verifies every token
    assert drafts_even != drafts  # the odd tokens the whole head drafted are out of reach
    admitted = set(PROMPT.tolist())
    for step, proposal in enumerate(drafts_even):
        assert all(t % 2 == 0 or t in admitted for t in proposal), (step, proposal)
        admitted.update(text[: sum(len(d) for d in drafts_even[: step + 1]) + step + 1])
    # the text's odd tokens were admitted as it went
    assert size == len(set(even.tolist()) | set(PROMPT.tolist()) | set(text[:-1]))


def test_a_full_set_is_rebuilt_with_more_room(model: llama_mtp.Model) -> None:
    text, _, _ = run(model)
    few = np.arange(0, 64, dtype=np.int32)  # nearly every token of the text is outside
    out, drafts, size = run(model, few, spare=0)
    assert out == text
    assert size is not None and size > len(few)


def test_several_sequences_draft_from_the_set_in_one_batch(model: llama_mtp.Model) -> None:
    # two slots drafting together: the head's logits have two columns (the transposing path); a
    # set of the whole vocabulary must accept exactly what the whole head does
    runs = []
    for vocab in ("full", range(model.n_vocab)):
        llm = llama_mtp.LLM(model, n_parallel=2, draft="mtp", n_draft_max=3, n_ctx=1024, draft_vocab=vocab)
        assert llm.draft_vocab_size == (None if vocab == "full" else model.n_vocab)
        texts = [g.text for g in llm.generate(["bapa bobe", "bobe bapa bapa"], max_tokens=32)]
        stats = llm.mtp_stats
        assert stats is not None
        runs.append((texts, stats.accepted_tokens, stats.draft_tokens))
        llm.close()
    assert runs[0] == runs[1] and runs[0][1] > 0


def test_bad_input_is_refused_and_the_context_stays_usable(model: llama_mtp.Model) -> None:
    target, draft = mtp_contexts(model)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="not one"):
        target.set_draft_vocabulary([1, 2, 3])  # not an MTP context
    with pytest.raises(llama_mtp.InvalidArgumentError, match="outside"):
        draft.set_draft_vocabulary([1, model.n_vocab])
    with pytest.raises(llama_mtp.InvalidArgumentError, match="twice"):
        draft.set_draft_vocabulary([3, 4, 3])
    with pytest.raises(llama_mtp.InvalidArgumentError):
        draft.set_draft_vocabulary([1, 2], spare=-1)
    with pytest.raises(TypeError):
        draft.set_draft_vocabulary("bapa")  # type: ignore[arg-type]
    assert draft.draft_vocabulary_size is None
    assert draft.set_draft_vocabulary(np.arange(10)) == 1 and draft.draft_vocabulary_size == 10
    assert draft.set_draft_vocabulary([]) == 0 and draft.draft_vocabulary_size is None  # the whole again
    session = llama_mtp.MtpSession(target, draft)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="before an MtpSession"):
        draft.set_draft_vocabulary([1, 2])  # its sampler was chosen for the head it had
    del session
    draft.close()
    with pytest.raises(llama_mtp.ClosedError):
        draft.set_draft_vocabulary([1])


def test_a_model_file_changed_under_the_model_is_refused_and_drafting_goes_on(model_path: Path, tmp_path: Path) -> None:
    # the rows are read from the file: a file that no longer holds the loaded head is a typed
    # error, the context keeps its whole vocabulary and drafts as before (in a child: a wrong
    # read must not take the test run with it)
    copy = tmp_path / "m.gguf"
    shutil.copyfile(model_path, copy)
    out = run_child(
        """
        import numpy as np
        sys.path.insert(0, sys.argv[2])
        from mtp_helpers import mtp_contexts
        m = L.Model(sys.argv[1], use_mmap=False)
        open(sys.argv[1], "wb").write(b"GGUF" + bytes(16))  # truncated
        target, draft = mtp_contexts(m)
        try:
            draft.set_draft_vocabulary(np.arange(10))
        except L.ModelLoadError as e:
            print("refused:", "could not be read" in str(e))
        print("size:", draft.draft_vocabulary_size)
        s = L.MtpSession(target, draft)
        b = L.Batch(8)
        b.set_tokens(np.array([1, 5, 6, 7], dtype=np.int32), logits_last=False)
        s.decode_target_and_process(b)
        print("drafts:", len(s.draft(0, 4, 8)))
        """,
        str(copy),
        str(Path(__file__).parent),
    )
    assert out.splitlines() == ["refused: True", "size: None", "drafts: 3"]


def test_a_repacked_quantized_head_is_read_from_the_file(model_path: Path, tmp_path: Path) -> None:
    # Q8_0 weights are repacked for the CPU's kernels and cannot be read back: the rows come
    # from the file in their own type, and the set's logits are the head's (no draft changes)
    q8 = tmp_path / "q8.gguf"
    llama_mtp.quantize(model_path, q8, "Q8_0")
    model = llama_mtp.Model(str(q8), repack=True)
    text, drafts, _ = run(model)
    drafted = {t for d in drafts for t in d}
    assert run(model, np.array(sorted(drafted | set(range(50))), dtype=np.int32))[:2] == (text, drafts)

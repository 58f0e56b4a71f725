"""The cost cache of n_draft_max="adaptive": what a controller learned is kept on disk per model,
machine and settings, and the next generation starts from it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from child import run_child

import llama_mtp
from llama_mtp import _cost_cache

# enough tokens for the controller to be kept (MIN_STEPS steps) even where every step accepts
# the longest draft: a shorter generation is, rightly, not written
LEARNING_TOKENS = (llama_mtp.AUTO_DRAFT_MAX + 1) * (_cost_cache.MIN_STEPS + 1)


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLAMA_MTP_COST_CACHE", "1")
    monkeypatch.setenv("LLAMA_MTP_CACHE_DIR", str(tmp_path))
    return tmp_path / "costs"


def test_a_second_generation_starts_where_the_first_ended(model: llama_mtp.Model, cache_dir: Path) -> None:
    first = llama_mtp.generate(model, "Once upon a time", max_tokens=LEARNING_TOKENS, n_threads=1)
    entries = list(cache_dir.glob("*.json"))
    assert len(entries) == 1
    saved = json.loads(entries[0].read_text())["state"]
    assert saved["acceptance_trials"][0] > 0
    second = llama_mtp.generate(model, "Once upon a time", max_tokens=LEARNING_TOKENS, n_threads=1)
    assert second.tokens == first.tokens
    # the first call warms up (drafting one token, then two plain steps); the second has no
    # warm-up: its first step is what a controller started from the stored state chooses. That
    # is a function of the state alone (no clock): the test holds however loaded the machine is.
    assert list(first.draft_lengths[:3]) == [1, 0, 0]
    assert second.controller is not None
    replay = llama_mtp.DraftController(second.controller.n_max, plain_skips_process=True)
    replay.start_from(saved)
    assert second.draft_lengths[0] == replay.next()
    assert second.controller.n_steps > 0 and replay.n_steps == 0


def test_the_cache_can_be_turned_off(model: llama_mtp.Model, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_MTP_COST_CACHE", "off")
    assert _cost_cache.cost_cache_dir() is None
    g = llama_mtp.generate(model, "Once upon a time", max_tokens=LEARNING_TOKENS, n_threads=1)
    assert not cache_dir.exists() and list(g.draft_lengths[:3]) == [1, 0, 0]


def test_a_model_whose_file_is_gone_generates_without_the_cache(tmp_path: Path, cache_dir: Path) -> None:
    import shutil

    from llama_mtp.testing import tiny_mtp_model

    path = shutil.copy(tiny_mtp_model(), tmp_path / "gone.gguf")
    model = llama_mtp.Model(str(path))
    Path(path).unlink()  # the weights stay mapped; the key has no file to describe
    g = llama_mtp.generate(model, "Once upon a time", max_tokens=24, n_threads=1)
    assert len(g.tokens) == 24 and not cache_dir.exists()


def test_the_key_separates_settings(model: llama_mtp.Model) -> None:
    key = _cost_cache.cost_key(model, n_threads=1, exact=False, n_draft_max=6)
    assert key == _cost_cache.cost_key(model, n_threads=1, exact=False, n_draft_max=6)
    others = {
        _cost_cache.cost_key(model, n_threads=2, exact=False, n_draft_max=6),
        _cost_cache.cost_key(model, n_threads=1, exact=True, n_draft_max=6),
        _cost_cache.cost_key(model, n_threads=1, exact=False, n_draft_max=3),
    }
    assert key not in others and len(others) == 3


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"format": 2, "state": 3}',
        '{"format": 99, "state": {}}',
        '{"format": 2, "state": {"acceptance_hits": "x"}}',
        '{"format": 1, "state": {"verify_seconds": [1.79, 0.129]}}',
    ],
)
def test_a_malformed_entry_is_ignored_and_rewritten(model: llama_mtp.Model, cache_dir: Path, content: str) -> None:
    key = _cost_cache.cost_key(model, n_threads=1, exact=False, n_draft_max=llama_mtp.AUTO_DRAFT_MAX)
    cache_dir.mkdir(parents=True)
    (cache_dir / f"{key}.json").write_text(content)
    g = llama_mtp.generate(model, "Once upon a time", max_tokens=LEARNING_TOKENS, n_threads=1)
    assert list(g.draft_lengths[:3]) == [1, 0, 0]  # a cold start
    assert json.loads((cache_dir / f"{key}.json").read_text())["format"] == _cost_cache.FORMAT


def test_a_controller_state_round_trips() -> None:
    c = llama_mtp.DraftController(4, plain_skips_process=True)
    for _ in range(30):
        k = c.next()
        c.observe(k, k, k, t_draft=0.001 * k, t_verify=0.01 + 0.001 * k, t_process=0.001 if k else 0.0)
    state = json.loads(json.dumps(c.state()))
    d = llama_mtp.DraftController(4, plain_skips_process=True)
    d.start_from(state)
    assert d.n_steps == 0 and not d.exploring and d.next() == c.best
    assert np.allclose(d.acceptance, c.acceptance, atol=0.05)
    with pytest.raises(TypeError, match="state must be a dict"):
        d.start_from([1, 2])  # type: ignore[arg-type]
    with pytest.raises(llama_mtp.InvalidArgumentError, match="verify_seconds"):
        d.start_from({**state, "verify_seconds": [float("nan")]})


def test_a_started_generator_refuses_a_prior(model: llama_mtp.Model) -> None:
    s = llama_mtp.stream(model, "Once upon a time", max_tokens=8, n_threads=1)
    state = llama_mtp.DraftController(llama_mtp.AUTO_DRAFT_MAX).state()
    pieces = iter(s)
    while s.generator.n_steps == 0:  # the first piece may come with the prompt, before any step
        next(pieces)
    with pytest.raises(llama_mtp.StateError, match="before the first step"):
        s.generator.start_controller_from(state)
    fixed = llama_mtp.stream(model, "Once upon a time", max_tokens=8, n_draft_max=2, n_threads=1)
    with pytest.raises(llama_mtp.InvalidArgumentError, match="adaptive"):
        fixed.generator.start_controller_from(state)


def simulated_state(accept: float, verify: Callable[[int], float]) -> dict[str, object]:
    """What a controller ends with after 300 steps of a world with this acceptance and verify cost."""
    rng = np.random.default_rng(0)
    c = llama_mtp.DraftController(llama_mtp.AUTO_DRAFT_MAX, plain_skips_process=True)
    for _ in range(300):
        k = c.next()
        accepted = 0
        while accepted < k and rng.random() < accept:
            accepted += 1
        c.observe(k, k, accepted, t_draft=0.0005 * k, t_verify=verify(k), t_process=0.001 if k else 0.0)
    return c.state()


@pytest.mark.parametrize(
    ("accept", "verify", "expected"),
    [
        (1.0, lambda k: 0.010 + 0.0002 * k, 6),  # the longest pays: every snapshot is needed
        (0.0, lambda k: 0.010 + 0.0002 * k, 1),  # plain decoding: only probes of one token
        (1.0, lambda k: 0.010 if k <= 2 else 0.050, 3),  # 2 is best by far: it and its neighbour above
    ],
)
def test_the_lengths_in_use_follow_what_was_learned(accept: float, verify: Callable[[int], float], expected: int) -> None:
    assert _cost_cache.lengths_in_use(simulated_state(accept, verify), llama_mtp.AUTO_DRAFT_MAX) == expected
    assert _cost_cache.lengths_in_use(None, llama_mtp.AUTO_DRAFT_MAX) == llama_mtp.AUTO_DRAFT_MAX
    assert _cost_cache.lengths_in_use({"probe_gap": "x"}, 4) == 4


def test_a_later_generation_sizes_its_contexts_to_the_lengths_in_use(cache_dir: Path) -> None:
    from llama_mtp.testing import tiny_mtp_model

    model = llama_mtp.Model(str(tiny_mtp_model(kind="hybrid")))
    # MTP alone: n-gram drafts size the contexts for their own length (NGRAM_DRAFT_MAX)
    llama_mtp.generate(model, "Once upon a time", max_tokens=LEARNING_TOKENS, n_threads=1, draft="mtp")
    (entry,) = cache_dir.glob("*.json")
    ceiling = _cost_cache.lengths_in_use(json.loads(entry.read_text())["state"], llama_mtp.AUTO_DRAFT_MAX)
    s = llama_mtp.stream(model, "Once upon a time", max_tokens=LEARNING_TOKENS, n_threads=1, draft="mtp")
    text = "".join(s)
    assert s._target.n_rs_seq == ceiling  # noqa: SLF001  # a hybrid target: one snapshot per draft position
    assert isinstance(s.result, llama_mtp.Generation) and s.result.controller is not None
    assert s.result.controller.n_max == ceiling and max(s.result.draft_lengths) <= ceiling
    assert text == llama_mtp.generate(model, "Once upon a time", max_tokens=LEARNING_TOKENS, draft="none").text


@pytest.mark.parametrize("entry", ["deep", "fifo", "zero", "huge", "directory"])
def test_an_entry_that_is_not_a_small_regular_file_is_a_miss(model: llama_mtp.Model, cache_dir: Path, entry: str) -> None:
    """Nested JSON deeper than the parser's recursion, a FIFO (reading would wait for a writer),
    a link to /dev/zero (an endless read), a file over the bound, a directory: each one is a
    miss, and the call generates from a cold start (in a child: a hang or a crash fails it)."""
    key = _cost_cache.cost_key(model, n_threads=1, exact=False, n_draft_max=llama_mtp.AUTO_DRAFT_MAX)
    cache_dir.mkdir(parents=True)
    path = cache_dir / f"{key}.json"
    if entry == "deep":
        path.write_text("[" * 200_000)
    elif entry == "fifo":
        os.mkfifo(path)
    elif entry == "zero":
        path.symlink_to("/dev/zero")
    elif entry == "huge":
        path.write_text('{"format": 2, "state": {}, "pad": "' + "x" * (_cost_cache.MAX_ENTRY_BYTES + 1) + '"}')
    else:
        path.mkdir()
    out = run_child(
        """
        import json
        from llama_mtp import _cost_cache
        m = L.Model(sys.argv[1])
        key = _cost_cache.cost_key(m, n_threads=1, exact=False, n_draft_max=L.AUTO_DRAFT_MAX)
        print(json.dumps({"loaded": _cost_cache.load(key),
                          "lengths": [int(k) for k in L.generate(m, "Once upon a time", max_tokens=24,
                                                                  n_threads=1).draft_lengths[:3]]}))
    """,
        model.path,
        timeout=60,
    )  # the cache directory's variables are inherited
    result = json.loads(out)
    assert result == {"loaded": None, "lengths": [1, 0, 0]}

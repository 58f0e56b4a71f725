"""llama_mtp.DraftController (src/bindings/draft_length.cpp, src/engine/draft_control.cpp): the
adaptive draft length, fed with simulated steps whose acceptance and costs the test sets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import llama_mtp
from llama_mtp import DraftController, InvalidArgumentError


@dataclass
class World:
    """A simulated machine and text: P(draft token accepted | the ones before were), and the
    seconds of a step's parts."""

    accept: float
    verify: Callable[[int], float] = lambda k: 0.010 + 0.0002 * k  # seconds for k + 1 rows
    draft_per_token: float = 0.0005
    process: float = 0.001


def run(c: DraftController, world: World, steps: int, rng: np.random.Generator) -> list[int]:
    chosen = []
    for _ in range(steps):
        k = c.next()
        plain = k == 0 and not c.exploring  # the loop skips process() then
        accepted = 0
        while accepted < k and rng.random() < world.accept:
            accepted += 1
        c.observe(
            k, k, accepted, t_draft=world.draft_per_token * k, t_verify=world.verify(k), t_process=0.0 if plain else world.process
        )
        chosen.append(k)
    return chosen


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_a_fresh_controller_starts_with_one_token() -> None:
    c = DraftController(6, plain_skips_process=True)
    assert (c.next(), c.exploring, c.n_max, c.n_steps) == (1, True, 6, 0)
    assert c.history.dtype == np.int32 and len(c.history) == 0
    assert llama_mtp.AUTO_DRAFT_MAX == DraftController().n_max == 6


def test_right_drafts_and_cheap_verifies_draft_the_longest(rng: np.random.Generator) -> None:
    c = DraftController(6, plain_skips_process=True)
    chosen = run(c, World(accept=1.0), 300, rng)
    assert c.best == 6
    assert chosen[-100:].count(6) >= 85  # the rest: probes of the neighbour below
    assert c.acceptance.min() > 0.9


def test_wrong_drafts_decode_plainly_and_keep_probing(rng: np.random.Generator) -> None:
    c = DraftController(6, plain_skips_process=True)
    chosen = run(c, World(accept=0.0), 1000, rng)
    assert c.best == 0
    assert chosen[20:].count(0) >= 0.98 * len(chosen[20:])
    probes = [i for i, k in enumerate(chosen) if k > 0 and i >= 4]
    assert len(probes) >= 3  # it keeps looking, ever more rarely
    gaps = np.diff(probes)
    assert (np.diff(gaps) >= 0).all() and gaps.max() <= 257


def test_a_costly_verify_makes_plain_decoding_best(rng: np.random.Generator) -> None:
    # every verify row costs more than the token it may win
    c = DraftController(6, plain_skips_process=True)
    chosen = run(c, World(accept=1.0, verify=lambda k: 0.010 * (k + 1) * 1.3), 400, rng)
    assert c.best == 0
    assert chosen[-200:].count(0) >= 190


def test_it_follows_the_text_both_ways(rng: np.random.Generator) -> None:
    c = DraftController(6, plain_skips_process=True)
    run(c, World(accept=0.0), 400, rng)
    assert c.best == 0
    later = run(c, World(accept=1.0), 400, rng)  # the text turns predictable
    assert np.mean(later[-100:]) >= 5
    again = run(c, World(accept=0.0), 200, rng)
    assert again[-100:].count(0) >= 95


def test_it_follows_the_load(rng: np.random.Generator) -> None:
    # a second process makes every extra verify row cost more: shorter drafts pay then
    c = DraftController(6, plain_skips_process=True)
    idle = run(c, World(accept=0.7, verify=lambda k: 0.010 + 0.0005 * k), 400, rng)
    busy = run(c, World(accept=0.7, verify=lambda k: 0.010 + 0.006 * k), 400, rng)
    assert np.mean(busy[-200:]) < np.mean(idle[-200:]) - 1


def test_acceptance_is_conditional_per_position(rng: np.random.Generator) -> None:
    c = DraftController(6, plain_skips_process=True)
    estimates = []
    for _ in range(40):
        run(c, World(accept=0.6, verify=lambda k: 0.010), 20, rng)
        estimates.append(c.acceptance[:3])
    assert np.abs(np.mean(estimates, axis=0) - 0.6).max() < 0.1
    a = c.acceptance
    expected = [1.0 + sum(np.prod(a[:i]) for i in range(1, k + 1)) for k in range(7)]
    np.testing.assert_allclose(c.expected_tokens, expected, rtol=1e-12)
    speed = c.expected_speed
    assert np.argmax(speed) == c.best
    np.testing.assert_allclose(speed, c.expected_tokens / c.step_seconds, rtol=1e-12)


def test_predicted_and_measured_speed_agree_in_a_steady_world(rng: np.random.Generator) -> None:
    c = DraftController(6, plain_skips_process=True)
    run(c, World(accept=0.8), 500, rng)
    assert c.measured_speed > 0
    assert abs(c.predicted_speed / c.measured_speed - 1) < 0.1
    assert c.t_verify > c.t_draft > 0 and c.t_process > 0
    assert len(c.history) == c.n_steps == 500


def steady(c: DraftController, k: int, t_verify: float, times: int = 3) -> None:
    """Steps of length k (all drafts accepted) whose verify costs t_verify: steady ones after the first."""
    for _ in range(times):
        c.observe(k, k, k, t_draft=0.0, t_verify=t_verify, t_process=0.0)


def test_an_unplayed_length_costs_the_chord_and_is_never_best() -> None:
    c = DraftController(6, plain_skips_process=True)
    steady(c, 0, 0.010)
    steady(c, 2, 0.014)
    steady(c, 4, 0.016)
    # between measured lengths: the chord (a concave cost curve, as on CPUs, never lies under
    # it); beyond the longest: flat, a lower bound. Neither is chosen as best on that guess.
    np.testing.assert_allclose(c.step_seconds[[1, 3, 5, 6]], [0.012, 0.015, 0.016, 0.016], rtol=1e-9)
    assert list(c.measured) == [1, 0, 1, 0, 1, 0, 0]
    assert c.best in (0, 2, 4)


def test_a_length_cheaper_than_the_line_keeps_its_measured_cost() -> None:
    # 4 rows cheaper than 3, as a kernel that tiles 4 rows at a time makes them
    c = DraftController(6, plain_skips_process=True)
    for k, t in [(0, 0.010), (1, 0.013), (2, 0.016), (3, 0.012)]:
        steady(c, k, t)
    assert c.step_seconds[3] < c.step_seconds[2]
    assert c.step_seconds[3] == pytest.approx(0.012, rel=0.15)


def test_a_cheap_length_off_the_line_is_found(rng: np.random.Generator) -> None:
    verify = {3: 0.0115}
    c = DraftController(6, plain_skips_process=True)
    chosen = run(c, World(accept=0.85, verify=lambda k: verify.get(k, 0.010 + 0.004 * k)), 600, rng)
    assert c.best == 3
    assert chosen[-200:].count(3) >= 185


def test_probes_fade_where_every_other_length_is_surely_worse(rng: np.random.Generator) -> None:
    # verifying up to 4 rows costs one row's time, a fifth row four times as much: 3 is best by
    # 20 % or more, and once that is sure, probing the others is waste
    c = DraftController(6, plain_skips_process=True)
    chosen = run(c, World(accept=1.0, verify=lambda k: 0.010 if k <= 3 else 0.040), 1500, rng)
    assert c.best == 3
    others = sum(k != 3 for k in chosen[-1000:])
    assert 0 < others <= 20  # a fixed every-24-steps schedule would spend 83 steps on them
    assert (c.optimistic_speed >= c.expected_speed - 1e-9).all()


def test_a_change_of_text_shows_within_a_few_steps(rng: np.random.Generator) -> None:
    # a quoted passage (every draft right) ends and free text begins (every draft wrong), then
    # another passage: the fast estimate sees each change long before 30 observations would
    c = DraftController(6, plain_skips_process=True)
    run(c, World(accept=1.0), 300, rng)
    hard = run(c, World(accept=0.0), 40, rng)
    # (the deeper positions keep their estimates: wrong drafts end at position 1, and where
    # verifying 7 rows costs 1.1 rows, drafting 6 pays down to ~15 % first-position acceptance)
    # (probes of 6 back off while they find nothing: after 4, 8, 16 plain steps)
    assert hard[15:].count(0) >= 21
    easy = run(c, World(accept=1.0), 80, rng)
    assert np.mean(easy[-20:]) >= 4


def test_every_probe_from_plain_decoding_is_announced_a_step_ahead(rng: np.random.Generator) -> None:
    # the loop turns the target's hidden-state outputs off in plain stretches; a probe needs
    # them from the step before, so probe_follows must say so then, for the sooner probes too
    for accept in (0.0, 0.5, 0.8):
        c = DraftController(6, plain_skips_process=True)
        announced, probes = [], []
        for step in range(400):
            announced.append(c.probe_follows)  # said while step - 1 runs, about this step
            k = c.next()
            if step >= 3 and k > 0 and c.exploring and c.history[step - 1] == 0:  # the warm-up's end too
                probes.append(step)
            accepted = 0
            while accepted < k and rng.random() < accept:
                accepted += 1
            c.observe(k, k, accepted, t_draft=0.0005 * k, t_verify=0.010 * (1 + 0.6 * k), t_process=0.001 if k else 0.0)
        assert probes, accept
        assert all(announced[s - 1] for s in probes), (accept, [s for s in probes if not announced[s - 1]])


def test_a_prior_timed_under_load_has_its_plain_cost_timed_again() -> None:
    # a one-row decode cannot cost more than a two-row verify: the prior's plain cost is stale
    prior = {
        "acceptance_hits": [18.0, 0.0],
        "acceptance_trials": [25.0, 1.0],
        "verify_seconds": [0.30, 0.046, -1.0],
        "process_seconds": [0.001, 0.0013, -1.0],
        "draft_seconds_per_token": 0.0135,
        "probe_gap": 32,
    }
    c = DraftController(2, plain_skips_process=True)
    c.start_from(prior)
    chosen = []
    for _ in range(6):
        k = c.next()
        chosen.append(k)
        c.observe(
            k,
            k,
            min(k, 1),
            t_draft=0.0135 * k,
            t_verify=0.028 if k == 0 else 0.046 + 0.01 * (k - 1),
            t_process=0.0013 if k else 0.0,
        )
    assert chosen[:2] == [0, 0]  # timed again first
    assert c.best == 0 and chosen[2:] == [0] * 4  # plain at 28 ms beats 1.7 tokens per 61 ms
    healthy = DraftController(2, plain_skips_process=True)
    healthy.start_from({**prior, "verify_seconds": [0.028, 0.046, -1.0]})
    assert healthy.next() == 0 and not healthy.exploring  # nothing to re-time: plain by the prior


def test_steps_of_several_sequences(rng: np.random.Generator) -> None:
    c = DraftController(4)
    c.observe(1, [1, 1, 0], np.array([1, 0, 0]), t_draft=0.001, t_verify=0.01, t_process=0.001)
    assert c.n_steps == 1
    assert 0.4 < c.acceptance[0] < 0.6  # one of two drafted positions accepted, and the prior
    with pytest.raises(InvalidArgumentError, match="one value per sequence"):
        c.observe(1, [1, 1], [1], t_draft=0.0, t_verify=0.01)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(k=7, drafted=0, accepted=0), "k must be in"),
        (dict(k=-1, drafted=0, accepted=0), "k must be in"),
        (dict(k=2, drafted=3, accepted=0), "more than k"),
        (dict(k=2, drafted=1, accepted=2), "accepted 2 of 1"),
        (dict(k=2, drafted=-1, accepted=0), "drafted"),
        (dict(k=2, drafted=[1, -1], accepted=[0, 0]), "outside"),
        (dict(k=2, drafted=[], accepted=[]), "1 to 65536"),
        (dict(k=1, drafted=1, accepted=0, t_verify=float("nan")), "t_verify"),
        (dict(k=1, drafted=1, accepted=0, t_draft=-1.0), "t_draft"),
        (dict(k=1, drafted=1, accepted=0, t_process=float("inf")), "t_process"),
    ],
)
def test_bad_observations_raise_and_change_nothing(kwargs: dict[str, object], match: str) -> None:
    c = DraftController(6)
    args = dict(t_draft=0.001, t_verify=0.01) | kwargs
    with pytest.raises(InvalidArgumentError, match=match):
        c.observe(**args)  # type: ignore[arg-type]
    assert c.n_steps == 0 and c.next() == 1


def test_a_non_int_observation_is_a_type_error() -> None:
    c = DraftController(6)
    with pytest.raises(TypeError, match="drafted 0 must be an int, got float"):
        c.observe(k=2, drafted=[1.5], accepted=[0], t_draft=0.001, t_verify=0.01)  # type: ignore[list-item]
    assert c.n_steps == 0 and c.next() == 1


def test_bad_construction() -> None:
    with pytest.raises(InvalidArgumentError, match="n_max"):
        DraftController(0)
    with pytest.raises(InvalidArgumentError, match="n_max"):
        DraftController(65)
    with pytest.raises(TypeError):
        DraftController(3.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DraftController(3, True)  # type: ignore[misc]  # keyword-only


def test_arrays_are_copies() -> None:
    c = DraftController(3)
    c.observe(1, 1, 1, t_draft=0.001, t_verify=0.01)
    h = c.history
    h[0] = 99
    assert c.history[0] == 1
    assert c.acceptance.shape == (3,) and c.expected_speed.shape == (4,) and c.step_seconds.shape == (4,)
    assert "DraftController(n_max=3, steps=1" in repr(c)

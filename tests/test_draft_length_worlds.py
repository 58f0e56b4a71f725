"""The adaptive draft length in simulated worlds: cost curves measured on this project's CPUs
(concave: entering drafting costs much, each further position little), linear, convex, loads
and texts that change mid-run, stalled steps, a cost cache written under a load. Every verdict
comes from the simulated clock: none depends on how fast or loaded the machine running it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from llama_mtp import DraftController


@dataclass
class World:
    """Seconds of a step's parts by draft length k, and P(draft token accepted | the ones before were)."""

    accept: float
    verify: Callable[[int], float]
    process: Callable[[int], float]
    draft_per_token: float
    scale: float = 1.0  # a load: every part of every step this many times slower
    stalls: set[int] = field(default_factory=set)  # steps that take 1.79 s (the machine stalled)
    first_step_scale: float = 1.0  # the first step builds graphs of a new shape: this many times slower


# The tiny hybrid model on a 2-core AMD EPYC, 1 thread (issue 33): a plain step 8.7 ms, drafting
# 1 token 24.8 ms, drafting 4 tokens 35.8 ms (verifying 2 rows costs little more than 1; the
# draft context's process() and the draft head are most of a drafting step)
def cpu_world(accept: float) -> World:
    return World(accept, verify=lambda k: 0.0087 + 0.0016 * k, process=lambda k: 0.012 + 0.0004 * k, draft_per_token=0.002)


def linear_world(accept: float) -> World:
    return World(accept, verify=lambda k: 0.010 + 0.002 * k, process=lambda k: 0.001, draft_per_token=0.0005)


def convex_world(accept: float) -> World:
    return World(accept, verify=lambda k: 0.010 + 0.0005 * k * k, process=lambda k: 0.001, draft_per_token=0.0005)


@dataclass
class Run:
    chosen: list[int]
    seconds: float
    tokens: int
    unmeasured_choices: int  # steps that played a length as best before it was measured

    @property
    def speed(self) -> float:
        return self.tokens / self.seconds


def step_cost(world: World, k: int, plain: bool, step: int) -> tuple[float, float, float]:
    if step in world.stalls:
        return 0.0, 1.79, 0.0
    s = world.scale * (world.first_step_scale if step == 0 else 1.0)
    return world.draft_per_token * k * s, world.verify(k) * s, 0.0 if plain else world.process(k) * s


def simulate(c: DraftController | None, world: World, tokens: int, rng: np.random.Generator, fixed: int = -1) -> Run:
    """Generate `tokens` tokens (a controller's lengths, or a fixed one) on the simulated clock."""
    run = Run([], 0.0, 0, 0)
    while run.tokens < tokens:
        step = len(run.chosen)
        if c is None:
            k, plain = fixed, fixed == 0
        else:
            k = c.next()
            plain = k == 0 and not c.exploring  # the loop skips process() then
            if not c.exploring and k > 0 and not c.measured[k]:
                run.unmeasured_choices += 1
        accepted = 0
        while accepted < k and rng.random() < world.accept:
            accepted += 1
        t_draft, t_verify, t_process = step_cost(world, k, plain, step)
        if c is not None:
            c.observe(k, k, accepted, t_draft=t_draft, t_verify=t_verify, t_process=t_process)
        run.chosen.append(k)
        run.seconds += t_draft + t_verify + t_process
        run.tokens += 1 + accepted
    return run


def best_fixed(world: World, tokens: int, seeds: range) -> float:
    """The speed of the best fixed length 0..6, averaged over seeds."""
    return max(np.mean([simulate(None, world, tokens, np.random.default_rng(s), fixed=k).speed for s in seeds]) for k in range(7))


def auto_cold(world: World, tokens: int, seeds: range) -> float:
    return float(
        np.mean(
            [simulate(DraftController(6, plain_skips_process=True), world, tokens, np.random.default_rng(s)).speed for s in seeds]
        )
    )


@pytest.mark.parametrize("accept", [0.0, 0.3, 0.6, 1.0])
def test_a_cold_start_on_the_cpu_curve_keeps_up_with_the_best_fixed_length(accept: float) -> None:
    # 128 tokens from a controller that knows nothing, warm-up and measurements included (the
    # issue's cell: the old controller probed one token, read "2.9x for 2 tokens" and stayed plain
    # at 0.55 of the best where drafting nearly doubles the speed)
    seeds = range(12)
    ratio = auto_cold(cpu_world(accept), 128, seeds) / best_fixed(cpu_world(accept), 128, seeds)
    assert ratio >= 0.94, ratio


@pytest.mark.parametrize(("world", "best"), [(cpu_world, 6), (linear_world, 6), (convex_world, 4)])
def test_it_settles_on_the_best_length_of_each_curve(world: Callable[[float], World], best: int) -> None:
    c = DraftController(6, plain_skips_process=True)
    run = simulate(c, world(1.0), 2000, np.random.default_rng(0))
    assert c.best == best
    assert run.chosen[-100:].count(best) >= 90
    assert run.unmeasured_choices == 0  # a length is measured before it is played as the best


def test_every_length_chosen_as_best_was_measured_first() -> None:
    rng = np.random.default_rng(3)
    for accept in (0.2, 0.5, 0.8, 0.95):
        for world in (cpu_world, linear_world, convex_world):
            run = simulate(DraftController(6, plain_skips_process=True), world(accept), 300, rng)
            assert run.unmeasured_choices == 0, (accept, world)


def test_drafts_long_enough_observe_every_position() -> None:
    # a predictable text: positions beyond the warm-up's first are observed, not left at the prior
    c = DraftController(6, plain_skips_process=True)
    simulate(c, cpu_world(1.0), 60, np.random.default_rng(0))
    assert (c.acceptance > 0.8).all()


def test_a_stalled_step_is_not_a_cost() -> None:
    world = cpu_world(0.0)
    world.stalls = {10, 40}
    c = DraftController(6, plain_skips_process=True)
    run = simulate(c, world, 128, np.random.default_rng(0))
    assert c.step_seconds[0] == pytest.approx(0.0087)
    assert run.chosen[12:].count(0) >= len(run.chosen[12:]) - 3  # plain decoding throughout, probes aside


def test_a_prior_with_a_stalled_plain_cost_is_measured_again() -> None:
    # the warm cache: a plain step stored at 1.79 s beside 0.129 s for one drafted token
    prior = {
        "acceptance_hits": [0.0] * 6,
        "acceptance_trials": [8.0] * 6,
        "verify_seconds": [1.79, 0.129, -1, -1, -1, -1, -1],
        "process_seconds": [0.0, 0.012, -1, -1, -1, -1, -1],
        "draft_seconds_per_token": 0.002,
        "probe_gap": 32,
    }
    c = DraftController(6, plain_skips_process=True)
    c.start_from(prior)
    run = simulate(c, cpu_world(0.0), 128, np.random.default_rng(0))
    assert run.chosen[:2] == [0, 0]  # plain is measured first
    assert run.speed >= 0.95 / 0.0087  # not a sixth of plain: plain throughout, a probe or two aside


def test_costs_written_under_a_load_do_not_outlive_it() -> None:
    # a cache written while another process took the cores (every step 3x slower), read on an
    # idle machine: the machine level falls to ~1/3 within a few steps, and every stored cost with it
    busy = cpu_world(0.7)
    busy.scale = 3.0
    c = DraftController(6, plain_skips_process=True)
    simulate(c, busy, 400, np.random.default_rng(0))
    d = DraftController(6, plain_skips_process=True)
    d.start_from(c.state())
    simulate(d, cpu_world(0.7), 40, np.random.default_rng(1))
    assert d.machine_level == pytest.approx(1 / 3, rel=0.15)
    assert d.step_seconds[0] == pytest.approx(0.0087, rel=0.15)


def test_a_load_that_comes_and_goes_moves_every_cost() -> None:
    world = cpu_world(1.0)
    c = DraftController(6, plain_skips_process=True)
    simulate(c, world, 400, np.random.default_rng(0))
    plain_idle = c.step_seconds[0]
    world.scale = 2.0  # another process takes the cores: the drafting steps show it, plain is not played
    simulate(c, world, 100, np.random.default_rng(1))
    assert c.machine_level == pytest.approx(2.0, rel=0.1)
    assert c.step_seconds[0] == pytest.approx(2 * plain_idle, rel=0.1)
    world.scale = 1.0
    simulate(c, world, 100, np.random.default_rng(2))
    assert c.machine_level == pytest.approx(1.0, rel=0.1)


def test_a_text_that_changes_mid_run_changes_the_choice() -> None:
    c = DraftController(6, plain_skips_process=True)
    rng = np.random.default_rng(0)
    easy = simulate(c, cpu_world(1.0), 400, rng)
    hard = simulate(c, cpu_world(0.0), 200, rng)
    again = simulate(c, cpu_world(1.0), 400, rng)
    assert easy.chosen[-20:].count(6) >= 18
    assert hard.chosen[-100:].count(0) >= 95
    assert again.chosen[-20:].count(6) >= 18


def test_a_right_warm_up_draft_drafts_at_once_however_costly_its_first_step() -> None:
    # the warm-up's one drafted token is the first step of its shape (new graphs, first touch of
    # the draft context's buffers): measured at 3x, it must not keep a predictable text plain
    world = cpu_world(1.0)
    world.first_step_scale = 3.0
    run = simulate(DraftController(6, plain_skips_process=True), world, 128, np.random.default_rng(0))
    assert run.chosen[:3] == [1, 0, 0] and run.chosen[3] > 0
    assert run.chosen[3:].count(0) <= 2

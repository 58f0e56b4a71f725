"""The auto thread count (n_threads=None) in simulated machines: the ThreadController decides from
the wall and CPU seconds it is fed, so every verdict here comes from a simulated clock, never from
how fast or loaded the machine running the suite is. The machines: cores that other processes keep
busy or leave, costs measured on this project's CPUs (a 2-thread decode sharing a core with
another process's thread: ~10x a 1-thread one, benchmarks/README.md "The busy machine")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from llama_mtp._core import ThreadController

import llama_mtp
from llama_mtp import InvalidArgumentError
from llama_mtp.testing import tiny_mtp_model


@dataclass
class Machine:
    """cores: the CPUs of the process's set; busy(step): how many another process keeps busy.
    A step of `base` seconds on one free core: n threads on f free cores split it (a little
    overhead per thread); more threads than free cores share them, and each barrier waits for a
    thread without a core (the spinning barrier: `oversubscribed` times slower)."""

    cores: int = 2
    base: float = 0.010
    busy: Callable[[int], int] = lambda step: 0
    oversubscribed: float = 10.0
    idle_known: bool = True
    shapes: Callable[[int], int] = lambda step: 1
    log: list[int] = field(default_factory=list)

    def step(self, ctl: ThreadController, i: int) -> None:
        n = ctl.next()
        self.log.append(n)
        free = max(self.cores - self.busy(i), 0)
        shape = self.shapes(i)
        if n <= free:
            wall = self.base * shape / n * (1 + 0.05 * (n - 1))
            cpu = wall * n
        else:  # threads share cores with another process's: every barrier waits for one
            wall = self.base * shape * self.oversubscribed
            cpu = wall * max(free, 1)
        idle = max(free - n, 0) if self.idle_known else -1.0
        ctl.observe(n, shape, wall, cpu, idle_cpus=float(idle))

    def run(self, ctl: ThreadController, steps: int, start: int = 0) -> list[int]:
        for i in range(start, start + steps):
            self.step(ctl, i)
        return self.log[start : start + steps]


def test_an_idle_machine_keeps_every_thread_and_tries_nothing() -> None:
    ctl = ThreadController(2)
    log = Machine().run(ctl, 2000)
    assert set(log) == {2}
    assert ctl.switches == 0


def test_one_busy_core_moves_to_one_thread_within_a_few_steps_and_stays() -> None:
    ctl = ThreadController(2)
    log = Machine(busy=lambda i: 1).run(ctl, 2000)
    assert ctl.current == 1
    assert log.index(1) <= 3  # two starved steps, then the try
    assert log[5:].count(2) == 0  # no CPU sits idle: it never tries two again


def test_a_starved_prefill_counts_as_evidence_but_not_as_a_cost() -> None:
    # the prompt's decode (shape -1) ran starved too: the first step's is the second in a row
    ctl = ThreadController(2)
    ctl.observe(2, -1, 0.200, 0.200, idle_cpus=0.0)
    assert not ctl.probing
    ctl.observe(2, 1, 0.100, 0.100, idle_cpus=0.0)
    assert ctl.probing and ctl.next() == 1
    ctl.observe(1, -1, 0.001, 0.001, idle_cpus=0.0)  # a prefill while trying: compares with nothing
    assert ctl.probing
    for _ in range(2):
        ctl.observe(1, 1, 0.018, 0.018, idle_cpus=0.0)
    assert ctl.current == 1 and ctl.switches == 1


def test_the_load_leaving_brings_the_threads_back() -> None:
    m = Machine(busy=lambda i: 1 if i < 300 else 0)
    ctl = ThreadController(2)
    m.run(ctl, 300)
    assert ctl.current == 1
    after = m.run(ctl, 300, start=300)
    back = after.index(2)
    assert back <= 70  # the first try one thread up, 64 steps after the move down
    assert ctl.current == 2 and set(after[back:]) == {2}


def test_without_idle_counters_tries_up_rarely_under_a_lasting_load() -> None:
    m = Machine(busy=lambda i: 1, idle_known=False)
    ctl = ThreadController(2)
    log = m.run(ctl, 4000)
    assert ctl.current == 1
    # each try costs a 10x step: 64, 128, ... 1024 steps apart, about ten in 4000 steps
    assert log[5:].count(2) <= 2 * 8


def test_starved_steps_that_fewer_threads_do_not_speed_up_are_tried_less_and_less() -> None:
    # low CPU per thread for another reason (the threads sleep in their barriers): one thread less
    # is slower, so it stays, and tries again after 4, 8, ... 1024 steps
    ctl = ThreadController(2)
    log = []
    for _ in range(2000):
        n = ctl.next()
        log.append(n)
        wall = 0.010 if n == 2 else 0.018
        ctl.observe(n, 1, wall, 0.5 * wall * n, idle_cpus=0.0)
    assert ctl.current == 2 and ctl.switches == 0
    assert log.count(1) <= 2 * 10


def test_four_cores_with_two_busy_go_straight_to_two_threads() -> None:
    # three threads on two free cores share them as badly as four: it tries the count that got a CPU
    ctl = ThreadController(4)
    log = Machine(cores=4, busy=lambda i: 2).run(ctl, 500)
    assert ctl.current == 2 and ctl.switches == 1
    assert 3 not in log


def test_four_cores_come_back_as_they_free_up() -> None:
    m = Machine(cores=4, busy=lambda i: 3 if i < 200 else 1 if i < 600 else 0)
    ctl = ThreadController(4)
    m.run(ctl, 200)
    assert ctl.current == 1
    m.run(ctl, 400, start=200)
    assert ctl.current == 3
    m.run(ctl, 400, start=600)
    assert ctl.current == 4


def test_a_tried_count_is_compared_on_steps_of_the_same_shape() -> None:
    # steps of shape 1 at two threads, then (while trying one) only shape 2 steps, which cost twice
    # as much: nothing compares, so nothing moves however cheap the tried steps look
    ctl = ThreadController(2)
    for _ in range(2):
        ctl.observe(ctl.next(), 1, 0.010, 0.010, idle_cpus=0.0)
    assert ctl.probing and ctl.next() == 1
    for _ in range(6):
        ctl.observe(ctl.next(), 2, 0.004, 0.004, idle_cpus=0.0)
    assert not ctl.probing
    assert ctl.current == 2 and ctl.switches == 0


def test_a_tried_count_is_kept_only_where_clearly_cheaper() -> None:
    # starved, but one thread less costs 0.9 of two: within the noise, not a move
    ctl = ThreadController(2)
    for _ in range(50):
        n = ctl.next()
        ctl.observe(n, 1, 0.010 if n == 2 else 0.009, 0.004 if n == 2 else 0.009, idle_cpus=0.0)
    assert ctl.current == 2 and ctl.switches == 0


def test_steps_run_with_another_count_than_asked_teach_nothing() -> None:
    ctl = ThreadController(2)
    for _ in range(20):
        ctl.observe(1, 1, 0.001, 0.001, idle_cpus=0.0)  # not what next() said
    assert ctl.current == 2 and not ctl.probing


@pytest.mark.parametrize("bad", [dict(threads=0), dict(wall=float("nan")), dict(cpu=float("inf")), dict(idle_cpus=float("nan"))])
def test_bad_observations_are_typed_errors(bad: dict[str, float]) -> None:
    ctl = ThreadController(2)
    args = dict(threads=2, shape=1, wall=0.01, cpu=0.01) | bad
    idle = args.pop("idle_cpus", -1.0)
    with pytest.raises(InvalidArgumentError):
        ctl.observe(int(args["threads"]), int(args["shape"]), args["wall"], args["cpu"], idle_cpus=idle)
    assert ctl.next() == 2


def test_n_max_is_checked() -> None:
    with pytest.raises(InvalidArgumentError):
        ThreadController(0)


# --- the generation loop with it -------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> llama_mtp.Model:
    return llama_mtp.Model(str(tiny_mtp_model(kind="dense")))


def test_the_default_thread_count_adapts_and_a_given_one_stays(model: llama_mtp.Model) -> None:
    with llama_mtp.LLM(model) as auto, llama_mtp.LLM(model, n_threads=1) as fixed:
        assert auto.generator.adapting_threads and not fixed.generator.adapting_threads
        auto.generate("The story begins:", max_tokens=24, ignore_eos=True)
        steps = auto.generator.thread_steps
        assert len(steps) == llama_mtp.default_threads() + 1 and steps[0] == 0
        assert sum(steps) == auto.generator.n_steps
        assert 1 <= auto.generator.threads <= llama_mtp.default_threads()


def test_the_text_does_not_depend_on_the_thread_count(model: llama_mtp.Model) -> None:
    # every output of a matmul is one thread's whole dot product, and attention splits across
    # threads only from 512 KV cells on: a short greedy text is the same at any count, so a
    # count that changes mid-generation changes nothing here
    texts = {
        llama_mtp.generate(model, "The story begins:", max_tokens=40, n_threads=t, ignore_eos=True).text for t in (None, 1, 2)
    }
    assert len(texts) == 1


def test_turning_it_off_restores_the_ceiling(model: llama_mtp.Model) -> None:
    with llama_mtp.LLM(model, draft="none") as llm:
        gen = llm.generator
        gen.adapt_threads(False)
        assert not gen.adapting_threads and gen.threads == llama_mtp.default_threads()
        gen.adapt_threads(True)
        assert gen.adapting_threads and gen.thread_steps == [0] * (llama_mtp.default_threads() + 1)


def test_a_guess_of_one_thread_holds_under_the_load_and_is_undone_once_cpus_sit_idle() -> None:
    busy = ThreadController(2)
    busy.start_at(1)
    m = Machine(busy=lambda i: 1)
    for _ in range(10):  # counters without a value yet: no room known, no try
        n = busy.next()
        m.log.append(n)
        busy.observe(n, 1, 0.010, 0.010, idle_cpus=-1.0)
    log = m.log + m.run(busy, 500, start=10)
    assert set(log) == {1} and busy.switches == 0
    idle = ThreadController(2)
    idle.start_at(1)
    log = Machine().run(idle, 100)
    assert idle.current == 2 and log.index(2) <= 10  # a wrong guess costs eight steps or so


def test_start_at_is_clamped() -> None:
    ctl = ThreadController(4)
    ctl.start_at(9)
    assert ctl.current == 4
    with pytest.raises(InvalidArgumentError):
        ctl.start_at(0)

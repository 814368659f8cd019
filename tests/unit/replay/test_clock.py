"""Event-time clocks and cycle pacing with fake time sources."""

from __future__ import annotations

import itertools

import pytest

from pipelines.replay.clock import (
    Pacer,
    SimulatedClock,
    WallClock,
    cycle_period_s,
    make_clock,
)


class FakeTime:
    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_simulated_clock_advances_exactly_one_period_per_cycle() -> None:
    clock = SimulatedClock(start_ts=1_700_000_000.0, period_s=10.0)
    stamps = [clock.stamp(cycle) for cycle in range(1000)]
    assert stamps[0] == 1_700_000_000.0
    assert {b - a for a, b in itertools.pairwise(stamps)} == {10.0}


def test_simulated_clock_defaults_to_now_in_whole_seconds() -> None:
    clock = make_clock("simulated", 5.0, now=lambda: 1234.75)
    assert [clock.stamp(0), clock.stamp(2)] == [1234.0, 1244.0]


def test_wall_clock_stamps_the_current_time_in_whole_seconds() -> None:
    time_source = FakeTime(1_700_000_000.923456)
    clock = WallClock(time_source)
    assert clock.stamp(0) == 1_700_000_000.0
    time_source.now += 2.5
    assert clock.stamp(1) == 1_700_000_003.0


def test_unknown_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown clock"):
        make_clock("lunar", 5.0, now=lambda: 0.0)  # type: ignore[arg-type]


def test_speed_divides_the_period_and_max_rate_removes_it() -> None:
    assert cycle_period_s(5.0) == 5.0
    assert cycle_period_s(10.0, speed=4) == 2.5
    assert cycle_period_s(10.0, speed=4, max_rate=True) == 0.0
    with pytest.raises(ValueError, match="speed"):
        cycle_period_s(5.0, speed=0)


def test_pacer_keeps_a_fixed_schedule() -> None:
    now = FakeTime()
    pacer = Pacer(5.0, monotonic=now)
    pacer.start()
    assert pacer.delay_s(0) == 0.0
    now.now += 1.5  # sending cycle 0 took 1.5 s
    assert pacer.delay_s(1) == pytest.approx(3.5)
    now.now += 3.5
    assert pacer.delay_s(1) == 0.0
    now.now += 4.0  # cycle 1 took 4 s: cycle 2 is due in 1 s, not 5
    assert pacer.delay_s(2) == pytest.approx(1.0)


def test_pacer_restarts_the_schedule_after_a_long_stall() -> None:
    now = FakeTime()
    pacer = Pacer(5.0, monotonic=now)
    pacer.start()
    now.now += 23.0  # cycles 1..4 are overdue: run cycle 1 now, then keep the pace
    assert pacer.delay_s(1) == 0.0
    assert pacer.delay_s(2) == pytest.approx(5.0)


def test_pacer_without_period_never_waits() -> None:
    now = FakeTime()
    pacer = Pacer(0.0, monotonic=now)
    assert [pacer.delay_s(cycle) for cycle in range(5)] == [0.0] * 5

"""The bounded replay loop, driven with a fake clock and a list as the 'broker'."""

from __future__ import annotations

import random
import threading

from pipelines.config import load_settings
from pipelines.replay.clock import Pacer, SimulatedClock
from pipelines.replay.loop import run_cycles
from pipelines.replay.plan import CyclePlan, CyclePlanner, PlannedRow

MEMORY = load_settings().replay.memory
ROW_COUNTS = {4: 300, 6: 40}


class FakeTime:
    """A monotonic clock that only moves when the loop waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now


class FakeStop(threading.Event):
    """A stop event whose wait advances fake time instead of sleeping."""

    def __init__(self, time_source: FakeTime, stop_after_waits: int | None = None) -> None:
        super().__init__()
        self.time = time_source
        self.stop_after_waits = stop_after_waits

    def wait(self, timeout: float | None = None) -> bool:
        self.time.waits.append(timeout or 0.0)
        self.time.now += timeout or 0.0
        if self.stop_after_waits is not None and len(self.time.waits) >= self.stop_after_waits:
            self.set()
        return self.is_set()


def replay(
    cycles: int | None = None, duration_s: float | None = None, stop_after_waits: int | None = None
):  # type: ignore[no-untyped-def]
    time_source = FakeTime()
    planner = CyclePlanner(ROW_COUNTS, MEMORY, random.Random(5))
    sent: list[PlannedRow] = []
    plans: list[CyclePlan] = []
    result = run_cycles(
        planner,
        SimulatedClock(1_000.0, MEMORY.cycle_period_s),
        Pacer(MEMORY.cycle_period_s / 2, monotonic=time_source),  # speed 2
        sent.append,
        cycles=cycles,
        duration_s=duration_s,
        stop=FakeStop(time_source, stop_after_waits),
        on_cycle=plans.append,
        monotonic=time_source,
    )
    return result, sent, plans, time_source


def test_runs_exactly_the_cycles_asked_waiting_one_compressed_period_between() -> None:
    result, _, plans, time_source = replay(cycles=4)
    assert (result.cycles, result.reason) == (4, "cycles")
    assert [p.ts for p in plans] == [1000.0, 1010.0, 1020.0, 1030.0]
    assert time_source.waits == [5.0, 5.0, 5.0]


def test_held_back_rows_are_sent_before_the_loop_returns() -> None:
    result, sent, plans, _ = replay(cycles=6)
    last = plans[-1]
    assert last.held, "seed 5 holds rows back in the last cycle"
    assert tuple(sent[-len(last.held) :]) == last.held
    assert all(r.ts == last.ts and r.late for r in sent[-len(last.held) :])
    assert result.drained == len(last.held)
    assert result.rows_sent == len(sent) == sum(len(p.rows) for p in plans) + len(last.held)


def test_duration_bound_starts_no_cycle_due_after_it() -> None:
    result, _, _, time_source = replay(duration_s=12.0)
    # Cycles are due at 0, 5, 10 s (speed 2); the one due at 15 s is not started.
    assert (result.cycles, result.reason) == (3, "duration")
    assert time_source.now == 10.0


def test_stop_ends_the_wait_and_still_drains() -> None:
    result, sent, plans, _ = replay(cycles=100, stop_after_waits=2)
    assert (result.cycles, result.reason) == (2, "stopped")
    assert result.drained == len(plans[-1].held)
    assert sent[len(sent) - result.drained :] == list(plans[-1].held)


def test_abort_ends_the_run_as_failed() -> None:
    time_source = FakeTime()
    planner = CyclePlanner(ROW_COUNTS, MEMORY, random.Random(5))
    calls = []
    result = run_cycles(
        planner,
        SimulatedClock(0.0, 10.0),
        Pacer(0.0, monotonic=time_source),
        calls.append,
        cycles=50,
        should_abort=lambda: len(calls) > 100,
        monotonic=time_source,
    )
    assert result.reason == "failed"
    assert 1 <= result.cycles < 50


def test_ticks_while_waiting_for_the_next_cycle() -> None:
    time_source = FakeTime()
    ticks: list[float] = []
    result = run_cycles(
        CyclePlanner(ROW_COUNTS, MEMORY, random.Random(5)),
        SimulatedClock(0.0, 10.0),
        Pacer(2.0, monotonic=time_source),
        lambda row: None,
        cycles=3,
        stop=FakeStop(time_source),
        on_tick=lambda: ticks.append(time_source.now),
        tick_s=0.5,
        monotonic=time_source,
    )
    assert result.cycles == 3
    # Two waits of 2 s, each in 0.5 s slices, with a tick after each slice.
    assert ticks == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    assert time_source.waits == [0.5] * 8

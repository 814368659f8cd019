"""Event-time stamps and cycle pacing, with injectable time sources for tests.

``ts`` is UTC unix seconds, one value per cycle. The wall clock stamps the whole
second in which a cycle starts, as the brief's producers do (cycles compressed below
a second may share a stamp); the simulated clock advances exactly one cycle period
per cycle from a start time, whatever the pacing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, Protocol

ClockKind = Literal["wall", "simulated"]


class Clock(Protocol):
    def stamp(self, cycle: int) -> float:
        """The event time of ``cycle`` (UTC unix seconds)."""
        ...


class WallClock:
    """Stamps each cycle with the current UTC time, in whole seconds."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now

    def stamp(self, cycle: int) -> float:
        return float(int(self._now()))


class SimulatedClock:
    """``start_ts + cycle * period_s``: event time advances one period per cycle.

    Args:
        start_ts: the first cycle's event time (UTC unix seconds).
        period_s: the stream's cycle period at speed 1 (not divided by the speed:
            the data's own time runs at its real rate).
    """

    def __init__(self, start_ts: float, period_s: float) -> None:
        self.start_ts = start_ts
        self.period_s = period_s

    def stamp(self, cycle: int) -> float:
        return self.start_ts + cycle * self.period_s


def make_clock(
    kind: ClockKind, period_s: float, *, start_ts: float | None = None, now: Callable[[], float]
) -> Clock:
    """The clock a run asked for (simulated: starting at ``start_ts``, default now)."""
    if kind == "wall":
        return WallClock(now)
    if kind == "simulated":
        start = float(int(now())) if start_ts is None else start_ts
        return SimulatedClock(start, period_s)
    raise ValueError(f"unknown clock {kind!r}: expected 'wall' or 'simulated'")


class Pacer:
    """When each cycle is due: every ``period_s`` seconds on a fixed schedule.

    Cycle ``i`` is due ``i * period_s`` after the first one. If a cycle starts more
    than a whole period late (the broker stalled ``send``), the schedule restarts
    from it instead of firing the missed cycles back to back.

    Args:
        period_s: seconds between cycle starts (the stream's period divided by the
            speed); ``0`` means no pacing (max-rate).
        monotonic: the time source (seconds).
    """

    def __init__(self, period_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if period_s < 0:
            raise ValueError(f"period must be >= 0 s, got {period_s}")
        self.period_s = period_s
        self._monotonic = monotonic
        self._anchor: float | None = None
        self._anchor_cycle = 0

    def start(self) -> None:
        """Start the schedule now (cycle 0 is due at once)."""
        self._anchor, self._anchor_cycle = self._monotonic(), 0

    def due_s(self, cycle: int) -> float:
        """Seconds after the current anchor at which ``cycle`` is due."""
        return (cycle - self._anchor_cycle) * self.period_s

    def delay_s(self, cycle: int) -> float:
        """Seconds to wait before starting ``cycle`` (0 when due or overdue)."""
        if self._anchor is None:
            self.start()
        assert self._anchor is not None
        lateness = self._monotonic() - (self._anchor + self.due_s(cycle))
        if lateness > self.period_s > 0:
            self._anchor, self._anchor_cycle = self._monotonic(), cycle
            return 0.0
        return max(0.0, -lateness)


def cycle_period_s(period_s: float, *, speed: float = 1.0, max_rate: bool = False) -> float:
    """The wall-clock seconds between cycles: the period divided by ``speed``.

    Args:
        period_s: the stream's cycle period at speed 1.
        speed: compression factor (2 = twice as fast); must be > 0.
        max_rate: no pacing at all (benchmarks).
    """
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    return 0.0 if max_rate else period_s / speed

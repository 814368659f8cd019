"""The bounded replay loop: plan a cycle, send its rows, wait for the next one.

Transport-agnostic: rows go to a ``send`` function (the Kafka adapter's, or a list
in tests). Time comes from injectable sources and waiting happens on a
``threading.Event`` so a stop request (Ctrl-C, the workbench's Stop) ends the wait
at once. Rows still held back when the loop ends are sent before it returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pipelines.replay.clock import Clock, Pacer
from pipelines.replay.plan import CyclePlan, CyclePlanner, PlannedRow

StopReason = Literal["cycles", "duration", "stopped", "failed"]


@dataclass(frozen=True)
class LoopResult:
    """How a run ended.

    Attributes:
        cycles: cycles completed.
        rows_sent: rows handed to ``send`` (new, late and drained).
        drained: held-back rows sent after the last cycle.
        reason: ``cycles`` / ``duration`` bound reached, ``stopped`` on request,
            ``failed`` when ``should_abort`` said so.
        elapsed_s: wall seconds from the first cycle to the end.
    """

    cycles: int
    rows_sent: int
    drained: int
    reason: StopReason
    elapsed_s: float


def _wait(
    stop: threading.Event,
    delay_s: float,
    on_tick: Callable[[], None] | None,
    tick_s: float,
    monotonic: Callable[[], float],
) -> bool:
    """Wait ``delay_s`` (ticking on the way); True as soon as ``stop`` is set."""
    if on_tick is None:
        return stop.wait(delay_s)
    deadline = monotonic() + delay_s
    while (left := deadline - monotonic()) > 0:
        if stop.wait(min(tick_s, left)):
            return True
        on_tick()
    return False


def run_cycles(
    planner: CyclePlanner,
    clock: Clock,
    pacer: Pacer,
    send: Callable[[PlannedRow], None],
    *,
    cycles: int | None = None,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    on_cycle: Callable[[CyclePlan], None] | None = None,
    should_abort: Callable[[], bool] | None = None,
    on_tick: Callable[[], None] | None = None,
    tick_s: float = 0.5,
    monotonic: Callable[[], float] = time.monotonic,
) -> LoopResult:
    """Run cycles until a bound is reached or ``stop`` is set; then send held rows.

    Args:
        planner: plans each cycle (its cursors and held rows carry over).
        clock: stamps each cycle's ``ts``.
        pacer: when each cycle is due (period 0 = as fast as possible).
        send: called once per row, in send order.
        cycles: stop after this many cycles (``None``: no cycle bound).
        duration_s: start no cycle due this many seconds or more after the first
            (``None``: no time bound). Without either bound the loop runs until
            ``stop`` is set.
        stop: set from another thread or a signal handler to end the run cleanly.
        on_cycle: called after each cycle's rows were handed to ``send``.
        should_abort: checked before each cycle; True ends the run as ``failed``
            (delivery errors: producing more would only pile up undeliverable rows).
        on_tick: called every ``tick_s`` seconds while waiting for the next cycle, so
            progress (acknowledgements arriving) shows between long cycles.
        tick_s: seconds between ``on_tick`` calls.
        monotonic: time source for the duration bound.
    """
    stop = stop or threading.Event()
    started = monotonic()
    pacer.start()
    done, sent = 0, 0
    reason: StopReason = "stopped"
    while True:
        if cycles is not None and done >= cycles:
            reason = "cycles"
            break
        if should_abort is not None and should_abort():
            reason = "failed"
            break
        delay = pacer.delay_s(done)
        if duration_s is not None and monotonic() - started + delay >= duration_s:
            reason = "duration"
            break
        if stop.is_set() or (delay > 0 and _wait(stop, delay, on_tick, tick_s, monotonic)):
            reason = "stopped"
            break
        plan = planner.next_cycle(clock.stamp(done))
        for row in plan.rows:
            send(row)
        sent += len(plan.rows)
        done += 1
        if on_cycle is not None:
            on_cycle(plan)
    held = planner.drain()
    for row in held:
        send(row)
    return LoopResult(
        cycles=done,
        rows_sent=sent + len(held),
        drained=len(held),
        reason=reason,
        elapsed_s=monotonic() - started,
    )

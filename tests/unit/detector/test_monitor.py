"""The detector monitor's pure pieces (plain values, no Spark or Kafka)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from pipelines.detector import transforms
from pipelines.detector.monitor import COUNTS_REPUBLISH_WINDOWS, probe_broker, republish_cutoff

WINDOW_S = transforms.WINDOW_S
WATERMARKS = [1_700_000_000 + step * 0.37 for step in range(0, 2_000, 7)]
"""Watermarks a few seconds apart over about 40 minutes, on and off window boundaries."""


@pytest.mark.parametrize("watermark", WATERMARKS[::25])
def test_the_cutoff_selects_the_same_windows_as_the_unrounded_one(watermark: float) -> None:
    unrounded = int(watermark) - COUNTS_REPUBLISH_WINDOWS * WINDOW_S
    cutoff = republish_cutoff(watermark)
    # Window ends are multiples of the window length (epoch-aligned windows).
    ends = [
        end * WINDOW_S
        for end in range(int(watermark) // WINDOW_S - 10, int(watermark) // WINDOW_S + 3)
    ]
    assert [end > cutoff for end in ends] == [end > unrounded for end in ends]


def test_the_cutoff_changes_once_per_window_length_not_at_every_batch() -> None:
    # A 7a batch every few seconds: the query text (and the code Spark generates for its
    # filter) is new only when the cutoff moves to the next window boundary.
    cutoffs = [republish_cutoff(w) for w in WATERMARKS]
    span_s = WATERMARKS[-1] - WATERMARKS[0]
    assert len(set(cutoffs)) <= span_s // WINDOW_S + 2
    assert all(c % WINDOW_S == 0 for c in cutoffs)
    assert cutoffs == sorted(cutoffs)


class _Calls:
    """What :func:`probe_broker` reported, in order, with the time of each report."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float, float]] = []  # (what, asked_at, reported_at)
        self.changed = threading.Event()

    def failed(self, asked_at: float) -> None:
        self.seen.append(("failed", asked_at, time.time()))
        self.changed.set()

    def answered(self, asked_at: float) -> None:
        self.seen.append(("answered", asked_at, time.time()))
        self.changed.set()


def _probing(
    ask: Callable[[], None], calls: _Calls, period_s: float, probes: int = 1
) -> threading.Event:
    """Run :func:`probe_broker` in a thread, probing ``probes`` times (then never again);
    set the returned event to stop it."""
    stop = threading.Event()
    asked: list[None] = []

    def seconds_to_next() -> float:
        return 3600.0 if len(asked) >= probes else 0.0

    def asking() -> None:
        asked.append(None)
        ask()

    threading.Thread(
        target=probe_broker,
        args=(asking,),
        kwargs={"period_s": period_s, "stop": stop, "seconds_to_next": seconds_to_next,
                "failed": calls.failed, "answered": calls.answered},
        daemon=True,
    ).start()  # fmt: skip
    return stop


def test_a_probe_still_waiting_after_its_period_reports_the_outage_from_its_asking() -> None:
    # The clean-clone failure: the prober's client waited through the whole outage (its
    # 30 s request timeout) and failed after the broker's return, telling nothing.
    broker_back = threading.Event()
    calls = _Calls()

    def ask() -> None:  # a client that waits for the broker, then gives up
        broker_back.wait(10)
        raise OSError("request timed out")

    stop = _probing(ask, calls, period_s=0.3)
    try:
        assert calls.changed.wait(5)
        what, asked_at, reported_at = calls.seen[0]
        assert what == "failed"
        assert 0.25 <= reported_at - asked_at < 2.0  # after one period, not at the timeout
        assert not broker_back.is_set()
        calls.changed.clear()
        broker_back.set()
        assert calls.changed.wait(5)
        assert [w for w, _, _ in calls.seen] == ["failed", "failed"]  # its end, reported
        assert calls.seen[1][1] == asked_at
    finally:
        stop.set()


def test_a_probe_answered_late_reports_the_outage_then_the_answer() -> None:
    broker_back = threading.Event()
    calls = _Calls()
    stop = _probing(lambda: broker_back.wait(10) and None, calls, period_s=0.3)
    try:
        assert calls.changed.wait(5)
        calls.changed.clear()
        broker_back.set()
        assert calls.changed.wait(5)
        assert [w for w, _, _ in calls.seen] == ["failed", "answered"]
    finally:
        stop.set()


def test_a_quick_answer_reports_only_the_answer() -> None:
    calls = _Calls()
    stop = _probing(lambda: None, calls, period_s=0.3)
    try:
        assert calls.changed.wait(5)
        time.sleep(0.5)
        assert [w for w, _, _ in calls.seen] == ["answered"]
    finally:
        stop.set()


def test_a_stuck_probe_does_not_hold_back_the_next_one() -> None:
    # After the broker's return, a client that lost its connection can take many seconds
    # to reconnect; a new probe (with a new client) hears the broker meanwhile.
    released = threading.Event()
    calls = _Calls()
    asks: list[float] = []

    def ask() -> None:
        asks.append(time.time())
        if len(asks) == 1:
            released.wait(10)

    stop = _probing(ask, calls, period_s=0.3, probes=2)
    try:
        deadline = time.time() + 5
        while len(calls.seen) < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert [w for w, _, _ in calls.seen] == ["failed", "answered"]
        assert [a for _, a, _ in calls.seen] == pytest.approx(asks, abs=0.05)
        released.set()
        while len(calls.seen) < 3 and time.time() < deadline:
            time.sleep(0.05)
        what, asked_at, _ = calls.seen[2]
        assert (what, asked_at) == ("answered", calls.seen[0][1])  # the stuck one's late answer
    finally:
        stop.set()

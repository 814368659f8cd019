"""Stop pipeline's order and message, with stand-ins for the parts it stops.

The stand-ins only record when they are stopped; the graceful stop itself (Kafka,
Spark) is tested in tests/integration/detector/test_graceful_stop.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.detector.drain import DrainReport
from workbench.feeds.pipeline import PipelineFeed


class _Part:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def stop_all(self) -> None:
        self.calls.append(self.name)


class _Detection:
    """Like DetectionFeed.stop_now: ``last_stop`` is None when no detector ran."""

    def __init__(self, calls: list[str], report: DrainReport | None) -> None:
        self.calls, self.report = calls, report
        self.last_stop: DrainReport | None = None

    def stop_now(self, wait_s: float = 0.0, drain_timeout_s: float | None = None) -> bool:
        self.calls.append("detector")
        self.last_stop = self.report
        return True


def _feed(calls: list[str], detection: Any) -> PipelineFeed:
    broker: Any = object()  # a stop does not touch the broker
    producers: Any = _Part("producers", calls)
    live: Any = _Part("live", calls)
    return PipelineFeed(broker, producers, live, detection)


@pytest.mark.parametrize(
    ("report", "message"),
    [
        (
            DrainReport({"process": 0, "memory": 0}, 2.0, timed_out=False),
            "Pipeline stopped: every record sent was scored or quarantined.",
        ),
        (
            DrainReport({"process": 405, "memory": 621}, 30.0, timed_out=True),
            "Pipeline stopped after 30 s of draining: 405 process and 621 memory records "
            "remain for the next start.",
        ),
        (None, "Pipeline stopped."),  # the detector was not running
    ],
)
def test_stop_stops_producers_then_drains_the_detector_then_the_live_views(
    report: DrainReport | None, message: str
) -> None:
    calls: list[str] = []
    feed = _feed(calls, _Detection(calls, report))
    assert feed.stop_now() is True
    assert calls == ["producers", "detector", "live"]
    assert feed.message == message
    assert feed.busy is False


def test_stop_without_a_detector_stops_producers_then_live_views() -> None:
    calls: list[str] = []
    feed = _feed(calls, None)
    assert feed.stop_now() is True
    assert calls == ["producers", "live"]
    assert feed.message == "Pipeline stopped."

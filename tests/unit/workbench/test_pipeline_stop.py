"""Stop pipeline's order and message, and Stop detector's, with stand-ins for the parts
they stop.

The stand-ins only record when they are stopped; the graceful stop itself (Kafka,
Spark) is tested in tests/integration/detector/test_graceful_stop.py.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from pipelines.config import load_settings, replace
from pipelines.detector.drain import DrainReport
from pipelines.detector.stats import DetectorStats
from workbench.feeds.detection import DetectionFeed
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


class _Detector:
    """Stands in for ``Detector``: records the graceful stop it is asked for."""

    def __init__(self, report: DrainReport) -> None:
        self.report = report
        self.asked: list[tuple[float | None, bool]] = []
        self.stats = DetectorStats()

    def stop_gracefully(
        self, timeout_s: float | None = None, *, before_stop: Any = None
    ) -> DrainReport:
        self.asked.append((timeout_s, before_stop is not None))
        return self.report


def test_stop_detector_drains_for_the_setting_and_says_what_remains() -> None:
    settings = replace(load_settings(), {"detector.drain_timeout_s": 12.5})
    feed = DetectionFeed(settings)
    report = DrainReport({"process": 405, "memory": 0}, 12.0, timed_out=True)
    detector = _Detector(report)
    feed.detector = cast(Any, detector)
    feed.state = "running"
    assert feed.stop_now() is True
    assert detector.asked == [(12.5, True)]  # with the last read-back before the stop
    assert feed.last_stop is report and feed.detector is None
    assert (feed.state, feed.message) == (
        "stopped",
        "Detector stopped after 12 s of draining: 405 process records remain for the next start.",
    )
    assert feed.stop_now() is True  # nothing runs any more: no report to show
    assert feed.last_stop is None

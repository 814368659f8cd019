"""What the detector has done since it started, per stream, as its batches report it (pure).

:class:`DetectorStats` is fed by the detector's callbacks (under its lock): each ingest
batch's status from the monitor (:meth:`DetectorStats.add_status`), each ingest batch's
figures from its handler (:meth:`DetectorStats.add_figures`), and the alerts raised.
The workbench reads it for the totals, the run's event-time span and the delay line.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import pandas as pd

from pipelines.detector.delay import GROWING_AFTER, Delay, StreamDelay, detector_delay
from pipelines.detector.health import BatchStatus
from pipelines.detector.ingest import IngestFigures
from pipelines.detector.window_view import RunSpan
from pipelines.schema.columns import STREAMS

RECENT_BATCHES: Final = GROWING_AFTER + 1
"""Backlogs kept per stream: enough to tell a growing one (pipelines.detector.delay)."""


@dataclass
class Totals:
    """One stream's totals since the detector started."""

    batches: int = 0
    records: int = 0
    quarantined: int = 0
    scored: int = 0
    attacks: int = 0


@dataclass
class DetectorStats:
    """Totals since :meth:`Detector.start`, per stream, and what the delay line needs."""

    per_stream: dict[str, Totals] = field(default_factory=lambda: {s: Totals() for s in STREAMS})
    last: dict[str, BatchStatus] = field(default_factory=dict)
    alerts: int = 0
    first_event_s: float | None = None
    """Event time of the run's oldest cleaned record (unix seconds), either stream."""
    newest_event_s: float | None = None
    """Event time of its newest cleaned record so far."""
    wall_delay_s: dict[str, float] = field(default_factory=dict)
    """Per stream: its last batch's end minus that batch's newest event time, seconds."""
    recent_lags: dict[str, deque[int | None]] = field(
        default_factory=lambda: {s: deque(maxlen=RECENT_BATCHES) for s in STREAMS}
    )
    """Per stream: the backlog after each of its last batches, oldest first."""

    def add_status(self, status: BatchStatus) -> None:
        """An ingest batch as the monitor reports it (records, backlog, watermark)."""
        totals = self.per_stream[status.stream]
        totals.batches += 1
        totals.records += status.records
        totals.quarantined += status.quarantined_total
        totals.scored += status.scored
        totals.attacks += status.attacks
        self.last[status.stream] = status
        self.recent_lags[status.stream].append(status.lag)

    def add_figures(self, figures: IngestFigures) -> None:
        """An ingest batch's own figures: the event times it cleaned, when it ended."""
        if figures.oldest_event_s is not None:
            first = self.first_event_s
            self.first_event_s = (
                figures.oldest_event_s if first is None else min(first, figures.oldest_event_s)
            )
        if figures.newest_event_s is not None:
            newest = self.newest_event_s
            self.newest_event_s = (
                figures.newest_event_s if newest is None else max(newest, figures.newest_event_s)
            )
            self.wall_delay_s[figures.stream] = figures.finished_at - figures.newest_event_s

    def watermark(self) -> pd.Timestamp | None:
        """The 7a watermark of the newest batch status (naive UTC); None before one."""
        marks = [pd.Timestamp(s.watermark) for s in self.last.values() if s.watermark]
        return max(marks).tz_convert(None) if marks else None

    def spans(self, *, ended: bool = False) -> list[RunSpan]:
        """This run's event-time span once a record was cleaned: open while it runs,
        closed at its newest record when ``ended`` (the detector has stopped)."""
        first, newest = self.first_event_s, self.newest_event_s
        if first is None:
            return []
        last = pd.Timestamp(newest, unit="s") if ended and newest is not None else None
        return [RunSpan(pd.Timestamp(first, unit="s"), last)]

    def delay(self, trigger_s: float) -> Delay:
        """How far the detections trail the newest record, and whether that grows."""
        streams = [
            StreamDelay(
                stream,
                self.wall_delay_s.get(stream),
                self.last[stream].duration_s if stream in self.last else None,
                tuple(self.recent_lags[stream]),
            )
            for stream in STREAMS
        ]
        known = [
            datetime.fromisoformat(s.watermark.replace("Z", "+00:00")).timestamp()
            for s in self.last.values()
            if s.watermark
        ]
        return detector_delay(
            streams,
            newest_event_s=self.newest_event_s,
            watermark_s=max(known) if known else None,
            trigger_s=trigger_s,
        )

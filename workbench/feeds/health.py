"""Health feed: the detector's per-micro-batch health records, read from their topic.

One :class:`pipelines.detector.health_reader.HealthReader` (a kafka-python consumer
thread, started once per process, reading the health topic from its earliest offset)
pushes parsed records here; the feed turns them into two frames the Health tab shows:
the latest record per stream and the history (records/s and lag over time). Updates
are batched per poll of the consumer, and at most one every :data:`UPDATE_PERIOD_S`.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Final

import param

from pipelines.config import Settings
from pipelines.detector.health_reader import HealthReader, health_frame, latest_per_stream
from pipelines.live.kafka_source import SourceStatus

UPDATE_PERIOD_S: Final = 1.0
"""Fewest seconds between two frame updates (a replayed backlog arrives in bursts)."""
HISTORY_RECORDS: Final = 2000
"""Health records kept for the curves (per stream one per trigger: hours at 5 s)."""


class HealthFeed(param.Parameterized):
    """The health topic as frames for the Health tab (shared by every session)."""

    topic = param.String(default="", constant=True)
    state: param.Selector = param.Selector(
        default="stopped", objects=["stopped", "waiting", "live", "broker down"]
    )
    message = param.String(default="not started")
    latest = param.DataFrame(default=None, allow_None=True, doc="newest record per stream")
    history = param.DataFrame(default=None, allow_None=True, doc="records kept, oldest first")
    records_seen = param.Integer(default=0)

    def __init__(self, settings: Settings, **params: Any) -> None:
        topic = settings.kafka.topics.health
        with param.edit_constant(self):
            super().__init__(topic=topic, **params)
        self.settings = settings
        self._reader = HealthReader(
            settings.kafka,
            topic,
            max_records=HISTORY_RECORDS,
            on_records=self._on_records,
            on_status=self._on_status,
        )
        self._lock = threading.Lock()
        self._last_update = 0.0
        self._pending = False
        self._timer: threading.Timer | None = None

    def ensure_started(self) -> None:
        """Start the reader unless it runs (cheap: it starts threads and returns)."""
        with self._lock:
            if not self._reader.running:
                self._reader.start()
                self.param.update(state="waiting", message=f"reading {self.topic}")

    def stop(self) -> None:
        """Stop the reader (its consumer closes; the frames stay on show)."""
        with self._lock:
            timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()
            self._reader.stop()
            self.state = "stopped"

    def show(self, records: list[dict[str, Any]]) -> None:
        """Replace the frames with these records (also how tests give static values)."""
        frame = health_frame(records)
        self.param.update(
            history=frame,
            latest=latest_per_stream(frame),
            records_seen=len(records),
            state="live" if records else self.state,
        )

    def _on_records(self, _fresh: list[dict[str, Any]]) -> None:
        # Rebuild from the reader's copy, at most once per UPDATE_PERIOD_S; a burst in
        # between is shown by one deferred update.
        with self._lock:
            wait = UPDATE_PERIOD_S - (time.monotonic() - self._last_update)
            if wait > 0:
                if not self._pending:
                    self._pending = True
                    self._timer = threading.Timer(wait, self._update)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self._update()

    def _update(self) -> None:
        with self._lock:
            self._pending = False
            self._last_update = time.monotonic()
        self.show(self._reader.records())

    def _on_status(self, status: SourceStatus) -> None:
        if status.connected is False:
            self.param.update(state="broker down", message=status.message)
        elif status.running:
            state = "live" if self.records_seen else "waiting"
            self.param.update(state=state, message=status.message)

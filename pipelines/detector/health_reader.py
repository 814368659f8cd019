"""Read the detector's health records (topic ``stophacking.health.v1``) back, live.

The detector publishes one JSON object per ingest micro-batch (see
:func:`pipelines.detector.health.health_record`). :class:`HealthReader` follows that
topic with the live consumers' :class:`~pipelines.live.kafka_source.KafkaSource` (one
kafka-python consumer thread, reconnecting by itself) from the earliest offset, parses
each record and keeps the newest ``max_records`` of them; :func:`health_frame` and
:func:`latest_per_stream` turn them into pandas for a table or a chart (pure).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Final

import pandas as pd

from pipelines.config import KafkaSettings
from pipelines.detector.health import HEALTH_SCHEMA_VERSION
from pipelines.live.kafka_source import KafkaSource, SourceStatus
from pipelines.live.messages import Arrival

log = logging.getLogger(__name__)

HEALTH_COLUMNS: Final[tuple[str, ...]] = (
    "at",
    "stream",
    "batch_id",
    "records",
    "records_per_s",
    "lag",
    "watermark",
    "duration_s",
    "quarantined_total",
    "scored",
    "attacks",
    "alerts_total",
)
"""Columns of :func:`health_frame`, in display order."""
_DTYPES: Final[dict[str, str]] = {
    "at": "datetime64[ns]",
    "stream": "object",
    "batch_id": "int64",
    "records": "int64",
    "records_per_s": "float64",
    "lag": "float64",  # null when the broker could not be asked
    "watermark": "object",
    "duration_s": "float64",
    "quarantined_total": "int64",
    "scored": "int64",
    "attacks": "int64",
    "alerts_total": "int64",
}
DEFAULT_MAX_RECORDS: Final = 5000
"""Records kept: at one per stream per 5 s trigger, about 3.5 hours."""
DRAIN_TIMEOUT_S: Final = 0.5
"""Longest the parsing thread waits for a batch: bounds how late stop() takes effect."""


def parse_health_record(value: bytes | None) -> dict[str, Any] | None:
    """One health message as a dict, or None when it is not a version-1 health record.

    Args:
        value: the Kafka message value (JSON text).

    Returns:
        The record with the fields of :data:`HEALTH_COLUMNS` present; None for broken
        JSON, another schema version, or a record lacking one of those fields.
    """
    if not value:
        return None
    try:
        record = json.loads(value)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("schema_version") != HEALTH_SCHEMA_VERSION:
        return None
    if any(column not in record for column in HEALTH_COLUMNS):
        return None
    return record


def health_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Health records as a frame, oldest first (pure).

    Returns:
        :data:`HEALTH_COLUMNS`; ``at`` as naive UTC datetime64, ``lag`` as float (NaN
        when unknown); empty (same columns and dtypes) for no records.
    """
    rows = [{c: record.get(c) for c in HEALTH_COLUMNS} for record in records]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=_DTYPES[c]) for c in HEALTH_COLUMNS})
    frame = pd.DataFrame(rows, columns=list(HEALTH_COLUMNS))
    frame["at"] = pd.to_datetime(frame["at"], utc=True).dt.tz_localize(None)
    frame["lag"] = pd.to_numeric(frame["lag"], errors="coerce").astype("float64")
    for column in ("records_per_s", "duration_s"):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    for column in ("batch_id", "records", "quarantined_total", "scored", "attacks"):
        frame[column] = pd.to_numeric(frame[column]).astype("int64")
    frame["alerts_total"] = pd.to_numeric(frame["alerts_total"]).astype("int64")
    return frame.sort_values("at", kind="stable").reset_index(drop=True)


def latest_per_stream(frame: pd.DataFrame) -> pd.DataFrame:
    """The newest record of each stream (pure), sorted by stream."""
    if frame.empty:
        return frame
    newest = frame.sort_values("at", kind="stable").groupby("stream", as_index=False).last()
    return newest.loc[:, list(HEALTH_COLUMNS)].sort_values("stream").reset_index(drop=True)


class HealthReader:
    """Follows the health topic from its earliest offset and keeps the newest records.

    Args:
        kafka: cluster settings.
        topic: the health topic (``settings.kafka.topics.health``).
        max_records: records kept (oldest dropped first).
        on_records: called on the reader's parsing thread with each new batch of parsed
            records (keep it short).
        on_status: called on the consumer thread when the connection state changes.
        duration_s: stop after this many seconds (None: until :meth:`stop`).
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        *,
        max_records: int = DEFAULT_MAX_RECORDS,
        on_records: Callable[[list[dict[str, Any]]], None] | None = None,
        on_status: Callable[[SourceStatus], None] | None = None,
        duration_s: float | None = None,
    ) -> None:
        self.topic = topic
        self.on_records = on_records
        self._queue: queue.Queue[list[Arrival]] = queue.Queue(maxsize=100)
        self._source = KafkaSource(
            kafka,
            topic,
            self._queue,
            from_beginning=True,
            duration_s=duration_s,
            on_status=on_status,
        )
        self._records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rejected = 0
        """Messages on the topic that were not version-1 health records."""

    @property
    def running(self) -> bool:
        """Whether the consumer thread runs."""
        return self._source.running

    @property
    def status(self) -> SourceStatus:
        """The consumer's connection state."""
        return self._source.status

    def start(self) -> None:
        """Start the consumer and parsing threads (no-op when they run)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._source.start()
        self._thread = threading.Thread(
            target=self._drain, name=f"health-reader-{self.topic}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop both threads (the consumer closes); the records kept stay readable."""
        self._source.stop(timeout_s)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def records(self) -> list[dict[str, Any]]:
        """A copy of the records kept, oldest first."""
        with self._lock:
            return list(self._records)

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._queue.get(timeout=DRAIN_TIMEOUT_S)
            except queue.Empty:
                if not self._source.running:
                    break  # the source reached its bound
                continue
            parsed = [parse_health_record(arrival.value) for arrival in batch]
            fresh = [record for record in parsed if record is not None]
            with self._lock:
                self.rejected += len(parsed) - len(fresh)
                self._records.extend(fresh)
            if fresh and self.on_records is not None:
                try:
                    self.on_records(fresh)
                except Exception:  # a display problem must not stop the reader
                    log.exception("the on_records callback failed")

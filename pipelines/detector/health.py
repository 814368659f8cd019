"""Per-micro-batch figures of the detector and the health record it publishes (pure).

No Spark or Kafka here: :class:`BatchStatus` is what one ingest micro-batch did, and
:func:`health_record` is the JSON object published for it to the health topic
(``stophacking.health.v1``, schema version :data:`HEALTH_SCHEMA_VERSION`).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

HEALTH_SCHEMA_VERSION: Final = 1


@dataclass(frozen=True)
class BatchStatus:
    """What one ingest micro-batch of one stream did.

    Attributes:
        stream: ``process`` or ``memory``.
        batch_id: Spark's micro-batch id (restarts continue the numbering).
        messages: Kafka messages read.
        records: records in them (an array message holds several).
        quarantined: stage (``decode``, ``parse``, ``score``) → records quarantined.
        scored: records scored.
        attacks: scored records predicted as attack.
        duration_s: wall time of the batch's work in ``foreachBatch``, seconds.
        lag: messages on the source topic not read yet when the batch ended (None when
            the broker could not be asked); partitions never read count 0.
        watermark: event-time watermark of the 7a query (ISO text, UTC), None before it
            has one.
        ended_at: unix time when the batch's work ended (None when unknown).
        broker_away_s: seconds the detector's monitor found the broker unreachable since
            this stream's previous batch (0.0: it always answered); see
            :class:`BrokerContact`.
    """

    stream: str
    batch_id: int
    messages: int
    records: int
    quarantined: Mapping[str, int]
    scored: int
    attacks: int
    duration_s: float
    lag: int | None = None
    watermark: str | None = None
    ended_at: float | None = None
    broker_away_s: float = 0.0

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def records_per_s(self) -> float:
        """Records per second of batch work (0 for an instantaneous batch)."""
        return self.records / self.duration_s if self.duration_s > 0 else 0.0


def health_record(status: BatchStatus, *, alerts_total: int, at: datetime) -> dict[str, Any]:
    """The health topic's JSON object for one ingest micro-batch.

    Args:
        status: the batch's figures.
        alerts_total: alerts raised since the detector started.
        at: when the batch ended (timezone-aware).

    Returns:
        ``schema_version``, ``at`` (ISO, UTC offset), ``stream``, ``batch_id``,
        ``messages``, ``records``, ``records_per_s``, ``quarantined`` (per stage),
        ``quarantined_total``, ``scored``, ``attacks``, ``duration_s``, ``lag``,
        ``watermark``, ``alerts_total``, ``broker_away_s``.
    """
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    return {
        "schema_version": HEALTH_SCHEMA_VERSION,
        "at": at.isoformat(),
        "stream": status.stream,
        "batch_id": status.batch_id,
        "messages": status.messages,
        "records": status.records,
        "records_per_s": round(status.records_per_s, 3),
        "quarantined": dict(status.quarantined),
        "quarantined_total": status.quarantined_total,
        "scored": status.scored,
        "attacks": status.attacks,
        "duration_s": round(status.duration_s, 3),
        "lag": status.lag,
        "watermark": status.watermark,
        "alerts_total": alerts_total,
        "broker_away_s": round(status.broker_away_s, 1),
    }


class BrokerContact:
    """Whether the broker answered the monitor's last request, and for how long it did not.

    The monitor calls :meth:`failed` when a request to the broker fails and
    :meth:`answered` when one succeeds; each stream's next health record then carries
    the seconds of the outage that ended (:meth:`take`). The outage is counted from the
    first failed request to the first answered one, so it is a lower bound: the broker
    may have gone a probe period earlier.

    A request made before the broker's last answer that fails after it (a client that
    began to connect during the outage and gave up once the broker was back) tells
    nothing new and begins no outage.
    """

    def __init__(self, streams: tuple[str, ...]) -> None:
        self.away_since: float | None = None
        self.answered_at: float | None = None
        self.last_away_s: float | None = None
        """Seconds of the last outage counted."""
        # The last calls, for a report of what the monitor saw (tests, debugging).
        self.history: collections.deque[tuple[str, float]] = collections.deque(maxlen=64)
        # Recent answers, and the outages found, to place a slow answer's asking.
        self._answers: collections.deque[float] = collections.deque(maxlen=256)
        self._outages: collections.deque[tuple[float, float]] = collections.deque(maxlen=16)
        self._unreported: dict[str, float] = dict.fromkeys(streams, 0.0)
        # The monitor's thread (lag reads) and its prober's thread both report.
        self._lock = threading.Lock()

    @property
    def away(self) -> bool:
        return self.away_since is not None

    def failed(self, at: float) -> bool:
        """Note a failed request made at unix time ``at``; True when an outage begins."""
        with self._lock:
            if self.away_since is not None:
                self.history.append(("failed, still away", at))
                return False
            if self.answered_at is not None and at < self.answered_at:
                self.history.append(("failed, asked before the last answer", at))
                return False  # asked before the last answer: stale
            self.history.append(("failed, away from here", at))
            self.away_since = at
            return True

    def failed_slowly(self, asked_at: float, answered_at: float, *, bound_s: float) -> bool:
        """A request asked at ``asked_at`` answered only at ``answered_at``: when that took
        longer than ``bound_s`` (a client still connecting when the broker went, answered
        when it came back), the broker did not answer from the asking on. True when that
        finds an outage no earlier call found. Only a request asked after a silence of
        ``bound_s`` can find one (a lag read after a quiet spell; the prober reports its
        own slow requests as failed already, :func:`~pipelines.detector.monitor.probe_broker`):
        a request asked just after an answer and answered slowly met a slow broker, not
        an absent one.

        When another request was answered after the asking (the lag read of the first
        batch after the broker's return can answer before this slow one), the outage ran
        from the asking to that first answer, and is counted at once. Otherwise it is
        open, as after :meth:`failed`; call :meth:`answered` next.
        """
        if answered_at - asked_at <= bound_s:
            return False
        with self._lock:
            heard = max((t for t in self._answers if t <= asked_at), default=None)
            if heard is not None and asked_at - heard < bound_s:
                # Asked soon after an answer (a lag read after a batch, not the prober,
                # which asks after a silence of ``bound_s``): a slow broker, not an absent
                # one; were it absent, the prober finds it.
                self.history.append(("answered slowly, heard just before", asked_at))
                return False
            if self.away_since is not None or any(
                start <= asked_at <= end for start, end in self._outages
            ):
                self.history.append(("answered slowly, outage known", asked_at))
                return False
            first_answer = min((t for t in self._answers if t > asked_at), default=None)
            if first_answer is None:
                self.history.append(("answered slowly, away from its asking", asked_at))
                self.away_since = asked_at
                return True
            self.history.append(("answered slowly, away until an earlier answer", asked_at))
            self._close(asked_at, first_answer)
            return True

    def answered(self, at: float) -> float | None:
        """Note an answered request; the outage's seconds when one just ended, else None."""
        with self._lock:
            self.answered_at = at if self.answered_at is None else max(self.answered_at, at)
            self._answers.append(at)
            since, self.away_since = self.away_since, None
            if since is None:
                if self.history and self.history[-1][0] == "answered":
                    self.history[-1] = ("answered", at)  # one entry for a run of answers
                else:
                    self.history.append(("answered", at))
                return None
            self.history.append(("answered, outage over", at))
            return self._close(since, at)

    def _close(self, since: float, until: float) -> float:
        """Count the outage from ``since`` to ``until`` in every stream (lock held)."""
        away_s = max(0.0, until - since)
        self._outages.append((since, until))
        self.last_away_s = away_s
        for stream in self._unreported:
            self._unreported[stream] += away_s
        return away_s

    def take(self, stream: str) -> float:
        """Seconds of outage not yet reported in ``stream``'s health records (then 0)."""
        with self._lock:
            away_s = self._unreported.get(stream, 0.0)
            self._unreported[stream] = 0.0
            if away_s:
                self.history.append((f"{stream} health record carries {away_s:.1f} s", time.time()))
            return away_s

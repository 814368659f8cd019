"""Per-micro-batch figures of the detector and the health record it publishes (pure).

No Spark or Kafka here: :class:`BatchStatus` is what one ingest micro-batch did, and
:func:`health_record` is the JSON object published for it to the health topic
(``stophacking.health.v1``, schema version :data:`HEALTH_SCHEMA_VERSION`).
"""

from __future__ import annotations

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
        ``watermark``, ``alerts_total``.
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
    }

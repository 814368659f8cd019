"""The detector's health record and batch figures (plain values, no Spark or Kafka)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pipelines.detector.health import (
    HEALTH_SCHEMA_VERSION,
    BatchStatus,
    BrokerContact,
    health_record,
)

STATUS = BatchStatus(
    stream="memory",
    batch_id=7,
    messages=40,
    records=120,
    quarantined={"decode": 1, "parse": 2, "score": 0},
    scored=117,
    attacks=30,
    duration_s=4.0,
    lag=15,
    watermark="2026-01-01T00:00:00.000Z",
)


def test_health_record_carries_every_figure_as_json() -> None:
    at = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    record = health_record(STATUS, alerts_total=3, at=at)
    assert json.loads(json.dumps(record)) == {
        "schema_version": HEALTH_SCHEMA_VERSION,
        "at": "2026-01-01T00:00:05+00:00",
        "stream": "memory",
        "batch_id": 7,
        "messages": 40,
        "records": 120,
        "records_per_s": 30.0,
        "quarantined": {"decode": 1, "parse": 2, "score": 0},
        "quarantined_total": 3,
        "scored": 117,
        "attacks": 30,
        "duration_s": 4.0,
        "lag": 15,
        "watermark": "2026-01-01T00:00:00.000Z",
        "alerts_total": 3,
        "broker_away_s": 0.0,
    }


def test_rate_of_an_instant_batch_is_zero_not_a_division_error() -> None:
    instant = BatchStatus("process", 0, 0, 0, {}, 0, 0, 0.0)
    assert instant.records_per_s == 0.0
    assert instant.quarantined_total == 0


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        health_record(STATUS, alerts_total=0, at=datetime(2026, 1, 1))  # noqa: DTZ001


def test_an_outage_is_reported_once_per_stream_from_first_failure_to_first_answer() -> None:
    contact = BrokerContact(("process", "memory"))
    assert contact.answered(at=100.0) is None  # no outage: nothing to report
    assert contact.failed(at=110.0) is True
    assert contact.failed(at=125.0) is False  # the same outage goes on
    assert contact.away
    assert contact.answered(at=131.5) == 21.5
    assert not contact.away
    assert contact.take("process") == 21.5
    assert contact.take("process") == 0.0  # reported once
    assert contact.take("memory") == 21.5


def test_outages_between_two_batches_add_up() -> None:
    contact = BrokerContact(("process",))
    contact.failed(at=0.0)
    contact.answered(at=5.0)
    contact.failed(at=10.0)
    contact.answered(at=12.0)
    assert contact.take("process") == 7.0


def test_a_request_asked_before_the_last_answer_begins_no_outage() -> None:
    contact = BrokerContact(("process",))
    contact.failed(at=0.0)
    assert contact.answered(at=20.0) == 20.0
    # A client that began to connect at 15 s (broker away) gives up at 21 s: stale.
    assert contact.failed(at=15.0) is False
    assert not contact.away
    assert contact.failed(at=22.0) is True  # asked after the answer: a new outage
    assert contact.answered(at=25.0) == 3.0
    assert contact.take("process") == 23.0


def test_a_request_answered_only_after_the_bound_is_an_outage_from_its_asking() -> None:
    contact = BrokerContact(("process",))
    contact.answered(at=0.0)
    assert contact.failed_slowly(1.0, 1.5, bound_s=5.0) is False  # a quick answer
    contact.answered(at=1.5)
    # The prober's client, asked at 7 s after 5.5 s without an answer, waited through the
    # outage and was answered at 25 s.
    assert contact.failed_slowly(7.0, 25.0, bound_s=5.0) is True
    assert contact.answered(at=25.0) == 18.0
    assert contact.take("process") == 18.0


def test_a_slow_answer_asked_just_after_an_answer_is_a_slow_broker_not_an_outage() -> None:
    # Seen here after a recovery: a lag read asked 3.2 s after an answer took 5 s.
    contact = BrokerContact(("process",))
    contact.answered(at=24.8)
    contact.answered(at=29.8)
    assert contact.failed_slowly(28.0, 33.1, bound_s=5.0) is False
    contact.answered(at=33.1)
    assert contact.take("process") == 0.0


def test_a_slow_answer_after_another_answer_counts_the_outage_until_that_answer() -> None:
    # The clean-clone failure: the prober's client, made during the outage, waited for the
    # broker and was answered after the first lag read of the broker's return had been.
    contact = BrokerContact(("process", "memory"))
    contact.answered(at=0.0)
    contact.answered(at=24.0)  # the lag read after the first batch once the broker is back
    assert contact.failed_slowly(5.0, 26.0, bound_s=5.0) is True
    assert not contact.away  # it ended at 24 s
    assert contact.answered(at=26.0) is None
    assert contact.take("process") == contact.take("memory") == 19.0


def test_a_slow_answer_inside_a_known_outage_counts_nothing_more() -> None:
    contact = BrokerContact(("process",))
    contact.answered(at=0.0)
    contact.failed(at=4.0)
    assert contact.answered(at=24.0) == 20.0
    # The prober's request asked at 9 s, answered late: the outage is counted already.
    assert contact.failed_slowly(9.0, 26.0, bound_s=5.0) is False
    contact.answered(at=26.0)
    assert contact.take("process") == 20.0


def test_the_health_record_carries_the_outage_seconds() -> None:
    status = BatchStatus("process", 3, 1, 1, {}, 1, 0, 0.5, broker_away_s=21.46)
    record = health_record(status, alerts_total=0, at=datetime(2026, 1, 1, tzinfo=UTC))
    assert record["broker_away_s"] == 21.5

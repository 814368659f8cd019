"""The single broker stopped for 20 s while the detector runs: it rides the outage out.

One detector run for the module, on a private embedded broker (``module_own_broker``):
both Replayers (idempotent, ``acks='all'``, retrying) send the tiny sample at twice real
speed; once both ingest queries have committed batches the broker is stopped (its data
folder kept), left down for :data:`OUTAGE_S`, started again on the same port, and the
producers go on for :data:`AFTER_S`. Then they stop, the detector drains, and the tests
check that no query failed or was restarted, that every record sent is cleaned and
scored exactly once, that 7a and 7b equal their batch recomputation, and that the health
topic shows the outage and the recovery. The measured pause and time to recover are
printed (``-s``) and bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from pipelines import kafka_io
from pipelines.broker import EmbeddedBroker
from pipelines.config import Settings
from pipelines.detector import transforms
from pipelines.detector.health import BatchStatus
from pipelines.detector.job import Detector
from pipelines.detector.layout import DetectorTopics
from pipelines.replay.kafka_producer import Replayer
from pipelines.replay.report import ReplayReport
from pipelines.schema.columns import STREAMS, Stream
from tests.support.detector import wait_until
from tests.support.detector_outputs import (
    check_pairs_and_alerts,
    check_sent_exactly_once,
    same_rows,
    scored_outputs,
    topic_values,
)

OUTAGE_S = 20.0
"""How long the broker stays down (issue 14)."""
AFTER_S = 10.0
"""How long the producers go on once the broker is back."""
SPEED = 2.0
"""Both producers at twice real speed: a process cycle every 2.5 s, a memory cycle every
5 s, event time advancing alike on both streams (so 7b pairs them)."""
BATCHES_BEFORE = 2
"""Ingest batches with records each stream commits before the broker is stopped."""
POLL_S = 0.5
RECOVER_BOUND_S = 90.0
"""Longest accepted wait, after the broker answers again, for an ingest batch with
records to end (measured: see docs/reliability.md)."""
COUNTS_TABLE = "attack_counts_outage"


@dataclass
class Outage:
    """What the module's detector run through the outage produced and measured."""

    detector: Detector
    settings: Settings
    topics: DetectorTopics
    statuses: list[BatchStatus]
    reports: dict[Stream, ReplayReport]
    stopped_at: float  # unix time the broker stop began
    back_at: float  # unix time the restarted broker answered
    failures: list[str | None]  # Detector.failure() polled while the broker was down
    ids_before: dict[str, tuple[str, str]]  # query name → (id, runId) before the stop
    ids_after: dict[str, tuple[str, str]]  # the same after the drain
    active_after: dict[str, bool]
    drained: bool
    figures: dict[str, Any] = field(default_factory=dict)


def _ids(detector: Detector) -> dict[str, tuple[str, str]]:
    return {name: (str(q.id), str(q.runId)) for name, q in detector.queries.items()}


@pytest.fixture(scope="module")
def outage(
    module_own_broker: tuple[Settings, EmbeddedBroker],
    spark: SparkSession,
    shared_dir: Path,
    tiny_files: dict[Stream, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Outage]:
    settings, broker = module_own_broker
    root = tmp_path_factory.mktemp("outage")
    topics = DetectorTopics.unique("test.outage")
    kafka_io.ensure_topics(settings.kafka, list(topics.names().values()))
    provided = shared_dir / "models" / "provided"
    statuses: list[BatchStatus] = []
    detector = Detector(
        settings,
        process_model=provided / "process_pipeline_model",
        memory_model=provided / "memory_pipeline_model",
        output_dir=root / "out",
        checkpoint_dir=root / "checkpoints",
        topics=topics,
        trigger_s=1.0,
        monitor_trigger_s=2.0,
        counts_table=COUNTS_TABLE,
        on_batch=statuses.append,
        spark=spark,
    )
    sending = threading.Event()
    start_ts = float(int(time.time()))
    replayers = {
        s: Replayer(settings, s, file=tiny_files[s], seed=14, speed=SPEED, clock="simulated",
                    start_ts=start_ts, topic=topics.source(s), run_id=f"outage-{s}")
        for s in STREAMS
    }  # fmt: skip
    reports: dict[Stream, ReplayReport] = {}

    def produce(stream: Stream) -> None:
        with replayers[stream] as replayer:
            reports[stream] = replayer.run(stop=sending)

    threads = [threading.Thread(target=produce, args=(s,), name=f"send-{s}") for s in STREAMS]
    detector.start()
    try:
        for thread in threads:
            thread.start()

        def batches_with_records(stream: Stream) -> int:
            return sum(1 for s in list(statuses) if s.stream == stream and s.records > 0)

        wait_until(
            lambda: all(batches_with_records(s) >= BATCHES_BEFORE for s in STREAMS),
            240,
            f"{BATCHES_BEFORE} ingest batches with records per stream",
        )
        ids_before = _ids(detector)
        stopped_at = time.time()
        broker.stop()  # SIGTERM; the data folder stays
        failures: list[str | None] = []
        while time.time() - stopped_at < OUTAGE_S:  # the outage itself, not a readiness wait
            failures.append(detector.failure())
            time.sleep(POLL_S)
        broker.start()  # same port, same storage; returns once the broker answers
        back_at = time.time()
        failures.append(detector.failure())
        time.sleep(AFTER_S)  # the producers go on after the outage
        sending.set()
        for thread in threads:
            thread.join(timeout=180)
        assert not any(t.is_alive() for t in threads), "a producer did not finish"
        drained = detector.drain(300)
        if drained:
            detector.process_all_available(timeout_s=120)
        ids_after = _ids(detector)
        active_after = {name: q.isActive for name, q in detector.queries.items()}
        yield Outage(
            detector, settings, topics, statuses, reports, stopped_at, back_at, failures,
            ids_before, ids_after, active_after, drained,
        )  # fmt: skip
    finally:
        sending.set()
        detector.stop()


def test_the_detector_neither_fails_nor_restarts_a_query_during_the_outage(
    outage: Outage,
) -> None:
    assert len(outage.failures) >= OUTAGE_S / POLL_S / 2, "the outage was not watched"
    assert [f for f in outage.failures if f is not None] == []
    assert outage.detector.failure() is None
    assert outage.drained, "the detector did not catch up after the outage"
    assert outage.ids_after == outage.ids_before  # same query ids and run ids
    assert set(outage.active_after) == set(outage.ids_before)
    assert all(outage.active_after.values())


def test_the_producers_sent_every_record_once_across_the_outage(outage: Outage) -> None:
    for stream, report in outage.reports.items():
        assert report.errors == 0, (stream, report.last_error)
        assert report.total_acked == report.total_sent > 0
        # Records were sent both before the stop and after the restart.
        assert report.elapsed_s > OUTAGE_S + AFTER_S


@pytest.mark.parametrize("stream", STREAMS)
def test_every_record_sent_is_cleaned_and_scored_exactly_once(
    outage: Outage, spark: SparkSession, stream: Stream, topic_records: Callable[..., Any]
) -> None:
    figures = check_sent_exactly_once(
        spark, outage.detector, stream,
        topic_records(outage.settings.kafka, outage.topics.source(stream)),
        outage.reports[stream].total_acked,
    )  # fmt: skip
    print(f"\n{stream} records through the outage: {figures}")


def test_attack_counts_equal_a_batch_recomputation(outage: Outage, spark: SparkSession) -> None:
    table = spark.table(COUNTS_TABLE)
    assert table.count() > 0
    same_rows(table, transforms.attack_counts(scored_outputs(spark, outage.detector)))


def test_pairs_and_alerts_equal_a_batch_recomputation(outage: Outage, spark: SparkSession) -> None:
    check_pairs_and_alerts(spark, outage.detector, outage.settings.kafka, outage.topics.alerts)


def _health(spark: SparkSession, outage: Outage) -> list[dict[str, Any]]:
    values = topic_values(spark, outage.settings.kafka.bootstrap_servers, outage.topics.health)
    return [value for _, value in values]


def test_the_detector_resumes_soon_after_the_broker_returns(outage: Outage) -> None:
    figures: dict[str, float] = {}
    for stream in STREAMS:
        ended = [s.ended_at for s in outage.statuses if s.stream == stream and s.records > 0]
        before = max(t for t in ended if t is not None and t < outage.stopped_at)
        after = min(t for t in ended if t is not None and t > outage.back_at)
        figures[f"{stream} pause_s"] = round(after - before, 1)
        figures[f"{stream} recover_s"] = round(after - outage.back_at, 1)
        assert after - outage.back_at < RECOVER_BOUND_S
    figures["broker down_s"] = round(outage.back_at - outage.stopped_at, 1)
    print(f"\noutage figures: {figures}")


def _contact_report(outage: Outage) -> str:
    """What the detector's monitor saw of the broker, relative to the broker's stop."""
    monitor = outage.detector._queries.monitor
    if monitor is None:
        return "no monitor"
    seen = [f"{what} at {at - outage.stopped_at:+.1f} s" for what, at in monitor.contact.history]
    return f"broker back at {outage.back_at - outage.stopped_at:+.1f} s; the monitor saw: {seen}"


def test_the_health_topic_shows_the_outage_and_the_recovery(
    outage: Outage, spark: SparkSession
) -> None:
    health = _health(spark, outage)
    seen = _contact_report(outage)  # in every failure message: what the monitor saw
    at = [datetime.fromisoformat(v["at"]).timestamp() for v in health]
    assert any(t < outage.stopped_at for t in at), "no health record before the outage"
    assert any(t > outage.back_at for t in at), "no health record after the recovery"
    for stream in STREAMS:
        records = [v for v in health if v["stream"] == stream]
        totals = outage.detector.stats.per_stream[stream]
        assert sum(v["records"] for v in records) == totals.records, seen
        assert records[-1]["lag"] == 0, seen  # caught up
        # The first record after the outage says how long the broker did not answer.
        away = [v for v in records if v["broker_away_s"] > 0]
        assert len(away) == 1, (away, seen)
        first_after = datetime.fromisoformat(away[0]["at"]).timestamp()
        assert first_after > outage.back_at, (away, seen)
        bound = first_after - outage.stopped_at
        assert OUTAGE_S / 2 <= away[0]["broker_away_s"] <= bound, (away, seen)
        print(f"\n{stream} health record after the outage: {away[0]}")
    print(f"\n{seen}")

"""Reading the detector's results back into pandas (readback) and its health topic
(health_reader), on the test session's Spark and broker.

The 7a table and the alerts folder are made here with the same columns the detector
writes (a temp view stands in for the memory sink: both are Spark SQL tables), so the
checks do not need a detector run; the Detection tab's browser test covers a real one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer
from pyspark.sql import SparkSession

from pipelines import kafka_io
from pipelines.config import KafkaSettings
from pipelines.detector.health_reader import HealthReader, health_frame, latest_per_stream
from pipelines.detector.layout import ALERTS_DIR
from pipelines.detector.readback import (
    ALERT_COLUMNS,
    alert_total,
    latest_alerts,
    latest_window_counts,
    summed_counts,
    window_counts_frame,
)

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def test_window_counts_frame_reads_the_table_typed_and_ordered(spark: SparkSession) -> None:
    assert window_counts_frame(spark, "no_such_counts_table").empty
    rows = [
        (5, T0 + timedelta(minutes=2), T0 + timedelta(minutes=4), "memory", 2),
        (4, T0, T0 + timedelta(minutes=2), "process", 3),
        (4, T0 + timedelta(minutes=2), T0 + timedelta(minutes=4), "process", 1),
        (4, T0, T0 + timedelta(minutes=2), "memory", 5),
    ]
    spark.createDataFrame(
        rows, "machine int, window_start timestamp, window_end timestamp, stream string, count long"
    ).createOrReplaceTempView("readback_counts")
    frame = window_counts_frame(spark, "readback_counts")
    assert list(frame.columns) == ["machine", "window_start", "window_end", "stream", "count"]
    assert str(frame["window_start"].dtype) == "datetime64[ns]"
    assert [tuple(r) for r in frame[["machine", "stream", "count"]].itertuples(index=False)] == [
        (4, "memory", 5), (4, "process", 3), (4, "process", 1), (5, "memory", 2),
    ]  # fmt: skip
    # Naive UTC in pandas (the session's time zone), with no shift on the way.
    assert frame["window_start"].iloc[0] == T0.replace(tzinfo=None)
    latest = latest_window_counts(frame)
    assert [tuple(r) for r in latest[["machine", "stream", "count"]].itertuples(index=False)] == [
        (4, "memory", 5), (4, "process", 1), (5, "memory", 2),
    ]  # fmt: skip
    summed = summed_counts(frame)
    assert list(summed["count"]) == [8, 1, 2]
    with pytest.raises(ValueError, match="not a table name"):
        window_counts_frame(spark, "x; DROP TABLE y")


def test_latest_alerts_reads_complete_batches_newest_first(
    spark: SparkSession, tmp_path: Path
) -> None:
    assert latest_alerts(spark, tmp_path).empty and alert_total(spark, tmp_path) == 0
    schema = (
        "machine int, CMD string, PID int, window_start timestamp, window_end timestamp, "
        "pair_count long, process_probability double, memory_probability double, "
        "first_process_event_time timestamp, first_memory_event_time timestamp, "
        "severity_score double, severity string"
    )

    def alert(machine: int, pid: int, minute: int) -> tuple[object, ...]:
        start = T0 + timedelta(minutes=minute)
        seen = (start + timedelta(seconds=8), start + timedelta(seconds=9))
        end = start + timedelta(minutes=2)
        return (machine, "xmrig", pid, start, end, 2, 0.95, 0.91, *seen, 0.91, "high")

    root = tmp_path / ALERTS_DIR
    spark.createDataFrame([alert(4, 10, 0), alert(5, 11, 2)], schema).write.parquet(
        str(root / "batch=0")
    )
    spark.createDataFrame([alert(4, 12, 4)], schema).write.parquet(str(root / "batch=3"))
    # A batch being rewritten after a crash has no _SUCCESS yet: not read.
    spark.createDataFrame([alert(6, 13, 6)], schema).write.parquet(str(root / "batch=4"))
    (root / "batch=4" / "_SUCCESS").unlink()

    frame = latest_alerts(spark, tmp_path, limit=2)
    assert list(frame.columns) == [*ALERT_COLUMNS, "batch"]
    assert [(r.machine, r.PID, r.batch) for r in frame.itertuples()] == [(4, 12, 3), (5, 11, 0)]
    assert alert_total(spark, tmp_path) == 3


def test_health_reader_follows_the_topic_from_the_start(
    kafka: KafkaSettings, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("health")
    at = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)

    def record(stream: str, batch_id: int, seconds: int, lag: int | None) -> bytes:
        return json.dumps(
            {
                "schema_version": 1, "at": (at + timedelta(seconds=seconds)).isoformat(),
                "stream": stream, "batch_id": batch_id, "messages": 3, "records": 30,
                "records_per_s": 15.0, "quarantined": {"decode": 1}, "quarantined_total": 1,
                "scored": 29, "attacks": 2, "duration_s": 2.0, "lag": lag,
                "watermark": None, "alerts_total": batch_id,
            }
        ).encode()  # fmt: skip

    producer = KafkaProducer(**kafka_io.client_config(kafka))
    for value in (
        record("process", 0, 0, 50),
        b"{broken",
        json.dumps({"schema_version": 2}).encode(),
        record("memory", 0, 1, None),
        record("process", 1, 5, 0),
    ):
        producer.send(topic, value=value)
    producer.flush()
    producer.close()

    batches: list[int] = []
    reader = HealthReader(kafka, topic, on_records=lambda fresh: batches.append(len(fresh)))
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while len(reader.records()) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        reader.stop()
    assert not reader.running
    assert sum(batches) == 3 and reader.rejected == 2
    frame = health_frame(reader.records())
    assert list(frame["stream"]) == ["process", "memory", "process"]
    assert frame["lag"].isna().tolist() == [False, True, False]
    latest = latest_per_stream(frame)
    assert [(r.stream, r.batch_id, r.alerts_total) for r in latest.itertuples()] == [
        ("memory", 0, 0), ("process", 1, 1),
    ]  # fmt: skip

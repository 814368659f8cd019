"""Send → output latencies, recomputed after a run from what the detector wrote.

Every time here is the same machine's wall clock: a record's send time is its Kafka
message timestamp (the producer stamps it when it sends), which the detector keeps as
``kafka_timestamp`` in every output row.

- **scored**: a record is in the scored output once its micro-batch's folder is
  complete; the ``_SUCCESS`` file's modification time is that moment.
- **7a**: a record predicted as attack counts in the memory sink once a 7a micro-batch
  that read its attack-topic offset has finished (the query's progress: the batch's
  offset range and its end time).
- **alert**: an alert is raised when its message reaches the alerts topic (that
  message's Kafka timestamp); it could be raised once both records of one of its pairs
  had been sent, so its latency runs from the later send time of its earliest such pair.

Each function returns the latencies in seconds as a Spark DataFrame column ``latency_s``
so that millions of records are summarised where they are (``percentile_approx``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from pipelines.detector import transforms
from pipelines.detector.layout import (
    ALERTS_DIR,
    PAIRS_DIR,
    SCORED_DIR,
    SUCCESS_MARKER,
    batch_id_of,
    complete_batches,
)
from pipelines.schema.columns import STREAMS

LATENCY = "latency_s"


@dataclass(frozen=True)
class BatchProgress:
    """One finished micro-batch of a query: its source offset ranges and its end time.

    Attributes:
        query: the query name.
        batch_id: Spark's batch id.
        ended_s: unix time when the batch finished (progress timestamp + trigger time).
        ranges: (topic, partition) → (start offset, end offset), end exclusive.
        durations_ms: Spark's own timing of the batch's steps (``durationMs``:
            ``queryPlanning``, ``addBatch``, ``walCommit``, ``triggerExecution`` …).
        input_rows: rows the batch read from its sources.
    """

    query: str
    batch_id: int
    ended_s: float
    ranges: Mapping[tuple[str, int], tuple[int, int]]
    durations_ms: Mapping[str, float] = field(default_factory=dict)
    input_rows: int = 0

    def ends(self) -> dict[tuple[str, int], int]:
        """(topic, partition) → the next offset to read after this batch."""
        return {place: end for place, (_, end) in self.ranges.items()}


def _offsets(value: Any) -> dict[tuple[str, int], int]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    result: dict[tuple[str, int], int] = {}
    if isinstance(value, Mapping):
        for topic, partitions in value.items():
            if isinstance(partitions, Mapping):
                for partition, offset in partitions.items():
                    result[(str(topic), int(partition))] = int(offset)
    return result


def batch_progress(progress: Mapping[str, Any]) -> BatchProgress:
    """A :class:`BatchProgress` from one query progress (the dict Spark reports)."""
    from datetime import datetime

    started = datetime.fromisoformat(str(progress["timestamp"]).replace("Z", "+00:00"))
    took_ms = float((progress.get("durationMs") or {}).get("triggerExecution", 0))
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for source in progress.get("sources") or []:
        get = source.get if isinstance(source, Mapping) else lambda k, s=source: getattr(s, k)
        starts, ends = _offsets(get("startOffset")), _offsets(get("endOffset"))
        for place, end in ends.items():
            ranges[place] = (starts.get(place, 0), end)
    return BatchProgress(
        query=str(progress.get("name")),
        batch_id=int(progress["batchId"]),
        ended_s=started.timestamp() + took_ms / 1000.0,
        ranges=ranges,
        durations_ms={k: float(v) for k, v in (progress.get("durationMs") or {}).items()},
        input_rows=int(progress.get("numInputRows") or 0),
    )


def commit_times(root: Path) -> dict[int, float]:
    """Batch id → when its folder was complete (``_SUCCESS`` modification time)."""
    return {
        batch_id: (folder / SUCCESS_MARKER).stat().st_mtime
        for folder in complete_batches(root)
        if (batch_id := batch_id_of(folder)) is not None
    }


def _sent_s(column: str) -> Any:
    return F.unix_micros(F.col(column)) / 1e6


def scored_latencies(spark: SparkSession, output_dir: Path, since_s: float) -> DataFrame:
    """Send → scored output of every record of both streams sent at or after ``since_s``."""
    parts: list[DataFrame] = []
    for stream in STREAMS:
        root = output_dir / SCORED_DIR[stream]
        commits = commit_times(root)
        if not commits:
            continue
        done = spark.createDataFrame(
            [(b, t) for b, t in commits.items()],
            StructType([StructField("batch", IntegerType()), StructField("done_s", DoubleType())]),
        )
        scored = spark.read.option("basePath", str(root)).parquet(
            *[str(root / f"batch={b}") for b in commits]
        )
        sent = scored.select(
            F.col("batch").cast(IntegerType()), _sent_s(transforms.KAFKA_TIMESTAMP).alias("sent_s")
        )
        parts.append(
            sent.filter(F.col("sent_s") >= since_s)
            .join(F.broadcast(done), "batch")
            .select((F.col("done_s") - F.col("sent_s")).alias(LATENCY))
        )
    if not parts:
        return spark.createDataFrame([], StructType([StructField(LATENCY, DoubleType())]))
    result = parts[0]
    for part in parts[1:]:
        result = result.unionByName(part)
    return result


_ATTACK_SENT = StructType([StructField(transforms.KAFKA_TIMESTAMP, TimestampType())])


def counts_latencies(
    spark: SparkSession,
    attack_topics: Sequence[str],
    kafka_options: Mapping[str, str],
    batches: Iterable[BatchProgress],
    since_s: float,
) -> DataFrame:
    """Send → 7a count of every record predicted as attack, sent at or after ``since_s``.

    Args:
        attack_topics: the detector's attack topics (what 7a reads).
        kafka_options: Spark Kafka options (bootstrap servers).
        batches: the 7a query's finished batches.
    """
    rows = [
        (topic, partition, start, end, b.ended_s)
        for b in batches
        for (topic, partition), (start, end) in b.ranges.items()
        if end > start
    ]
    schema = StructType(
        [
            StructField("topic", StringType()),
            StructField("partition", IntegerType()),
            StructField("start", LongType()),
            StructField("end", LongType()),
            StructField("done_s", DoubleType()),
        ]
    )
    ranges = spark.createDataFrame(rows, schema)
    records = (
        spark.read.format("kafka")
        .options(**kafka_options)
        .option("subscribe", ",".join(attack_topics))
        .option("startingOffsets", "earliest")
        .load()
        .select(
            "topic",
            "partition",
            "offset",
            F.from_json(F.col("value").cast(StringType()), _ATTACK_SENT, transforms.JSON_OPTIONS)
            .getField(transforms.KAFKA_TIMESTAMP)
            .alias("sent"),
        )
        .select("topic", "partition", "offset", _sent_s("sent").alias("sent_s"))
        .filter(F.col("sent_s") >= since_s)
    )
    joined = records.join(
        F.broadcast(ranges),
        (records["topic"] == ranges["topic"])
        & (records["partition"] == ranges["partition"])
        & (records["offset"] >= ranges["start"])
        & (records["offset"] < ranges["end"]),
    )
    # A record re-published by a crash-replayed batch counts from its first arrival.
    first = joined.groupBy(records["topic"], records["partition"], "offset").agg(
        F.min(F.col("done_s") - F.col("sent_s")).alias(LATENCY)
    )
    return first.select(LATENCY)


def alert_latencies(
    spark: SparkSession,
    output_dir: Path,
    alerts_topic: str,
    kafka_options: Mapping[str, str],
    since_s: float,
) -> DataFrame:
    """Send → alert of every alert whose triggering pair was sent at or after ``since_s``."""
    empty = spark.createDataFrame([], StructType([StructField(LATENCY, DoubleType())]))
    pairs_root, alerts_root = output_dir / PAIRS_DIR, output_dir / ALERTS_DIR
    pair_batches, alert_batches = complete_batches(pairs_root), complete_batches(alerts_root)
    if not pair_batches or not alert_batches:
        return empty
    pairs = spark.read.option("basePath", str(pairs_root)).parquet(*map(str, pair_batches))
    window = F.window(F.col(f"process_{transforms.EVENT_TIME}"), f"{transforms.WINDOW_S} seconds")
    keyed = pairs.select(
        F.col("batch"),
        *[F.col(k) for k in transforms.PAIR_KEY_COLUMNS],
        window.start.alias(transforms.WINDOW_START),
        F.greatest(
            _sent_s(f"process_{transforms.KAFKA_TIMESTAMP}"),
            _sent_s(f"memory_{transforms.KAFKA_TIMESTAMP}"),
        ).alias("both_sent_s"),
    )
    triggers = keyed.groupBy(transforms.alert_key(keyed).alias("key"), F.col("batch")).agg(
        F.min("both_sent_s").alias("sent_s")
    )
    alerts = spark.read.option("basePath", str(alerts_root)).parquet(*map(str, alert_batches))
    raised_in = alerts.select(transforms.alert_key(alerts).alias("key"), F.col("batch"))
    published = (
        spark.read.format("kafka")
        .options(**kafka_options)
        .option("subscribe", alerts_topic)
        .option("startingOffsets", "earliest")
        .load()
        .groupBy(F.col("key").cast(StringType()).alias("key"))
        .agg(F.min(F.unix_micros(F.col("timestamp")) / 1e6).alias("raised_s"))
    )
    return (
        raised_in.join(triggers, ["key", "batch"])
        .join(published, "key")
        .filter(F.col("sent_s") >= since_s)
        .select((F.col("raised_s") - F.col("sent_s")).alias(LATENCY))
    )


def summarise(latencies: DataFrame) -> dict[str, float]:
    """count, p50, p95, p99 and max of a ``latency_s`` column (seconds)."""
    row = latencies.agg(
        F.count(F.lit(1)).alias("count"),
        F.percentile_approx(LATENCY, [0.5, 0.95, 0.99], 10_000).alias("p"),
        F.max(LATENCY).alias("max"),
    ).first()
    if row is None or not row["count"]:
        return {"count": 0}
    p50, p95, p99 = row["p"]
    return {"count": int(row["count"]), "p50": p50, "p95": p95, "p99": p99, "max": row["max"]}

"""Checks shared by the detector tests that compare streaming outputs with batch ones."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from pipelines.detector import transforms
from pipelines.detector.layout import CLEANED_DIR, PAIRS_DIR, SCORED_DIR
from pipelines.detector.transforms import WINDOW_START
from pipelines.schema.columns import IDENTITY_COLUMNS, STREAMS, Stream


def same_rows(left: DataFrame, right: DataFrame) -> None:
    """Assert multiset equality (duplicates count) of two DataFrames with the same columns."""
    right = right.select(*left.columns)
    assert left.count() == right.count()
    assert left.exceptAll(right).count() == 0
    assert right.exceptAll(left).count() == 0


def topic_values(
    spark: SparkSession, bootstrap_servers: str, topic: str
) -> list[tuple[str, dict[str, Any]]]:
    """(key, decoded JSON value) of every message of ``topic``, in offset order."""
    messages = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .orderBy("offset")
    )
    return [(r["key"].decode(), json.loads(r["value"])) for r in messages.collect()]


def check_one_alert_per_recomputed_key(
    alerts: list[tuple[str, dict[str, Any]]], scored: Mapping[Stream, DataFrame]
) -> None:
    """Assert the alerts topic holds exactly one alert per (machine, CMD, PID, window) of
    the 7b join recomputed in batch over the scored parquet, each well formed."""
    groups = transforms.alert_groups(transforms.attack_pairs(scored["process"], scored["memory"]))
    expected = {
        (r["machine"], r["CMD"], r["PID"], r[WINDOW_START].strftime("%Y-%m-%dT%H:%M:%SZ")):
            r["pair_count"]
        for r in groups.collect()
    }  # fmt: skip
    keys = [(a["machine"], a["CMD"], a["PID"], a["window_start"][:19] + "Z") for _, a in alerts]
    assert sorted(keys) == sorted(expected)  # exactly one alert per key and window
    for kafka_key, alert in alerts:
        key = (alert["machine"], alert["CMD"], alert["PID"], alert["window_start"][:19] + "Z")
        assert kafka_key == alert["key"] == "|".join(str(part) for part in key)
        assert alert["schema_version"] == transforms.ALERT_SCHEMA_VERSION
        assert 1 <= alert["pair_count"] <= expected[key]
        assert alert["severity"] in ("low", "medium", "high")
        assert set(alert["model_versions"]) == set(STREAMS)
        assert alert["model_versions"]["process"].startswith("process_pipeline_model uid=")


def kafka_places(df: DataFrame | None) -> list[tuple[int, int]]:
    """Each row's place in its source topic, (offset, index in its message), sorted;
    ``None`` (an output that was never written) has none."""
    if df is None:
        return []
    rows = df.select("offset", transforms.RECORD_INDEX).collect()
    return sorted((r["offset"], r[transforms.RECORD_INDEX]) for r in rows)


def scored_outputs(spark: SparkSession, detector: Any) -> dict[Stream, DataFrame]:
    """Each stream's scored parquet of a running or stopped ``Detector`` (no batch column)."""
    return {
        s: spark.read.parquet(str(detector.output_path(SCORED_DIR[s]))).drop("batch")
        for s in STREAMS
    }


def check_sent_exactly_once(
    spark: SparkSession, detector: Any, stream: Stream, topic_rows: Iterable[Any], acked: int
) -> dict[str, int]:
    """Assert every record identity on the source topic is in the cleaned and the scored
    parquet exactly once, and that the topic holds each acknowledged record once.

    Args:
        topic_rows: ``(offset, record_index, record)`` of the stream's source topic.
        acked: records the producer had acknowledged.

    Returns:
        Records in, and per output folder out, lost and duplicated (the reliability table).
    """
    produced = [
        (r["run_id"], int(r["machine"]), int(r["pass"]), int(r["sequence"]))
        for _, _, r in topic_rows
    ]
    assert len(produced) == len(set(produced)), "a record reached the topic twice"
    assert len(produced) == acked
    figures: dict[str, int] = {"in": len(produced)}
    for folder in (CLEANED_DIR[stream], SCORED_DIR[stream]):
        rows = spark.read.parquet(str(detector.output_path(folder)))
        found = Counter(
            (r["run_id"], r["machine"], r["pass"], r["sequence"])
            for r in rows.select(*IDENTITY_COLUMNS).collect()
        )
        figures[f"{folder} out"] = sum(found.values())
        figures[f"{folder} lost"] = len(set(produced) - set(found))
        figures[f"{folder} duplicated"] = sum(n - 1 for n in found.values())
        assert sorted(found.elements()) == sorted(produced), folder
    return figures


def check_pairs_and_alerts(
    spark: SparkSession, detector: Any, kafka: Any, alerts_topic: str
) -> None:
    """Assert the 7b pairs equal their batch recomputation over the scored parquet (none
    missing, none repeated) and the alerts topic one alert per recomputed key."""
    scored = scored_outputs(spark, detector)
    pairs = spark.read.parquet(str(detector.output_path(PAIRS_DIR)))
    streamed = pairs.drop(transforms.PAIRED_AT, "batch")
    batch = transforms.attack_pairs(scored["process"], scored["memory"]).drop(transforms.PAIRED_AT)
    assert streamed.count() > 0
    same_rows(streamed, batch)
    alerts = topic_values(spark, kafka.bootstrap_servers, alerts_topic)
    check_one_alert_per_recomputed_key(alerts, scored)

"""Checks shared by the detector tests that compare streaming outputs with batch ones."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from pipelines.detector import transforms
from pipelines.detector.transforms import WINDOW_START
from pipelines.schema.columns import STREAMS, Stream


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

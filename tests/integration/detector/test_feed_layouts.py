"""Telemetry as other producers of this feed send it (SPEC §3, §5.2).

One detector run on the real broker and real Spark with the provided models, fed the
real sample rows in the layout existing producers of this feed use: one JSON array per
machine and cycle, every value a string (``ts`` too, whole seconds), no key, no
``run_id`` and no ``pass``. Nothing may be quarantined; each record is identified by
its Kafka place and scored once; the predictions equal the models applied in batch to
the same CSV rows; 7a and 7b equal their batch recomputations.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines import kafka_io
from pipelines.config import Settings
from pipelines.detector import transforms
from pipelines.detector.job import Detector
from pipelines.detector.layout import (
    CLEANED_DIR,
    PAIRS_DIR,
    QUARANTINE_DIR,
    SCORED_DIR,
    DetectorTopics,
)
from pipelines.schema.columns import STREAMS, Stream
from pipelines.spark.clean import clean_columns, read_csv_strings
from pipelines.spark.scoring import score, split_scorable
from tests.support.detector_outputs import kafka_places, same_rows

START_TS = 1_700_000_000
ROWS_PER_MESSAGE: dict[Stream, int] = {"process": 10, "memory": 12}
PERIOD_S: dict[Stream, int] = {"process": 5, "memory": 10}


@dataclass
class Run:
    detector: Detector
    topics: DetectorTopics


def _foreign_messages(file: Path, stream: Stream) -> list[bytes]:
    """The CSV's rows as other producers send them: per machine and cycle one JSON array
    of row objects, every value the CSV's text, ``ts`` a string of whole seconds."""
    with file.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_machine: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_machine.setdefault(row["machine"], []).append(row)
    messages = []
    size = ROWS_PER_MESSAGE[stream]
    cycles = max(len(r) for r in by_machine.values()) // size + 1
    for cycle in range(cycles):
        ts = str(START_TS + cycle * PERIOD_S[stream])
        for machine_rows in by_machine.values():
            chunk = machine_rows[cycle * size : (cycle + 1) * size]
            if chunk:
                messages.append(json.dumps([{**row, "ts": ts} for row in chunk]).encode())
    return messages


@pytest.fixture(scope="module")
def foreign_run(
    broker_settings: Settings,
    provided_detector: Callable[..., Detector],
    tiny_files: dict[Stream, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("foreign")
    topics = DetectorTopics.unique("test.foreign")
    kafka_io.ensure_topics(broker_settings.kafka, [topics.process, topics.memory])
    producer = KafkaProducer(**kafka_io.client_config(broker_settings.kafka, acks="all"))
    try:
        for stream in STREAMS:
            for value in _foreign_messages(tiny_files[stream], stream):
                producer.send(topics.source(stream), value=value)  # no key
        producer.flush()
    finally:
        producer.close()
    detector = provided_detector(root, topics)
    detector.start()
    try:
        detector.process_all_available()
        yield Run(detector, topics)
    finally:
        detector.stop()


def _read(spark: SparkSession, run: Run, name: str) -> DataFrame:
    return spark.read.parquet(str(run.detector.output_path(name))).drop("batch")


@pytest.mark.parametrize("stream", STREAMS)
def test_every_foreign_record_is_scored_once_and_none_is_quarantined(
    foreign_run: Run,
    spark: SparkSession,
    stream: Stream,
    topic_records: Callable[..., Any],
    broker_settings: Settings,
) -> None:
    produced = sorted(
        (offset, index)
        for offset, index, _ in topic_records(
            broker_settings.kafka, foreign_run.topics.source(stream)
        )
    )
    assert not foreign_run.detector.output_path(QUARANTINE_DIR).exists()
    cleaned = _read(spark, foreign_run, CLEANED_DIR[stream])
    scored = _read(spark, foreign_run, SCORED_DIR[stream])
    # Identified by where they were read: each Kafka place once, in every output.
    assert kafka_places(cleaned) == produced
    assert kafka_places(scored) == produced
    assert scored.filter(F.col("run_id").isNotNull() | F.col("pass").isNotNull()).count() == 0


@pytest.mark.parametrize("stream", STREAMS)
def test_foreign_predictions_equal_the_model_applied_in_batch_to_the_csv_rows(
    foreign_run: Run, spark: SparkSession, stream: Stream, tiny_files: dict[Stream, Path]
) -> None:
    model = foreign_run.detector.models[stream]
    rows = clean_columns(read_csv_strings(spark, tiny_files[stream]), stream)
    assert rows.filter(F.col("parse_error").isNotNull()).count() == 0
    scorable, unscorable = split_scorable(rows.drop("parse_error"), model)
    assert unscorable.count() == 0
    batch = score(scorable, model).select("machine", "sequence", "prediction", "attack_probability")
    streamed = _read(spark, foreign_run, SCORED_DIR[stream]).select(*batch.columns)
    same_rows(streamed, batch)


def test_foreign_7a_and_7b_equal_their_batch_recomputations(
    foreign_run: Run, spark: SparkSession
) -> None:
    scored = {s: _read(spark, foreign_run, SCORED_DIR[s]) for s in STREAMS}
    table = spark.table(foreign_run.detector.counts_table)
    assert table.count() > 0
    same_rows(table, transforms.attack_counts(scored))
    pairs = _read(spark, foreign_run, PAIRS_DIR).drop(transforms.PAIRED_AT)
    assert pairs.count() > 0
    same_rows(
        pairs,
        transforms.attack_pairs(scored["process"], scored["memory"]).drop(transforms.PAIRED_AT),
    )

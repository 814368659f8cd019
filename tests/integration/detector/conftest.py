"""Detector test helpers: tiny streaming files from the real sample, topic read-back,
detectors with the provided models."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from pipelines import kafka_io
from pipelines.config import KafkaSettings, Settings
from pipelines.detector.job import Detector
from pipelines.detector.layout import DetectorTopics
from pipelines.schema.columns import STREAMING_COLUMNS, STREAMS, Stream

ROWS_PER_MACHINE = 30
SHARED_PROGRAMS_MAX = 20

TopicRecords = list[tuple[int, int, Any]]
"""(offset, index in the message, the decoded JSON value or None when broken)."""


@pytest.fixture(scope="session")
def tiny_files(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[Stream, Path]:
    """30 rows per machine per stream from the real sample; the memory rows are chosen
    to share programs (machine, CMD, PID) with the process rows so that 7b pairs them."""
    real = shared_dir / "data" / "real"
    by_stream: dict[Stream, list[dict[str, str]]] = {}
    for stream in STREAMS:
        with (real / f"Streaming_Linux_{stream}.sample.csv").open(newline="") as handle:
            by_stream[stream] = list(csv.DictReader(handle))
    process: list[dict[str, str]] = []
    for machine in sorted({r["machine"] for r in by_stream["process"]}):
        process += [r for r in by_stream["process"] if r["machine"] == machine][:ROWS_PER_MACHINE]
    programs = {(r["machine"], r["CMD"], r["PID"]) for r in process}
    memory: list[dict[str, str]] = []
    for machine in sorted({r["machine"] for r in by_stream["memory"]}):
        rows = [r for r in by_stream["memory"] if r["machine"] == machine]
        shared = [r for r in rows if (r["machine"], r["CMD"], r["PID"]) in programs]
        shared = shared[:SHARED_PROGRAMS_MAX]
        others = [r for r in rows if r not in shared][: ROWS_PER_MACHINE - len(shared)]
        memory += sorted(shared + others, key=lambda r: int(r["sequence"]))
    folder = tmp_path_factory.mktemp("detector-data")
    paths: dict[Stream, Path] = {}
    for stream, rows in (("process", process), ("memory", memory)):
        paths[stream] = folder / f"{stream}.csv"
        with paths[stream].open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(STREAMING_COLUMNS[stream]))
            writer.writeheader()
            writer.writerows(rows)
    return paths


def read_topic_records(kafka: KafkaSettings, topic: str) -> TopicRecords:
    """Every record on a one-partition topic, decoded in Python (independently of Spark)."""
    end = kafka_io.topic_end_offsets(kafka, topic)[0]
    consumer = KafkaConsumer(
        topic,
        **kafka_io.client_config(kafka, auto_offset_reset="earliest", enable_auto_commit=False),
        consumer_timeout_ms=10_000,
    )
    records: TopicRecords = []
    try:
        for message in consumer:
            try:
                value = json.loads(message.value)
            except ValueError:
                value = None
            items = value if isinstance(value, list) else [value]
            records += [(message.offset, i, item) for i, item in enumerate(items)]
            if message.offset >= end - 1:
                break
    finally:
        consumer.close()
    assert records and records[-1][0] == end - 1, f"could not read {topic} to its end"
    return records


@pytest.fixture(scope="session")
def topic_records() -> Callable[[KafkaSettings, str], TopicRecords]:
    """:func:`read_topic_records`, as a fixture (test folders are not importable)."""
    return read_topic_records


ProvidedDetector = Callable[..., Detector]
"""(root folder, topics, **Detector keyword arguments) → a Detector with the provided
models, outputs and checkpoints under the root, its memory sink named after the root
unless ``counts_table=`` says otherwise."""


@pytest.fixture(scope="session")
def provided_detector(broker_settings: Settings, spark: Any, shared_dir: Path) -> ProvidedDetector:
    provided = shared_dir / "models" / "provided"

    def make(root: Path, topics: DetectorTopics, **options: Any) -> Detector:
        options.setdefault("counts_table", f"counts_{root.name.replace('-', '_')}")
        return Detector(
            broker_settings,
            process_model=provided / "process_pipeline_model",
            memory_model=provided / "memory_pipeline_model",
            output_dir=root / "out",
            checkpoint_dir=root / "checkpoints",
            topics=topics,
            spark=spark,
            **options,
        )

    return make

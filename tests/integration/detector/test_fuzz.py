"""Malformed traffic on both topics (issue 14): the detector and the live counters survive
it and account for every message.

One module run on the real broker and real Spark with the provided models: per stream,
200 valid records (the real sample's rows as the producers encode them) mixed with 105
malformed messages of the 15 kinds of :mod:`pipelines.data.fuzz` (seed fixed), every
message one record. One detector drains both topics; one live pipeline per stream reads
the same topic from the beginning meanwhile. Checked per stream: every query still
runs; records in = decode/parse-quarantined + cleaned and cleaned = score-quarantined +
scored, by Kafka place; each bad message has exactly the outcome its kind must have
(docs/reliability.md); the live view counted every record with a machine and put the
others under their reason, and was still live at the end.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from pipelines import kafka_io
from pipelines.config import Settings
from pipelines.data.fuzz import DEEP_NESTING, BadMessage, Fault, Message, bad_messages, mix
from pipelines.detector import transforms
from pipelines.detector.job import Detector
from pipelines.detector.layout import CLEANED_DIR, QUARANTINE_DIR, SCORED_DIR, DetectorTopics
from pipelines.live import messages as live_messages
from pipelines.live.pipeline import LiveCounts
from pipelines.replay.rows import load_stream_rows
from pipelines.schema.columns import STREAMS, Stream
from tests.support.detector_outputs import kafka_places

START_TS = 1_700_000_000.0
VALID_PER_STREAM = 200
BAD_PER_STREAM = 7 * len(Fault)
SEED = 14
LIVE_WINDOW_S = 600.0
"""Long enough that every record of the run is still in the live window at the end."""

ACCEPTED: frozenset[Fault] = frozenset(
    {
        Fault.EXTRA_FIELD,  # unknown fields are dropped
        Fault.NEGATIVE_NUMBER,  # no sign rule: NICE, VGROW, RGROW are negative in atop
        Fault.SIZE_SUFFIX,  # atop's own size format
        Fault.HUGE_CMD,  # CMD is free text, kept exactly
        Fault.DUPLICATE_KEYS,  # the last occurrence wins, as in Python's json
    }
)
LIVE_REJECTED: dict[Fault, str] = {
    Fault.INVALID_JSON: live_messages.NOT_JSON,
    Fault.NON_UTF8: live_messages.NOT_JSON,
    Fault.EMPTY: live_messages.EMPTY,
    Fault.NULL: live_messages.NOT_A_RECORD,
    Fault.NESTED_ARRAYS: live_messages.NOT_A_RECORD,  # TOO_DEEP when DEEP_NESTING deep
}


def expected_quarantine(message: BadMessage) -> tuple[str, str]:
    """(stage, reason) the detector must give a message of a rejected kind."""
    fault, name = message.fault, message.field
    if fault in (Fault.INVALID_JSON, Fault.NULL, Fault.NESTED_ARRAYS):
        return transforms.STAGE_DECODE, transforms.REASON_NOT_AN_OBJECT
    if fault is Fault.EMPTY:
        return transforms.STAGE_DECODE, transforms.REASON_NO_RECORD
    if fault is Fault.NON_UTF8:
        return transforms.STAGE_DECODE, transforms.REASON_NOT_UTF8
    if fault is Fault.MISSING_FIELD:
        return transforms.STAGE_DECODE, f"missing field(s): {name}"
    if fault is Fault.NAN_INFINITY:
        # Spark reads a bare NaN/Infinity into a string field as its quoted text.
        found = re.search(rf'"{name}":(-?Infinity|NaN)'.encode(), message.value)
        assert found is not None
        return (
            transforms.STAGE_PARSE,
            f"column {name}: not a number (value '\"{found[1].decode()}\"')",
        )
    value = json.loads(message.value)[name]
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if fault in (Fault.WRONG_TYPE, Fault.BAD_UNIT):
        return transforms.STAGE_PARSE, f"column {name}: not a number (value '{text}')"
    if fault is Fault.HUGE_NUMBER:
        return transforms.STAGE_PARSE, f"column {name}: out of range (value '{text}')"
    raise AssertionError(f"{fault} is not a rejected kind")


def live_reason(message: BadMessage) -> str | None:
    """The live counters' reason for a message, None when its record is counted."""
    if message.fault is Fault.NESTED_ARRAYS and message.value.startswith(b"[" * DEEP_NESTING):
        return live_messages.TOO_DEEP
    return LIVE_REJECTED.get(message.fault)


@dataclass
class Run:
    detector: Detector
    topics: DetectorTopics
    sent: dict[Stream, dict[int, Message]]  # offset → message
    live: dict[Stream, LiveCounts]
    live_seconds: float


def _valid_messages(file: Path, stream: Stream) -> tuple[list[dict[str, Any]], list[Message]]:
    """The file's rows as the producers send them (pass 0, then pass 1), the first 200."""
    rows = [row for machine in load_stream_rows(file, stream).machines.values() for row in machine]
    records = [
        {**row.fields, "ts": START_TS + (i % len(rows)) * 0.01, "run_id": f"valid-{stream}",
         "pass": i // len(rows)}
        for i, row in enumerate(rows * 2)
    ][:VALID_PER_STREAM]  # fmt: skip
    assert len(records) == VALID_PER_STREAM
    return records, [Message(str(r["machine"]).encode(), json.dumps(r).encode()) for r in records]


@pytest.fixture(scope="module")
def run(
    broker_settings: Settings,
    provided_detector: Callable[..., Detector],
    tiny_files: dict[Stream, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("fuzz")
    topics = DetectorTopics.unique("test.fuzz")
    kafka_io.ensure_topics(broker_settings.kafka, [topics.process, topics.memory])
    producer = KafkaProducer(**kafka_io.client_config(broker_settings.kafka, acks="all"))
    sent: dict[Stream, dict[int, Message]] = {}
    try:
        for stream in STREAMS:
            records, valid = _valid_messages(tiny_files[stream], stream)
            bad = bad_messages(stream, records, BAD_PER_STREAM, seed=SEED)
            mixed = mix([(m.key, m.value) for m in valid], bad, seed=SEED)
            futures = [
                (producer.send(topics.source(stream), key=m.key, value=m.value), m) for m in mixed
            ]
            producer.flush()
            sent[stream] = {f.get(timeout=30).offset: m for f, m in futures}
    finally:
        producer.close()
    live = {
        s: LiveCounts(
            broker_settings,
            s,
            topic=topics.source(s),
            window_s=LIVE_WINDOW_S,
            sample_s=1.0,
            from_beginning=True,
        )
        for s in STREAMS
    }
    detector = provided_detector(root, topics)
    started = time.monotonic()
    for view in live.values():
        view.start(duration_s=300)
    detector.start()
    try:
        detector.process_all_available()
        for stream, view in live.items():
            deadline = time.monotonic() + 60
            while view.status().messages < len(sent[stream]) and time.monotonic() < deadline:
                time.sleep(0.2)
        yield Run(detector, topics, sent, live, time.monotonic() - started)
    finally:
        for view in live.values():
            view.stop()
        detector.stop()


def _read(spark: SparkSession, run: Run, name: str) -> DataFrame:
    return spark.read.parquet(str(run.detector.output_path(name)))


def _quarantine(spark: SparkSession, run: Run, stream: Stream) -> list[Row]:
    rows = _read(spark, run, QUARANTINE_DIR).filter(F.col("stream") == stream).collect()
    return rows


# -- tests -----------------------------------------------------------------------------
def test_every_query_survives_the_malformed_traffic(run: Run) -> None:
    assert run.detector.failure() is None
    assert sorted(run.detector.queries) == sorted(
        ["ingest_process", "ingest_memory", "attack_pairs", run.detector.counts_table]
    )
    assert all(query.isActive for query in run.detector.queries.values())


@pytest.mark.parametrize("stream", STREAMS)
def test_records_in_equal_cleaned_plus_quarantined_exactly(
    run: Run, spark: SparkSession, stream: Stream
) -> None:
    sent = run.sent[stream]
    assert len(sent) == VALID_PER_STREAM + BAD_PER_STREAM
    quarantine = _read(spark, run, QUARANTINE_DIR).filter(F.col("stream") == stream)
    early = quarantine.filter(
        F.col(transforms.STAGE).isin(transforms.STAGE_DECODE, transforms.STAGE_PARSE)
    )
    unscorable = quarantine.filter(F.col(transforms.STAGE) == transforms.STAGE_SCORE)
    cleaned = _read(spark, run, CLEANED_DIR[stream])
    scored = _read(spark, run, SCORED_DIR[stream])
    # Every message is one record (index 0); each is in exactly one place.
    assert sorted(kafka_places(early) + kafka_places(cleaned)) == [(o, 0) for o in sorted(sent)]
    assert kafka_places(cleaned) == sorted(kafka_places(unscorable) + kafka_places(scored))
    assert quarantine.count() == early.count() + unscorable.count()
    rejected = sum(m.bad is not None and m.bad.fault not in ACCEPTED for m in sent.values())
    assert early.count() == rejected


@pytest.mark.parametrize("stream", STREAMS)
def test_each_bad_message_has_the_outcome_of_its_kind(
    run: Run, spark: SparkSession, stream: Stream
) -> None:
    quarantined = {r["offset"]: r for r in _quarantine(spark, run, stream)}
    cleaned = {r["offset"]: r for r in _read(spark, run, CLEANED_DIR[stream]).collect()}
    outcomes: Counter[tuple[Fault, str]] = Counter()
    for offset, message in run.sent[stream].items():
        bad = message.bad
        if bad is None:
            assert offset in cleaned, f"valid message at offset {offset} was not cleaned"
            continue
        if bad.fault in ACCEPTED:
            assert offset in cleaned, (bad.fault, quarantined.get(offset))
            row = cleaned[offset]
            assert (row["run_id"], row["machine"], row["pass"], row["sequence"]) == (
                "fuzz", bad.machine, bad.pass_, bad.sequence,
            )  # fmt: skip
            if bad.fault is Fault.EXTRA_FIELD:
                assert bad.field not in row
            else:
                assert row[bad.field] == bad.meant, bad
            outcomes[bad.fault, "cleaned"] += 1
        else:
            row = quarantined[offset]
            assert (row[transforms.STAGE], row[transforms.REASON]) == expected_quarantine(bad)
            outcomes[bad.fault, row[transforms.STAGE]] += 1
    per_kind = BAD_PER_STREAM // len(Fault)
    assert sum(outcomes.values()) == BAD_PER_STREAM
    assert {fault for fault, _ in outcomes} == set(Fault)
    assert all(count == per_kind for count in outcomes.values()), outcomes


@pytest.mark.parametrize("stream", STREAMS)
def test_every_quarantined_row_names_its_reason(
    run: Run, spark: SparkSession, stream: Stream
) -> None:
    rows = _quarantine(spark, run, stream)
    assert rows
    for row in rows:
        assert row[transforms.STAGE] in (
            transforms.STAGE_DECODE, transforms.STAGE_PARSE, transforms.STAGE_SCORE,
        )  # fmt: skip
        assert row[transforms.REASON] and row[transforms.REASON].strip()


@pytest.mark.parametrize("stream", STREAMS)
def test_the_live_counters_count_every_record_with_a_machine_and_keep_running(
    run: Run, stream: Stream
) -> None:
    view = run.live[stream]
    status = view.status()
    sent = run.sent[stream]
    assert status.messages == len(sent)
    assert status.state == "live", status.message
    expected_counts: Counter[str] = Counter()
    expected_malformed: Counter[str] = Counter()
    for message in sent.values():
        reason = live_reason(message.bad) if message.bad is not None else None
        if reason is None:
            machine = (
                message.bad.machine
                if message.bad is not None
                else json.loads(message.value)["machine"]
            )
            expected_counts[str(machine)] += 1
        else:
            expected_malformed[reason] += 1
    # The last message is a valid one: counted after every bad one.
    assert sent[max(sent)].bad is None
    assert status.accepted == sum(expected_counts.values())
    assert dict(status.malformed) == dict(expected_malformed)
    # Every arrival is still inside the trailing window.
    assert run.live_seconds < LIVE_WINDOW_S
    assert view.snapshot() == dict(expected_counts)

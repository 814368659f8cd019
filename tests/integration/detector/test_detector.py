"""The detector end to end: real broker, real Spark, the producers' Replayer, one run.

One ``Detector`` run is shared by the module: the records are published first (two
simulated-clock cycles per stream plus injected bad messages), then the detector starts
and ``process_all_available()`` drains every query. Event times span less than the 20 s
watermark, so no row can arrive "late" whatever the micro-batch boundaries: the
streaming outputs must equal their batch recomputations exactly.
"""

from __future__ import annotations

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
from pipelines.detector.health import BatchStatus
from pipelines.detector.job import Detector
from pipelines.detector.layout import (
    CLEANED_DIR,
    PAIRS_DIR,
    QUARANTINE_DIR,
    SCORED_DIR,
    DetectorTopics,
)
from pipelines.errors import ModelError
from pipelines.replay.kafka_producer import Replayer
from pipelines.schema.columns import IDENTITY_COLUMNS, STREAMING_COLUMNS, STREAMS, Stream
from pipelines.spark.scoring import score, split_scorable
from tests.support.detector_outputs import (
    check_one_alert_per_recomputed_key,
    kafka_places,
    same_rows,
    topic_values,
)

START_TS = 1_700_000_000.0
CYCLES = 2
COUNTS_TABLE = "attack_counts_e2e"
UNSCORABLE: dict[Stream, str] = {"process": "CPU", "memory": "MEM"}
"""A nullable column each provided model reads."""


@dataclass
class Run:
    """What the module's single detector run produced."""

    detector: Detector
    topics: DetectorTopics
    injected: dict[Stream, dict[int, str | None]]  # offset → expected quarantine reason
    statuses: list[BatchStatus]


def _good_record(stream: Stream, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {c: 1 for c in STREAMING_COLUMNS[stream]}
    record.update(CMD="injected", machine=4, ts=START_TS + 1, run_id="injected", **{"pass": 0})
    if stream == "process":
        record.update(POLI="norm", Status="-", State="S", CPU=0.0, PRI=120, NICE=0)
    record.update(changes)
    return record


def _inject(kafka_settings: Any, topic: str, stream: Stream) -> dict[int, str | None]:
    """Publish bad messages and an array message; return offset → expected reason."""
    missing = _good_record(stream, sequence=900_001)
    del missing["CMD"]
    messages: list[tuple[bytes, str | None]] = [
        (b'{"sequence": 1, "machine": ', transforms.REASON_NOT_AN_OBJECT),
        (json.dumps(missing).encode(), "missing field(s): CMD"),
        (
            json.dumps(_good_record(stream, sequence=900_002, PID="12x")).encode(),
            "column PID: not a number (value '12x')",
        ),
        # A placeholder in a model input: typed as null, so the model cannot score it.
        (
            json.dumps(
                _good_record(stream, sequence=900_005, **{UNSCORABLE[stream]: "-"})
            ).encode(),
            f"null in {UNSCORABLE[stream]}",
        ),
        # One array message of two good records, numbers as strings in the second.
        (
            json.dumps(
                [
                    _good_record(stream, sequence=900_003),
                    {k: str(v) for k, v in _good_record(stream, sequence=900_004).items()},
                ]
            ).encode(),
            None,
        ),
    ]
    producer = KafkaProducer(**kafka_io.client_config(kafka_settings, acks="all"))
    try:
        offsets = {}
        for value, reason in messages:
            metadata = producer.send(topic, key=b"4", value=value).get(timeout=30)
            offsets[metadata.offset] = reason
    finally:
        producer.close()
    return offsets


@pytest.fixture(scope="module")
def run(
    broker_settings: Settings,
    spark: SparkSession,
    shared_dir: Path,
    tiny_files: dict[Stream, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("detector")
    topics = DetectorTopics.unique("test")
    kafka_io.ensure_topics(broker_settings.kafka, [topics.process, topics.memory])
    injected: dict[Stream, dict[int, str | None]] = {}
    for stream in STREAMS:
        with Replayer(
            broker_settings,
            stream,
            file=tiny_files[stream],
            seed=11,
            max_rate=True,
            clock="simulated",
            start_ts=START_TS,
            topic=topics.source(stream),
            run_id=f"run-{stream}",
        ) as replayer:
            report = replayer.run(cycles=CYCLES)
        assert report.errors == 0
        injected[stream] = _inject(broker_settings.kafka, topics.source(stream), stream)
    statuses: list[BatchStatus] = []
    provided = shared_dir / "models" / "provided"
    detector = Detector(
        broker_settings,
        process_model=provided / "process_pipeline_model",
        memory_model=provided / "memory_pipeline_model",
        output_dir=root / "out",
        checkpoint_dir=root / "checkpoints",
        trigger_s=1.0,
        topics=topics,
        counts_table=COUNTS_TABLE,
        on_batch=statuses.append,
        spark=spark,
    )
    detector.start()
    try:
        detector.process_all_available()
        yield Run(detector, topics, injected, statuses)
    finally:
        detector.stop()


# -- helpers ---------------------------------------------------------------------------
def _identity(record: dict[str, Any]) -> tuple[str, int, int, int]:
    return (str(record["run_id"]), int(record["machine"]), int(record["pass"]),
            int(record["sequence"]))  # fmt: skip


def _read(spark: SparkSession, run: Run, name: str) -> DataFrame:
    return spark.read.parquet(str(run.detector.output_path(name)))


def _identities(df: DataFrame) -> list[tuple[str, int, int, int]]:
    return sorted(_identity(r.asDict()) for r in df.select(*IDENTITY_COLUMNS).collect())


def _quarantine(spark: SparkSession, run: Run, stream: Stream) -> DataFrame:
    return _read(spark, run, QUARANTINE_DIR).filter(F.col("stream") == stream)


# -- tests -----------------------------------------------------------------------------
@pytest.mark.parametrize("stream", STREAMS)
def test_every_produced_record_is_quarantined_or_cleaned_once(
    run: Run, spark: SparkSession, stream: Stream, topic_records: Callable[..., Any]
) -> None:
    produced = topic_records(run.detector.settings.kafka, run.topics.source(stream))
    quarantine = _quarantine(spark, run, stream)
    early = quarantine.filter(
        F.col(transforms.STAGE).isin(transforms.STAGE_DECODE, transforms.STAGE_PARSE)
    )
    cleaned = _read(spark, run, CLEANED_DIR[stream])
    # By Kafka place: produced = parse-quarantined + cleaned, nothing twice.
    assert sorted((o, i) for o, i, _ in produced) == sorted(
        kafka_places(early) + kafka_places(cleaned)
    )
    # By record identity (run_id, machine, pass, sequence), for every record that has one.
    identified = sorted(
        _identity(r)
        for _, _, r in produced
        if isinstance(r, dict) and all(k in r for k in IDENTITY_COLUMNS)
    )
    quarantined = [
        _identity(row.asDict())
        for row in early.collect()
        if all(row[k] is not None for k in IDENTITY_COLUMNS)
    ]
    assert identified == sorted(quarantined + _identities(cleaned))
    replayed = [r for _, _, r in produced if r and r["run_id"] == f"run-{stream}"]
    assert len(replayed) > 100


@pytest.mark.parametrize("stream", STREAMS)
def test_injected_bad_records_are_quarantined_with_their_reason(
    run: Run, spark: SparkSession, stream: Stream
) -> None:
    rows = _quarantine(spark, run, stream).filter(F.col("offset").isin(list(run.injected[stream])))
    found = {r["offset"]: r[transforms.REASON] for r in rows.collect()}
    expected = {o: reason for o, reason in run.injected[stream].items() if reason is not None}
    assert found == expected
    raw = {r["offset"]: r[transforms.RAW_VALUE] for r in rows.collect()}
    assert raw[min(expected)] == '{"sequence": 1, "machine": '


@pytest.mark.parametrize("stream", STREAMS)
def test_cleaned_records_are_score_quarantined_or_scored_once(
    run: Run, spark: SparkSession, stream: Stream
) -> None:
    cleaned = _read(spark, run, CLEANED_DIR[stream])
    scored = _read(spark, run, SCORED_DIR[stream])
    unscorable = _quarantine(spark, run, stream).filter(
        F.col(transforms.STAGE) == transforms.STAGE_SCORE
    )
    assert kafka_places(cleaned) == sorted(kafka_places(unscorable) + kafka_places(scored))
    assert scored.count() > 0 and unscorable.count() > 0


@pytest.mark.parametrize("stream", STREAMS)
def test_streaming_predictions_equal_the_model_applied_in_batch(
    run: Run, spark: SparkSession, stream: Stream
) -> None:
    model = run.detector.models[stream]
    cleaned = _read(spark, run, CLEANED_DIR[stream]).drop("batch")
    scorable, _ = split_scorable(cleaned, model)
    batch = score(scorable, model).select(
        *IDENTITY_COLUMNS, "offset", transforms.RECORD_INDEX, "prediction", "attack_probability"
    )
    streamed = _read(spark, run, SCORED_DIR[stream]).select(*batch.columns)
    same_rows(streamed, batch)


def test_models_are_checked_before_any_query_starts(
    broker_settings: Settings, spark: SparkSession, tmp_path: Path, shared_dir: Path
) -> None:
    detector = Detector(
        broker_settings,
        process_model=tmp_path / "no-such-model",
        memory_model=shared_dir / "models" / "provided" / "memory_pipeline_model",
        output_dir=tmp_path / "out",
        checkpoint_dir=tmp_path / "checkpoints",
        spark=spark,
    )
    with pytest.raises(ModelError, match="no-such-model"):
        detector.start()
    assert detector.queries == {}


def _scored_parquet(spark: SparkSession, run: Run) -> dict[Stream, DataFrame]:
    return {s: _read(spark, run, SCORED_DIR[s]).drop("batch") for s in STREAMS}


def test_attack_counts_table_equals_a_batch_recomputation(run: Run, spark: SparkSession) -> None:
    table = spark.table(COUNTS_TABLE)
    batch = transforms.attack_counts(_scored_parquet(spark, run))
    assert table.count() > 0
    assert {r["stream"] for r in table.collect()} == set(STREAMS)
    same_rows(table, batch)


def test_window_counts_topic_ends_with_the_table_values(run: Run, spark: SparkSession) -> None:
    messages = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", run.detector.settings.kafka.bootstrap_servers)
        .option("subscribe", run.topics.window_counts)
        .option("startingOffsets", "earliest")
        .load()
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in messages.orderBy("offset").collect():
        latest[row["key"].decode()] = json.loads(row["value"])
    table = {
        (r["machine"], r["stream"], r["window_start"].strftime("%Y-%m-%dT%H:%M:%S")): r["count"]
        for r in spark.table(COUNTS_TABLE).collect()
    }
    published = {
        (v["machine"], v["stream"], v["window_start"][:19]): v["count"] for v in latest.values()
    }
    assert published == table


def test_attack_pairs_equal_a_batch_recomputation_of_the_join(
    run: Run, spark: SparkSession
) -> None:
    scored = _scored_parquet(spark, run)
    streamed = _read(spark, run, PAIRS_DIR).drop(transforms.PAIRED_AT, "batch")
    batch = transforms.attack_pairs(scored["process"], scored["memory"]).drop(transforms.PAIRED_AT)
    assert streamed.count() > 0
    same_rows(streamed, batch)


def _topic_values(spark: SparkSession, run: Run, topic: str) -> list[tuple[str, dict[str, Any]]]:
    return topic_values(spark, run.detector.settings.kafka.bootstrap_servers, topic)


def test_alerts_are_one_per_program_and_window_of_the_recomputed_pairs(
    run: Run, spark: SparkSession
) -> None:
    alerts = _topic_values(spark, run, run.topics.alerts)
    check_one_alert_per_recomputed_key(alerts, _scored_parquet(spark, run))


def test_a_health_record_is_published_per_ingest_batch(run: Run, spark: SparkSession) -> None:
    health = _topic_values(spark, run, run.topics.health)
    assert sorted((v["stream"], v["batch_id"]) for _, v in health) == sorted(
        (s.stream, s.batch_id) for s in run.statuses
    )
    for stream in STREAMS:
        records = [v for key, v in health if key == stream]
        assert all(v["schema_version"] == 1 for v in records)
        assert sum(v["records"] for v in records) == run.detector.stats.per_stream[stream].records
        # Everything was published before the detector started: nothing is left behind.
        assert records[-1]["lag"] == 0


def test_status_callback_reports_each_ingest_batch(run: Run) -> None:
    by_stream = {s: [x for x in run.statuses if x.stream == s] for s in STREAMS}
    for stream, statuses in by_stream.items():
        assert statuses, f"no status for {stream}"
        totals = run.detector.stats.per_stream[stream]
        assert sum(x.records for x in statuses) == totals.records
        assert sum(x.quarantined_total for x in statuses) + sum(x.scored for x in statuses) == (
            totals.records
        )
        assert sum(x.quarantined.get("decode", 0) for x in statuses) == 2

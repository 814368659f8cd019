"""The detector's transforms on small batch DataFrames (no Kafka, no streaming)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from pipelines.detector import transforms
from pipelines.spark.scoring import load_pipeline_model

GOOD_PROCESS: dict[str, Any] = {
    "sequence": 1, "machine": 4, "PID": 1442, "TRUN": 0, "TSLPI": 1, "TSLPU": 0,
    "POLI": "norm", "NICE": 0, "PRI": 120, "RTPR": 0, "CPUNR": 0, "Status": "-", "EXC": 0,
    "State": "S", "CPU": 0.5, "CMD": "Xorg", "ts": 1700000000.25, "run_id": "r1", "pass": 0,
}  # fmt: skip
TOPIC = "test.process"


def _record(**changes: Any) -> dict[str, Any]:
    record = dict(GOOD_PROCESS)
    for key, value in changes.items():
        if value is _DROP:
            del record[key]
        else:
            record[key] = value
    return record


_DROP = object()


def _messages(spark: SparkSession, values: list[str | None]) -> DataFrame:
    """Kafka-shaped rows: value, topic, partition 0, offsets 0, 1, 2, …"""
    rows = [
        Row(
            value=None if v is None else bytearray(v.encode()),
            topic=TOPIC,
            partition=0,
            offset=i,
        )
        for i, v in enumerate(values)
    ]
    return spark.createDataFrame(rows, "value binary, topic string, partition int, offset long")


def _by_place(df: DataFrame) -> dict[tuple[int, int], Row]:
    return {(r["offset"], r["record_index"]): r for r in df.collect()}


def test_one_object_and_an_array_of_objects_decode_to_records(spark: SparkSession) -> None:
    as_strings = {k: str(v) for k, v in _record(sequence=2).items()}
    array = json.dumps([_record(sequence=3), as_strings])
    records = transforms.clean_records(
        transforms.decode_messages(_messages(spark, [json.dumps(_record()), array]), "process"),
        "process",
    )
    rows = _by_place(records)
    assert sorted(rows) == [(0, 0), (1, 0), (1, 1)]
    assert all(r[transforms.STAGE] is None and r[transforms.REASON] is None for r in rows.values())
    assert [rows[p]["sequence"] for p in sorted(rows)] == [1, 3, 2]
    # Numbers given as JSON strings type exactly like JSON numbers.
    typed = [{k: rows[p][k] for k in GOOD_PROCESS if k != "sequence"} for p in ((0, 0), (1, 1))]
    assert typed[0] == typed[1]
    assert rows[(1, 1)]["CPU"] == 0.5 and rows[(1, 1)]["PID"] == 1442
    # The text is kept only for records read as text: those with JSON numbers took the
    # typed fast path and cannot fail to decode or parse.
    assert rows[(0, 0)][transforms.RAW_VALUE] is None and rows[(1, 0)][transforms.RAW_VALUE] is None
    assert json.loads(rows[(1, 1)][transforms.RAW_VALUE]) == as_strings


def test_event_columns_join_cmd_and_pid_and_stamp_ts(spark: SparkSession) -> None:
    records = transforms.clean_records(
        transforms.decode_messages(_messages(spark, [json.dumps(_record())]), "process"), "process"
    )
    row = records.first()
    assert row is not None
    assert row[transforms.CMD_PID] == "Xorg|1442"
    assert row[transforms.EVENT_TIME].replace(tzinfo=UTC) == datetime(
        2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC
    )


def test_bad_records_get_a_stage_and_a_reason(spark: SparkSession) -> None:
    values = [
        '{"sequence": 1, "machine": ',  # broken JSON
        "[]",  # no record
        None,  # empty message (tombstone)
        "[42]",  # an array element that is not an object
        json.dumps(_record(CPU=_DROP, ts=_DROP)),  # missing fields
        json.dumps(_record(CPU="abc")),  # wrong type
        json.dumps(_record(PID={"nested": 1})),  # wrong type: an object
        json.dumps(_record(machine=True)),  # wrong type: a boolean
    ]
    decoded = transforms.decode_messages(_messages(spark, values), "process")
    rows = _by_place(transforms.clean_records(decoded, "process"))
    found = {offset: (r[transforms.STAGE], r[transforms.REASON]) for (offset, _), r in rows.items()}
    assert found == {
        0: ("decode", transforms.REASON_NOT_AN_OBJECT),
        1: ("decode", transforms.REASON_NO_RECORD),
        2: ("decode", transforms.REASON_NO_RECORD),
        3: ("decode", transforms.REASON_NOT_AN_OBJECT),
        4: ("decode", "missing field(s): CPU, ts"),
        5: ("parse", "column CPU: not a number (value 'abc')"),
        6: ("parse", "column PID: not a number (value '{\"nested\":1}')"),
        7: ("parse", "column machine: not a number (value 'true')"),
    }
    quarantine = transforms.quarantine_view(
        transforms.clean_records(
            transforms.decode_messages(_messages(spark, values), "process"), "process"
        )
    )
    assert quarantine.schema.fieldNames() == transforms.QUARANTINE_SCHEMA.fieldNames()
    by_offset = {r["offset"]: r for r in quarantine.collect()}
    assert sorted(by_offset) == list(range(len(values)))
    assert by_offset[0][transforms.RAW_VALUE] == values[0]
    assert (by_offset[5]["run_id"], by_offset[5]["machine"], by_offset[5]["sequence"]) == (
        "r1",
        "4",
        "1",
    )


def test_empty_and_non_utf8_messages_are_one_quarantined_record_each(
    spark: SparkSession,
) -> None:
    good = json.dumps(_record()).encode()
    latin1 = json.dumps(_record(CMD="caf\u00e9"), ensure_ascii=False).encode("latin-1")
    values = [b"", b"  ", latin1, b"[" + good + b", " + good.replace(b"Xorg", b"X\xff") + b"]"]
    rows = [
        Row(value=bytearray(v), topic=TOPIC, partition=0, offset=i) for i, v in enumerate(values)
    ]
    messages = spark.createDataFrame(rows, "value binary, topic string, partition int, offset long")
    records = transforms.clean_records(transforms.decode_messages(messages, "process"), "process")
    found = {
        place: (r[transforms.STAGE], r[transforms.REASON], r[transforms.RAW_VALUE])
        for place, r in _by_place(records).items()
    }
    assert found == {
        (0, 0): ("decode", transforms.REASON_NO_RECORD, ""),
        (1, 0): ("decode", transforms.REASON_NO_RECORD, "  "),
        # Spark's JSON reader would have cleaned this record with CMD 'caf\ufffd'.
        (2, 0): ("decode", transforms.REASON_NOT_UTF8, latin1.decode(errors="replace")),
        # One invalid byte makes the whole array message one broken record.
        (3, 0): ("decode", transforms.REASON_NOT_UTF8, values[3].decode(errors="replace")),
    }


def test_unscorable_rows_are_flagged_and_views_account_for_every_record(
    spark: SparkSession, shared_dir: Path
) -> None:
    model = load_pipeline_model(shared_dir / "models" / "provided" / "process_pipeline_model")
    values = [
        json.dumps(_record()),
        json.dumps(_record(sequence=2, CPU="-")),  # a placeholder: null CPU, unscorable
        "not json",
    ]
    records = transforms.flag_unscorable(
        transforms.clean_records(
            transforms.decode_messages(_messages(spark, values), "process"), "process"
        ),
        model,
    )
    stages = {r["offset"]: (r[transforms.STAGE], r[transforms.REASON]) for r in records.collect()}
    assert stages == {
        0: (None, None),
        1: ("score", "null in CPU"),
        2: ("decode", transforms.REASON_NOT_AN_OBJECT),
    }
    assert [r["offset"] for r in transforms.cleaned_view(records).collect()] == [0, 1]
    assert [r["offset"] for r in transforms.scorable_view(records).collect()] == [0]
    quarantined = {r["offset"]: r for r in transforms.quarantine_view(records).collect()}
    assert sorted(quarantined) == [1, 2]
    assert json.loads(quarantined[1][transforms.RAW_VALUE]) == _record(sequence=2, CPU="-")
    assert quarantined[2][transforms.RAW_VALUE] == "not json"


def test_a_record_refused_after_the_fast_path_is_quarantined_with_its_fields_as_json(
    spark: SparkSession,
) -> None:
    # A model may refuse a record the typed fast path read (a category it has never
    # seen): its text was not kept, so the quarantine holds its parsed fields.
    records = transforms.clean_records(
        transforms.decode_messages(_messages(spark, [json.dumps(_record(Status="Q"))]), "process"),
        "process",
    ).withColumns(
        {
            transforms.STAGE: F.lit(transforms.STAGE_SCORE),
            transforms.REASON: F.lit("unseen value in Status"),
        }
    )
    row = transforms.quarantine_view(records).first()
    assert row is not None
    assert json.loads(row[transforms.RAW_VALUE]) == {**_record(Status="Q"), "NICE": 0}
    assert (row["sequence"], row["machine"], row["run_id"], row["pass"]) == ("1", "4", "r1", "0")
    assert transforms.RAW_VALUE not in transforms.cleaned_view(records).columns


def _scored(spark: SparkSession, rows: list[tuple[int, str, int, str, float]]) -> DataFrame:
    """machine, CMD, PID, event time (ISO, UTC), prediction → scored-shaped rows."""
    df = spark.createDataFrame(
        rows, "machine long, CMD string, PID long, at string, prediction double"
    )
    return transforms.add_event_columns(
        df.selectExpr("*", "unix_micros(to_timestamp(at)) / 1e6 AS ts")
    ).drop("at")


def test_attack_counts_count_distinct_programs_per_machine_window_and_stream(
    spark: SparkSession,
) -> None:
    process = _scored(
        spark,
        [
            (4, "a", 1, "2026-01-01 00:00:10", 1.0),
            (4, "a", 1, "2026-01-01 00:01:50", 1.0),  # same program, same window
            (4, "b", 2, "2026-01-01 00:00:20", 1.0),
            (4, "c", 3, "2026-01-01 00:00:30", 0.0),  # not an attack
            (4, "a", 1, "2026-01-01 00:02:00", 1.0),  # next window
            (5, "a", 1, "2026-01-01 00:00:10", 1.0),
        ],
    )
    memory = _scored(spark, [(4, "a", 1, "2026-01-01 00:00:40", 1.0)])
    counts = {
        (r["machine"], r[transforms.WINDOW_START].strftime("%H:%M"), r[transforms.STREAM]): r[
            transforms.COUNT
        ]
        for r in transforms.attack_counts({"process": process, "memory": memory}).collect()
    }
    assert counts == {
        (4, "00:00", "process"): 2,
        (4, "00:02", "process"): 1,
        (5, "00:00", "process"): 1,
        (4, "00:00", "memory"): 1,
    }
    assert transforms.attack_counts({"process": process}).columns == list(
        transforms.ATTACK_COUNT_COLUMNS
    )


def test_attack_pairs_keep_every_pair_under_thirty_seconds(spark: SparkSession) -> None:
    process = _scored(
        spark,
        [
            (4, "a", 1, "2026-01-01 00:01:00", 1.0),
            (4, "b", 2, "2026-01-01 00:01:00", 1.0),
            (4, "c", 3, "2026-01-01 00:01:00", 0.0),  # not an attack in process
        ],
    )
    memory = _scored(
        spark,
        [
            (4, "a", 1, "2026-01-01 00:00:31", 1.0),  # 29 s before: pair
            (4, "a", 1, "2026-01-01 00:01:29", 1.0),  # 29 s after: pair
            (4, "a", 1, "2026-01-01 00:01:30", 1.0),  # exactly 30 s: no pair
            (4, "b", 9, "2026-01-01 00:01:00", 1.0),  # other PID
            (5, "b", 2, "2026-01-01 00:01:00", 1.0),  # other machine
            (4, "c", 3, "2026-01-01 00:01:00", 1.0),
        ],
    )
    pairs = transforms.attack_pairs(process, memory)
    found = sorted(
        (r["machine"], r["CMD"], r["PID"], r["memory_event_time"].strftime("%M:%S"))
        for r in pairs.collect()
    )
    assert found == [(4, "a", 1, "00:31"), (4, "a", 1, "01:29")]
    assert {"process_event_time", "memory_event_time", "process_prediction",
            "memory_prediction", transforms.PAIRED_AT} <= set(pairs.columns)  # fmt: skip


def test_scored_records_round_trip_through_the_topic_json(spark: SparkSession) -> None:
    made = transforms.add_ingest_time(
        _scored(spark, [(4, "a b/c", 7, "2026-01-01 00:00:10.123456", 1.0)])
    )
    # Fixed rows: current_timestamp() would differ between two evaluations.
    scored = spark.createDataFrame(made.collect(), made.schema)
    kafka_rows = transforms.scored_to_kafka(scored)
    back = transforms.scored_from_kafka(kafka_rows, scored.schema)
    assert back.collect() == scored.collect()
    assert kafka_rows.first()["key"] == "4"


def test_alert_groups_are_one_per_program_and_window_with_severity(spark: SparkSession) -> None:
    pairs = spark.createDataFrame(
        [
            (4, "a", 1, "2026-01-01 00:00:10", "2026-01-01 00:00:20", 0.95, 0.91),
            (4, "a", 1, "2026-01-01 00:01:10", "2026-01-01 00:01:20", 0.99, 0.99),
            (4, "a", 1, "2026-01-01 00:02:10", "2026-01-01 00:02:20", 0.80, 0.75),  # next window
            (4, "b", 2, "2026-01-01 00:00:10", "2026-01-01 00:00:20", 0.99, 0.60),
        ],
        "machine long, CMD string, PID long, p string, m string, "
        "process_attack_probability double, memory_attack_probability double",
    ).selectExpr(
        "*",
        "to_timestamp(p) AS process_event_time",
        "to_timestamp(m) AS memory_event_time",
    )
    groups = {
        (r["CMD"], r[transforms.WINDOW_START].strftime("%H:%M")): (
            r["pair_count"],
            r["severity_score"],
            r["severity"],
        )
        for r in transforms.alert_groups(pairs).collect()
    }
    assert groups == {
        ("a", "00:00"): (2, 0.99, "high"),
        ("a", "00:02"): (1, 0.75, "medium"),
        ("b", "00:00"): (1, 0.60, "low"),
    }
    kafka_rows = transforms.alerts_to_kafka(
        transforms.alert_groups(pairs), {"process": "p1", "memory": "m1"}
    )
    first = json.loads(kafka_rows.orderBy("key").first()["value"])
    assert first["key"] == "4|a|1|2026-01-01T00:00:00Z"
    assert first["schema_version"] == transforms.ALERT_SCHEMA_VERSION
    assert first["model_versions"] == {"memory": "m1", "process": "p1"}


def test_drop_replayed_records_keeps_one_row_per_record_identity(spark: SparkSession) -> None:
    """A crash-replayed batch republishes the same records: same topic/partition/offset/index."""
    made = transforms.add_ingest_time(
        _scored(
            spark,
            [
                (4, "a", 1, "2026-01-01 00:00:10", 1.0),
                (4, "a", 1, "2026-01-01 00:00:12", 1.0),
            ],
        )
    )
    rows = made.collect()
    first = spark.createDataFrame(
        [
            Row(**r.asDict(), topic=TOPIC, partition=0, offset=offset, record_index=index)
            for r, (offset, index) in zip(rows, [(7, 0), (7, 1)], strict=True)
        ]
    )
    replayed = first.unionByName(first).unionByName(
        first.filter("record_index = 1").withColumn("offset", F.lit(9).cast("long"))
    )  # the second copy, plus a record at another offset (a different record)
    kept = transforms.drop_replayed_records(replayed)
    assert sorted((r["offset"], r["record_index"]) for r in kept.collect()) == [
        (7, 0), (7, 1), (9, 1),
    ]  # fmt: skip
    # Every pair of the original records, once: the replayed copies add none.
    memory = _scored(spark, [(4, "a", 1, "2026-01-01 00:00:20", 1.0)])
    assert transforms.attack_pairs(kept, memory).count() == 3
    assert transforms.attack_pairs(transforms.drop_replayed_records(first), memory).count() == 2


def test_the_scored_topic_json_carries_the_original_record_identity(spark: SparkSession) -> None:
    """What drop_replayed_records keys on survives the scored topic's JSON."""
    made = transforms.add_ingest_time(_scored(spark, [(4, "a", 1, "2026-01-01 00:00:10", 1.0)]))
    row = made.first()
    assert row is not None
    scored = spark.createDataFrame(
        [Row(**row.asDict(), topic=TOPIC, partition=2, offset=41, record_index=3)]
    )
    back = transforms.scored_from_kafka(transforms.scored_to_kafka(scored), scored.schema).first()
    assert back is not None
    assert [back[c] for c in transforms.PROVENANCE_COLUMNS] == [TOPIC, 2, 41, 3]

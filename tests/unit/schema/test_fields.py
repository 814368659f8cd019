"""Field kinds: one definition covering every column of every layout."""

from __future__ import annotations

from pipelines.schema.columns import LABELLED_COLUMNS, STREAMING_COLUMNS
from pipelines.schema.fields import FIELDS, Kind, canonical_name, layout_fields, record_fields


def test_every_layout_column_has_a_field_in_file_order() -> None:
    for stream in ("process", "memory"):
        assert [f.name for f in layout_fields(stream)] == list(STREAMING_COLUMNS[stream])
        labelled = layout_fields(stream, labelled=True)
        assert [f.name for f in labelled] == list(LABELLED_COLUMNS[stream])


def test_kinds_as_decided() -> None:
    kinds = {name: field.kind for name, field in FIELDS.items()}
    integers = {n for n, k in kinds.items() if k is Kind.INTEGER}
    floats = {n for n, k in kinds.items() if k is Kind.FLOAT}
    assert integers == {"sequence", "machine", "PID", "TRUN", "TSLPI", "TSLPU", "NICE", "PRI",
                        "RTPR", "CPUNR", "EXC", "pass", "attack"}  # fmt: skip
    assert floats == {"CPU", "MINFLT", "MAJFLT", "VSTEXT", "VSIZE", "RSIZE", "VGROW", "RGROW",
                      "MEM", "ts"}  # fmt: skip
    assert {n for n, k in kinds.items() if k is Kind.CATEGORY} == {
        "POLI",
        "Status",
        "State",
        "type",
    }
    assert {n for n, k in kinds.items() if k is Kind.TEXT} == {"CMD", "run_id"}


def test_only_telemetry_numbers_and_our_identity_fields_are_nullable() -> None:
    nullable = {name for name, field in FIELDS.items() if field.nullable}
    assert "PID" in nullable and "CPU" in nullable and "VGROW" in nullable
    # Other producers of the feed send neither run_id nor pass (SPEC §3).
    assert "run_id" in nullable and "pass" in nullable
    for required in ("sequence", "machine", "ts", "attack", "type", "CMD", "POLI", "Status"):
        assert required not in nullable
    assert FIELDS["attack"].allowed == (0, 1)


def test_record_fields_add_the_kafka_fields() -> None:
    names = [f.name for f in record_fields("memory")]
    assert names == [*STREAMING_COLUMNS["memory"], "ts", "run_id", "pass"]
    labelled = [f.name for f in record_fields("memory", labelled=True)]
    assert labelled == [*LABELLED_COLUMNS["memory"], "run_id", "pass"]
    assert [f.name for f in record_fields("memory", with_kafka_fields=False)] == list(
        STREAMING_COLUMNS["memory"]
    )


def test_label_alias() -> None:
    assert canonical_name("label") == "attack"
    assert canonical_name("PID") == "PID"

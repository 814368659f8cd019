"""The Spark cleaning expressions give the Python parser's typed rows, row for row.

Compared on every row of the real sample (machines 4–7), on small files into which every
quirk of SPEC §2.1 has been injected, on a fuzz list of awkward values, and on Kafka-style
JSON parsed with ``from_json``: same values in every column, same failing rows, same
reason text.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from pipelines.errors import ParseError
from pipelines.schema.columns import STREAMING_COLUMNS, STREAMING_FILE_NAMES, Stream
from pipelines.schema.fields import layout_fields
from pipelines.schema.parse import failure_text, parse_row, parse_streaming_row
from pipelines.spark.clean import (
    PARSE_ERROR,
    clean_columns,
    read_csv_strings,
    string_schema,
    typed_schema,
)

Outcome = tuple[str, Any]
"""("ok", typed row) or ("error", reason text)."""

# Real-looking rows (the shapes of the reference files: atop's own row, a daemon, a
# finished <cmd>, a kworker), followed by rows carrying one quirk each.
BASE_ROWS: dict[Stream, list[list[str]]] = {
    "process": [
        line.split(",")
        for line in (
            "1,4,1442,0,1,0,norm,0,120,0,0,-,0,S,0.0,Xorg",
            "2,4,2177,1,0,0,norm,20,100,0,2,-,0,R,0.01,atop",
            "3,5,3612,0,0,0,0,0,0,0,1,NE,0,E,0.0,<apache2>",
            "4,5,25411,0,1,0,norm,0,120,0,3,0,0,S,0.0,kworker/0:1",
            "5,7,4620,0,4,0,norm,10,130,0,0,0,0,S,0.18,vsftpd",
        )
    ],
    "memory": [
        line.split(",")
        for line in (
            "1,4,4392,221,0,596,184.3,5668,184.3,5668,0.0,apache2",
            "2,4,2177,73,0,148,19296,4436,0,0,0.0,atop",
            "3,5,3612,0,0,0,0,0,0,0,0.0,<apache2>",
            "4,6,1187,1969,0,2219,1.3,56024,0,0,0.01,Xorg",
            "5,7,881,0,0,148,24.5,2880,0,0,0.0,kworker/u256:2",
        )
    ],
}

# (column, raw value) injected into a copy of the first base row.
QUIRKS: dict[Stream, list[tuple[str, str]]] = {
    "process": [
        ("PID", "132K"),
        ("PID", " 13 612 "),
        ("TSLPI", "1.2K"),
        ("TSLPI", "1.5"),  # not an integer
        ("CPU", " 224.2M "),
        ("CPU", "1.3G"),
        ("CPU", "1e-05"),
        ("CPU", "-"),
        ("CPU", "1.2.3"),
        ("CPU", "1e400"),
        ("CPU", "Infinity"),
        ("TRUN", "-"),
        ("TRUN", ""),
        ("TRUN", "NaN"),
        ("PID", "132k"),
        ("PID", "12x"),
        ("PID", "9007199254740993"),
        ("EXC", "0x10"),
        ("RTPR", "1d"),
        ("CPUNR", "\uff11"),  # full-width digit one
        ("POLI", "-"),
        ("POLI", ""),
        ("Status", "-"),
        ("Status", " N "),
        ("State", " "),
        ("CMD", "<kworker/0:1>"),
        ("CMD", "Web Content"),
        ("CMD", " sshd: root@pts/0 "),
        ("CMD", "a,b"),
        ("CMD", 'say "hi"'),
        ("CMD", "two\nlines"),
        ("CMD", ""),
        ("sequence", "-"),
        ("machine", " "),
        ("NICE", "10"),
        ("PRI", "139"),
        ("PRI", "140"),
        ("PRI", "99"),
        ("PRI", "-"),
    ],
    "memory": [
        ("MINFLT", "132K"),
        ("RSIZE", " 224.2M "),
        ("VSIZE", "1.3G"),
        ("VGROW", "-"),
        ("RGROW", " - "),
        ("VGROW", "-12.5M"),
        ("MAJFLT", "1e-05"),
        ("MEM", ".5"),
        ("MINFLT", "12 3 4x"),
        ("VSIZE", "1.3 GB"),
        ("VSTEXT", "+"),
        ("PID", "-5"),
        ("PID", "1.5K"),
        ("CMD", "<nm-dhcp-clie>"),
        ("CMD", "Xorg -core :0"),
        ("CMD", "kworker/u256:2"),
        ("sequence", "1e3"),
        ("machine", "4.0"),
    ],
}

# What the quirk rows must give (a few stated by hand, so the comparison is anchored).
EXPECTED_VALUES: dict[Stream, list[tuple[str, str, object]]] = {
    "process": [
        ("PID", "132K", 132_000),
        ("PID", " 13 612 ", 13_612),
        ("CPU", " 224.2M ", 224_200_000.0),
        ("CPU", "1.3G", 1_300_000_000.0),
        ("CPU", "-", None),
        ("TRUN", "", None),
        ("POLI", "-", "-"),
        ("Status", " N ", "N"),
        ("CMD", " sshd: root@pts/0 ", " sshd: root@pts/0 "),
        ("CMD", "a,b", "a,b"),
        ("CMD", 'say "hi"', 'say "hi"'),
        ("CMD", "two\nlines", "two\nlines"),
    ],
    "memory": [
        ("MINFLT", "132K", 132_000.0),
        ("RSIZE", " 224.2M ", 224_200_000.0),
        ("VGROW", "-12.5M", -12_500_000.0),
        ("RGROW", " - ", None),
        ("PID", "1.5K", 1500),
        ("sequence", "1e3", 1000),
        ("CMD", "Xorg -core :0", "Xorg -core :0"),
    ],
}
EXPECTED_FAILURES: dict[Stream, list[tuple[str, str]]] = {
    "process": [
        ("TSLPI", "1.5"),
        ("CPU", "1.2.3"),
        ("CPU", "1e400"),
        ("CPU", "Infinity"),
        ("TRUN", "NaN"),
        ("PID", "132k"),
        ("PID", "12x"),
        ("PID", "9007199254740993"),
        ("EXC", "0x10"),
        ("RTPR", "1d"),
        ("CPUNR", "\uff11"),
        ("POLI", ""),
        ("State", " "),
        ("CMD", ""),
        ("sequence", "-"),
        ("machine", " "),
    ],
    "memory": [("MINFLT", "12 3 4x"), ("VSIZE", "1.3 GB"), ("VSTEXT", "+")],
}


def quirk_rows(stream: Stream, base: Sequence[Sequence[str]]) -> list[list[str]]:
    """The base rows, then one row per quirk (a copy of the first base row, one value set).

    Sequence numbers continue after the base rows unless the quirk is in `sequence`.
    """
    columns = STREAMING_COLUMNS[stream]
    rows = [list(r) for r in base]
    for offset, (column, value) in enumerate(QUIRKS[stream], start=len(rows) + 1):
        row = list(base[0])
        row[0] = str(offset)
        row[columns.index(column)] = value
        rows.append(row)
    return rows


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def python_outcomes(path: Path, stream: Stream, *, labelled: bool = False) -> list[Outcome]:
    """Every row of a telemetry CSV through the Python parser (errors kept, not raised)."""
    fields = layout_fields(stream, labelled=labelled)
    outcomes: list[Outcome] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for raw in reader:
            try:
                outcomes.append(("ok", parse_row(fields, raw)))
            except ParseError as exc:
                outcomes.append(("error", failure_text(exc)))
    return outcomes


def spark_outcomes(cleaned: DataFrame, names: Sequence[str]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for row in cleaned.collect():
        error = row[PARSE_ERROR]
        outcomes.append(("error", error) if error else ("ok", {n: row[n] for n in names}))
    return outcomes


def assert_same_outcomes(python: Sequence[Outcome], spark: Sequence[Outcome]) -> None:
    assert len(python) == len(spark)
    mismatches = [
        (index, p, s) for index, (p, s) in enumerate(zip(python, spark, strict=True)) if p != s
    ]
    assert not mismatches, f"{len(mismatches)} rows differ, first: {mismatches[:3]}"


@pytest.mark.parametrize("stream", ["process", "memory"])
def test_real_sample_rows_are_identical_in_python_and_spark(
    spark: SparkSession, shared_dir: Path, stream: Stream
) -> None:
    name = STREAMING_FILE_NAMES[stream].replace(".csv", ".sample.csv")
    path = shared_dir / "data" / "real" / name
    python = python_outcomes(path, stream)
    cleaned = clean_columns(read_csv_strings(spark, path), stream)
    spark_rows = spark_outcomes(cleaned, STREAMING_COLUMNS[stream])

    assert_same_outcomes(python, spark_rows)
    # The real sample is clean, and it holds machines 4–7 (DATA.md).
    assert all(kind == "ok" for kind, _ in python)
    assert len(python) > 19_000
    assert {row["machine"] for _, row in python} == {4, 5, 6, 7}
    if stream == "process":
        niced = [row["NICE"] for _, row in python if row["CMD"] == "atop"]
        assert niced and set(niced) == {-20}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A tiny data set from the project's own generator (all four machines' shapes)."""
    from pipelines.data.generator import generate

    out = tmp_path_factory.mktemp("generated")
    return generate(out, seed=11, machines=(4, 5, 6, 7), rows_per_machine=200, labelled_rows=400)


GENERATED_BASE_ROWS = 60


def base_rows(source: str, stream: Stream, generated: Any) -> list[list[str]]:
    if source == "real-looking":
        return BASE_ROWS[stream]
    with generated.streaming(stream).open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        assert next(reader) == list(STREAMING_COLUMNS[stream])
        return [row for _, row in zip(range(GENERATED_BASE_ROWS), reader, strict=False)]


@pytest.mark.parametrize("source", ["real-looking", "generated"])
@pytest.mark.parametrize("stream", ["process", "memory"])
def test_injected_quirks_are_identical_in_python_and_spark(
    spark: SparkSession, tmp_path: Path, generated: Any, stream: Stream, source: str
) -> None:
    columns = STREAMING_COLUMNS[stream]
    base = base_rows(source, stream, generated)
    rows = quirk_rows(stream, base)
    path = write_csv(tmp_path / STREAMING_FILE_NAMES[stream], columns, rows)

    python = python_outcomes(path, stream)
    cleaned = clean_columns(read_csv_strings(spark, path), stream)
    spark_rows = spark_outcomes(cleaned, columns)
    assert_same_outcomes(python, spark_rows)

    assert list(cleaned.columns) == [*columns, PARSE_ERROR]
    assert all(kind == "ok" for kind, _ in spark_rows[: len(base)])
    by_quirk = dict(zip(QUIRKS[stream], spark_rows[len(base) :], strict=True))
    for column, raw, expected in EXPECTED_VALUES[stream]:
        kind, row = by_quirk[(column, raw)]
        assert kind == "ok", (column, raw, row)
        assert row[column] == expected, (column, raw, row[column])
    failing = {quirk for quirk, (kind, _) in by_quirk.items() if kind == "error"}
    assert failing == set(EXPECTED_FAILURES[stream])
    for (column, _), (kind, reason) in by_quirk.items():
        if kind == "error":
            assert reason.startswith(f"column {column}: "), reason


@pytest.mark.parametrize("stream", ["process", "memory"])
def test_generated_labelled_files_are_identical_in_python_and_spark(
    spark: SparkSession, generated: Any, stream: Stream
) -> None:
    """The generator's TON_IoT-layout files carry atop's `-` and K/M quirks."""
    path = generated.labelled(stream)
    python = python_outcomes(path, stream, labelled=True)
    cleaned = clean_columns(read_csv_strings(spark, path), stream, labelled=True)
    names = [f.name for f in layout_fields(stream, labelled=True)]
    assert_same_outcomes(python, spark_outcomes(cleaned, names))
    assert python and all(kind == "ok" for kind, _ in python)
    if stream == "process":
        # The comparison covered `-` in numeric fields (the generator's memory quirks are
        # too rare to be sure of one in a file this small).
        assert any(value is None for _, row in python for value in row.values())


def test_nice_is_restored_identically(spark: SparkSession, tmp_path: Path) -> None:
    columns = STREAMING_COLUMNS["process"]
    rows = quirk_rows("process", BASE_ROWS["process"])
    path = write_csv(tmp_path / "process.csv", columns, rows)
    cleaned = clean_columns(read_csv_strings(spark, path), "process").select(
        "PRI", "NICE", "CMD", PARSE_ERROR
    )
    got = {(r.PRI, r.NICE) for r in cleaned.collect() if r[PARSE_ERROR] is None}
    # atop: PRI 100 → −20; PRI 0 → 0; 130 → 10; 139 → 19; 140 and 99 → 0; PRI `-`: the
    # unsigned NICE 0 stays 0.
    assert got == {(120, 0), (100, -20), (0, 0), (130, 10), (139, 19), (140, 0), (99, 0),
                   (None, 0)}  # fmt: skip


FUZZ_ALPHABET = "0123456789.+-eEKMGk x\t"
FUZZ_FIXED = [
    "0", "-0", "+7", "007", "1.", ".5", "+.5", "-.5K", "1.E3", "1e+2", "1E-2", "5e", "e5",
    "1e2K", "K", "M5", "1_000", "1,5", "٣", "12\u2028", "\u00a012", "--", "-", " - ", "",
    "  ", "4503599627370495.5", "9007199254740991", "9007199254740992", "-9007199254740991",
    "1e15", "1.7976931348623157e308", "1e-400", "true", "null", '"5"', "0.30000000000000004",
]  # fmt: skip
FUZZ_TARGETS = ("sequence", "PID", "CPU", "Status", "CMD")


def fuzz_values(count: int, *, seed: int = 20261128) -> list[str]:
    rng = random.Random(seed)
    drawn = ["".join(rng.choices(FUZZ_ALPHABET, k=rng.randint(1, 8))) for _ in range(count)]
    return FUZZ_FIXED + drawn


def test_fuzzed_values_are_identical_in_python_and_spark(spark: SparkSession) -> None:
    columns = STREAMING_COLUMNS["process"]
    base = dict(zip(columns, BASE_ROWS["process"][0], strict=True))
    raws = [{**base, target: value} for target in FUZZ_TARGETS for value in fuzz_values(300)]
    schema = StructType([StructField(c, StringType()) for c in columns])
    frame = spark.createDataFrame([tuple(r[c] for c in columns) for r in raws], schema)
    spark_rows = spark_outcomes(clean_columns(frame, "process"), columns)

    python: list[Outcome] = []
    for raw in raws:
        try:
            python.append(("ok", parse_streaming_row("process", raw)))
        except ParseError as exc:
            python.append(("error", failure_text(exc)))
    assert_same_outcomes(python, spark_rows)
    # Both outcomes occur in every target column, so the comparison is not vacuous.
    per_target = len(raws) // len(FUZZ_TARGETS)
    for index, target in enumerate(FUZZ_TARGETS):
        chunk = python[index * per_target : (index + 1) * per_target]
        assert {kind for kind, _ in chunk} == {"ok", "error"}, target


KAFKA_RECORDS = [
    # Numbers as JSON numbers, as producers that keep types write them.
    {"sequence": 7, "machine": 4, "PID": 1442, "TRUN": 0, "TSLPI": 1, "TSLPU": 0,
     "POLI": "norm", "NICE": 20, "PRI": 100, "RTPR": 0, "CPUNR": 0, "Status": "-", "EXC": 0,
     "State": "S", "CPU": 1e-05, "CMD": "atop", "ts": 1732780800.5, "run_id": "r-1",
     "pass": 0},
    # The same as strings, with the quirks, as the CSV-replaying producers write them.
    {"sequence": "8", "machine": "4", "PID": " 132K ", "TRUN": "-", "TSLPI": "1", "TSLPU": "0",
     "POLI": "norm", "NICE": "0", "PRI": "120", "RTPR": "0", "CPUNR": "3", "Status": "-",
     "EXC": "0", "State": "S", "CPU": "224.2M", "CMD": "Web Content", "ts": "1732780800.5",
     "run_id": "r-1", "pass": "1"},
    # Float-typed numbers in integer columns, and a huge integer.
    {"sequence": 9.0, "machine": 4, "PID": 12345678901234567890123, "TRUN": 0, "TSLPI": 1,
     "TSLPU": 0, "POLI": "norm", "NICE": 0, "PRI": 120, "RTPR": 0, "CPUNR": 0, "Status": "0",
     "EXC": 0, "State": "S", "CPU": 123456789.123456789, "CMD": "x", "ts": 1.0,
     "run_id": "r-1", "pass": 0},
    # A boolean where a number belongs, and a nested object in CMD.
    {"sequence": 10, "machine": 4, "PID": True, "TRUN": 0, "TSLPI": 1, "TSLPU": 0,
     "POLI": "norm", "NICE": 0, "PRI": 120, "RTPR": 0, "CPUNR": 0, "Status": "0", "EXC": 0,
     "State": "S", "CPU": 0.0, "CMD": "x", "ts": 2.0, "run_id": "r-1", "pass": 0},
]  # fmt: skip


def test_from_json_string_fields_carry_json_number_text(spark: SparkSession) -> None:
    """Spark's from_json with StringType fields: how JSON numbers arrive (module docstring)."""
    messages = [(json.dumps(r),) for r in KAFKA_RECORDS]
    frame = spark.createDataFrame(messages, ["value"])
    parsed = frame.select(F.from_json("value", string_schema("process")).alias("r")).select("r.*")
    first, second, third, fourth = parsed.collect()
    assert (first.PID, first.CPU, first.ts, first.Status) == (
        "1442",
        "1.0E-5",
        "1.7327808005E9",
        "-",
    )
    assert (second.PID, second.CPU) == (" 132K ", "224.2M")
    assert (third.sequence, third.PID) == ("9.0", "12345678901234567890123")
    assert third.CPU == "1.2345678912345679E8"
    assert fourth.PID == "true"

    names = [f.name for f in typed_schema("process").fields]
    spark_rows = spark_outcomes(clean_columns(parsed, "process"), names)
    python: list[Outcome] = []
    for record in KAFKA_RECORDS:
        try:
            python.append(("ok", parse_streaming_row("process", record)))
        except ParseError as exc:
            python.append(("error", failure_text(exc)))
    # Same typed values, whether a number came as a JSON number or as a string.
    for (p_kind, p_row), (s_kind, s_row) in zip(python[:2], spark_rows[:2], strict=True):
        assert p_kind == s_kind == "ok"
        assert p_row == s_row
    assert spark_rows[0][1]["CPU"] == 1e-05 and spark_rows[0][1]["NICE"] == -20
    assert spark_rows[1][1]["PID"] == 132_000 and spark_rows[1][1]["CPU"] == 224_200_000.0
    assert python[2] == spark_rows[2] == ("error", failure_text(
        ParseError("out of range", column="PID", value="12345678901234567890123")))  # fmt: skip
    # Python sees the boolean itself, Spark its text: the same column fails.
    assert python[3][0] == spark_rows[3][0] == "error"
    assert python[3][1].startswith("column PID: not a number")
    assert spark_rows[3][1] == "column PID: not a number (value 'true')"


def test_cleaned_types_match_typed_schema(spark: SparkSession) -> None:
    for stream in ("process", "memory"):
        frame = spark.createDataFrame([], string_schema(stream))
        cleaned = clean_columns(frame, stream)
        expected = typed_schema(stream)
        assert [(f.name, f.dataType) for f in cleaned.schema.fields[:-1]] == [
            (f.name, f.dataType) for f in expected.fields
        ]
        assert cleaned.schema[PARSE_ERROR].dataType == StringType()


def test_labelled_rows_accept_label_alias(spark: SparkSession) -> None:
    header = ["ts", "PID", "MINFLT", "MAJFLT", "VSTEXT", "VSIZE", "RSIZE", "VGROW", "RGROW",
              "MEM", "CMD", "label", "type", "note"]  # fmt: skip
    rows = [
        ["1556094924", "4392", "221", "0", "596", "184.3", "5668", "0", "0", "0.0", "apache2",
         "1", "ddos", "a"],
        ["1556094925", "4392", "0", "0", "596", "184.3", "5668", "0", "0", "0.0", "apache2",
         "2", "ddos", "b"],
        ["1556094926", "4392", "0", "0", "596", "184.3", "5668", "0", "0", "0.0", "apache2",
         "0", " normal ", "c"],
    ]  # fmt: skip
    frame = spark.createDataFrame(rows, header)
    cleaned = clean_columns(frame, "memory", labelled=True)
    assert cleaned.columns[-4:] == ["attack", "type", "note", PARSE_ERROR]
    got = [(r.attack, r.type, r.note, r[PARSE_ERROR]) for r in cleaned.collect()]
    assert got == [
        (1, "ddos", "a", None),
        (None, "ddos", "b", "column label: not one of 0, 1 (value '2')"),
        (0, "normal", "c", None),
    ]
    for raw, (attack, kind, _, error) in zip(rows, got, strict=True):
        try:
            row = parse_row(
                layout_fields("memory", labelled=True), dict(zip(header, raw, strict=True))
            )
            assert (row["attack"], row["type"], None) == (attack, kind, error)
        except ParseError as exc:
            assert failure_text(exc) == error


def test_missing_layout_column_is_reported(spark: SparkSession) -> None:
    frame = spark.createDataFrame([("1", "4")], ["sequence", "machine"])
    with pytest.raises(ParseError, match="column PID: missing column"):
        clean_columns(frame, "process", source="topic stophacking.process.v1")

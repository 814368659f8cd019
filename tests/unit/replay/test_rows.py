"""Loading streaming CSVs and typing their fields without changing them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.errors import ParseError
from pipelines.replay.rows import encode_field, load_stream_rows
from pipelines.schema.columns import MEMORY_COLUMNS, PROCESS_COLUMNS
from tests.support.replay import ROWS_PER_MACHINE, write_streaming_csv


@pytest.mark.parametrize(
    ("column", "text", "expected"),
    [
        ("PID", "4392", 4392),
        ("NICE", "-20", -20),
        ("CPU", "0.18", 0.18),
        ("VSIZE", "184.3", 184.3),
        ("RSIZE", "5668", 5668),
        ("MEM", "1e-05", 1e-05),
        ("MINFLT", "132K", "132K"),
        ("VSIZE", "224.2M", "224.2M"),
        ("TSLPI", " 12", " 12"),
        ("EXC", "-", "-"),
        ("PID", "007", "007"),
        ("CPU", "nan", "nan"),
        ("CPU", "", ""),
        ("CPU", "0.12345678901234567890", "0.12345678901234567890"),
        ("POLI", "0", "0"),
        ("Status", "-", "-"),
        ("CMD", "123", "123"),
        ("CMD", " <kworker/0:1> ", " <kworker/0:1> "),
        ("extra", "42", "42"),
    ],
)
def test_encode_field_types_plain_numbers_and_keeps_everything_else(
    column: str, text: str, expected: object
) -> None:
    value = encode_field(column, text)
    assert value == expected
    assert type(value) is type(expected)


@given(st.text(alphabet="0123456789.-eE+KMG ", max_size=24))
def test_a_numeric_encoding_always_says_the_same_number_as_the_text(text: str) -> None:
    value = encode_field("VSIZE", text)
    if isinstance(value, str):
        assert value == text
    else:
        assert Decimal(repr(value)) == Decimal(text)


def test_load_groups_by_machine_in_sequence_order(tmp_path: Path) -> None:
    path = write_streaming_csv(tmp_path, "process")
    rows = load_stream_rows(path, "process")
    assert rows.columns == PROCESS_COLUMNS
    assert rows.row_counts == dict(ROWS_PER_MACHINE)
    assert rows.total_rows == sum(ROWS_PER_MACHINE.values())
    for machine, machine_rows in rows.machines.items():
        assert [r.sequence for r in machine_rows] == list(range(1, len(machine_rows) + 1))
        assert all(r.machine == machine == r.fields["machine"] for r in machine_rows)
    lines = sorted(r.line for m in rows.machines.values() for r in m)
    assert lines == list(range(2, rows.total_rows + 2))


def test_load_keeps_every_field_as_written(tmp_path: Path) -> None:
    path = tmp_path / "memory.csv"
    path.write_text(
        ",".join(MEMORY_COLUMNS) + ",note\n"
        '2,4,4397,132K,0,-,184.3, 5668,0,0,0.0,"a, b <c>",x\n'
        "1,4,4392,221,0,596,19296,5668,184.3,5668,0.03,apache2,y\n"
    )
    rows = load_stream_rows(path, "memory").machines[4]
    assert dict(rows[0].fields) == {
        "sequence": 1, "machine": 4, "PID": 4392, "MINFLT": 221, "MAJFLT": 0, "VSTEXT": 596,
        "VSIZE": 19296, "RSIZE": 5668, "VGROW": 184.3, "RGROW": 5668, "MEM": 0.03,
        "CMD": "apache2", "note": "y",
    }  # fmt: skip
    assert rows[1].fields["MINFLT"] == "132K"
    assert rows[1].fields["VSTEXT"] == "-"
    assert rows[1].fields["RSIZE"] == " 5668"
    assert rows[1].fields["CMD"] == "a, b <c>"
    assert rows[1].line == 2


def test_a_byte_order_mark_does_not_hide_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_text("\ufeff" + ",".join(PROCESS_COLUMNS) + "\n" + "1,6," + "0," * 13 + "x\n")
    assert load_stream_rows(path, "process").row_counts == {6: 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"bad\.csv, line 1: empty file"),
        ("sequence,machine,PID\n1,4,5\n", r"line 1: missing column\(s\) TRUN, TSLPI"),
        (",".join(PROCESS_COLUMNS) + ",ts\n", r"line 1: column\(s\) ts are added by the producer"),
        (",".join(PROCESS_COLUMNS) + "\n", r"line 2: no records after the header"),
        (",".join(PROCESS_COLUMNS) + "\n1,4,5\n", r"line 2: expected 16 fields, found 3"),
        (
            ",".join(PROCESS_COLUMNS) + "\n\n1,four," + "0," * 13 + "x\n",
            r"line 3, column machine: must be a whole number .*\(value 'four'\)",
        ),
        (
            ",".join(PROCESS_COLUMNS) + "\n1,4," + "0," * 13 + "x\n" + "1,4," + "0," * 13 + "y\n",
            r"line 3, column sequence: machine 4 sequence 1 already appeared on line 2",
        ),
    ],
    ids=["empty", "missing", "reserved", "no-rows", "width", "machine", "duplicate"],
)
def test_bad_files_name_file_line_and_field(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ParseError, match=message):
        load_stream_rows(path, "process")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match=r"nope\.csv: no such file"):
        load_stream_rows(tmp_path / "nope.csv", "memory")

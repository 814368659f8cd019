"""Loading streaming CSVs and typing their fields without changing them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from pipelines.cli import main
from pipelines.config import Settings
from pipelines.errors import ParseError
from pipelines.replay.kafka_producer import Replayer
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
        (
            ",".join(PROCESS_COLUMNS) + "\n1,4,5\n",
            r"bad\.csv, line 2, column TRUN: expected 16 fields, found 3",
        ),
        (
            ",".join(PROCESS_COLUMNS) + "\n1,4," + "0," * 13 + "x,y\n",
            r"line 2, column #17 \(past the header\): expected 16 fields, found 17",
        ),
        (
            ",".join(PROCESS_COLUMNS) + "\n\n1,four," + "0," * 13 + "x\n",
            r"line 3, column machine: must be a whole number .*\(value 'four'\)",
        ),
        (
            ",".join(PROCESS_COLUMNS) + "\n1,4," + "0," * 13 + "x\n" + "1,4," + "0," * 13 + "y\n",
            r"line 3, column sequence: machine 4 sequence 1 already appeared on line 2",
        ),
    ],
    ids=["empty", "missing", "reserved", "no-rows", "short", "long", "machine", "duplicate"],
)
def test_bad_files_name_file_line_and_field(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ParseError, match=message):
        load_stream_rows(path, "process")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match=r"nope\.csv: no such file"):
        load_stream_rows(tmp_path / "nope.csv", "memory")


GOOD_ROW = "1,4," + "0," * 13 + "sshd"
BAD_ROWS = {
    3: ("1,4,5", "column TRUN: expected 16 fields"),
    4: ("2,four," + "0," * 13 + "x", "column machine: must be a whole number"),
    5: ("1,4," + "0," * 13 + "again", "column sequence: machine 4 sequence 1 already appeared"),
    6: ("3,4," + "0," * 13 + "caf\xe9", "column CMD: not UTF-8 text (value 'caf\ufffd')"),
}


def _file_with_bad_rows(tmp_path: Path) -> Path:
    lines = [",".join(PROCESS_COLUMNS), GOOD_ROW, *(row for row, _ in BAD_ROWS.values())]
    lines.append("4,5," + "0," * 13 + "cron")
    path = tmp_path / "mixed.csv"
    # Latin-1 bytes: the é of line 6 is not UTF-8.
    path.write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    return path


def test_by_default_the_first_bad_row_stops_the_load_naming_file_line_and_column(
    tmp_path: Path,
) -> None:
    path = _file_with_bad_rows(tmp_path)
    with pytest.raises(ParseError) as caught:
        load_stream_rows(path, "process")
    error = caught.value
    assert (error.source, error.line, error.column) == (str(path), 3, "TRUN")
    assert str(error).startswith(f"{path}, line 3, column TRUN: expected 16 fields, found 3")


def test_skip_bad_rows_keeps_the_good_ones_and_lists_each_bad_one(tmp_path: Path) -> None:
    rows = load_stream_rows(_file_with_bad_rows(tmp_path), "process", skip_bad_rows=True)
    assert rows.row_counts == {4: 1, 5: 1}
    assert [row.line for machine in rows.machines.values() for row in machine] == [2, 7]
    assert [e.line for e in rows.skipped] == sorted(BAD_ROWS)
    for error in rows.skipped:
        assert BAD_ROWS[error.line][1] in str(error)


def test_a_utf8_file_has_nothing_to_skip(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text(",".join(PROCESS_COLUMNS) + "\n" + GOOD_ROW.replace("sshd", "café") + "\n")
    rows = load_stream_rows(path, "process", skip_bad_rows=True)
    assert rows.skipped == ()
    assert rows.machines[4][0].fields["CMD"] == "café"


def test_skipping_every_row_still_fails(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(",".join(PROCESS_COLUMNS) + "\n1,4,5\n")
    with pytest.raises(ParseError, match=r"no records after the header \(1 bad rows skipped"):
        load_stream_rows(path, "process", skip_bad_rows=True)


def test_a_replayer_told_to_skip_reports_how_many_rows_it_left_out(
    tmp_path: Path, settings: Settings
) -> None:
    path = _file_with_bad_rows(tmp_path)
    skipping = Replayer(settings, "process", file=path, skip_bad_rows=True)
    assert skipping.rows.row_counts == {4: 1, 5: 1}  # read without any broker
    assert skipping.report().skipped_rows == len(BAD_ROWS)
    with pytest.raises(ParseError, match="line 3, column TRUN"):
        _ = Replayer(settings, "process", file=path).rows


def test_produce_stops_at_a_bad_row_unless_told_to_skip_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file_with_bad_rows(tmp_path)
    # Nothing answers at port 9: the skipping run reads the file, names what it skips,
    # then gives up on Kafka after a second.
    monkeypatch.setenv("STOPHACKING_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9")
    monkeypatch.setenv("STOPHACKING_REPLAY__CONNECT_TIMEOUT_S", "1")
    monkeypatch.setenv("STOPHACKING_HOME", str(tmp_path / "home"))
    command = ["produce", "process", "--file", str(path), "--cycles", "1", "--progress", "none"]
    stopped = CliRunner().invoke(main, command)
    assert stopped.exit_code == 2
    assert stopped.output.strip().splitlines() == [
        f"stophacking: error: {path}, line 3, column TRUN: expected 16 fields, found 3"
    ]
    skipping = CliRunner().invoke(main, [*command, "--skip-bad-rows"])
    skipped = [line for line in skipping.output.splitlines() if "skipped bad row" in line]
    assert [line.split(", ")[1] for line in skipped] == [f"line {n}" for n in (3, 4, 5, 6)]
    assert "could not reach Kafka" in skipping.output

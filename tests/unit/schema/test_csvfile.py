"""Telemetry CSV reading: layouts from headers, typed frames, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.data.csvfile import detect_layout, load_frame, read_csv_rows
from pipelines.errors import ParseError
from pipelines.schema.columns import LABELLED_COLUMNS, MEMORY_COLUMNS, PROCESS_COLUMNS

PROCESS_HEADER = ",".join(PROCESS_COLUMNS)
PROCESS_LINES = [
    "1,4,1442,0,1,0,norm,0,120,0,0,-,0,S,0.0,Xorg",
    "2,4,2177,1,0,0,norm,20,100,0,2,-,0,R,0.01,atop",
    "3,5,3612,0,0,0,0,0,0,0,1,NE,0,E,0.0,<apache2>",
    '4,5,25411,-,1,0,norm,0,120,0,3,0,0,S, 1.3K ,"Web Content, tab 2"',
]
MEMORY_HEADER = ",".join(MEMORY_COLUMNS)
MEMORY_LINES = [
    "1,4,4392,221,0,596,184.3,5668,184.3,5668,0.0,apache2",
    "2,6,1187,132K,0,2219,1.3,224.2M,-,0,0.01,kworker/u256:2",
]


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_process_rows_are_typed(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", PROCESS_HEADER, *PROCESS_LINES)
    rows = list(read_csv_rows(path))
    assert len(rows) == 4
    assert rows[1]["NICE"] == -20 and rows[1]["CMD"] == "atop"
    assert rows[2]["CMD"] == "<apache2>" and rows[2]["POLI"] == "0"
    assert rows[3]["TRUN"] is None
    assert rows[3]["CPU"] == 1300.0
    assert rows[3]["CMD"] == "Web Content, tab 2"


def test_detect_layout_of_each_kind(tmp_path: Path) -> None:
    labelled_memory = ",".join(LABELLED_COLUMNS["memory"]).replace("attack", "label")
    assert detect_layout(write(tmp_path / "p.csv", PROCESS_HEADER)) == ("process", False)
    assert detect_layout(write(tmp_path / "m.csv", MEMORY_HEADER)) == ("memory", False)
    assert detect_layout(write(tmp_path / "lm.csv", labelled_memory)) == ("memory", True)
    labelled_process = ",".join(LABELLED_COLUMNS["process"])
    assert detect_layout(write(tmp_path / "lp.csv", labelled_process)) == ("process", True)


def test_load_frame_has_nullable_dtypes(tmp_path: Path) -> None:
    frame = load_frame(write(tmp_path / "m.csv", MEMORY_HEADER, *MEMORY_LINES))
    assert list(frame.columns) == list(MEMORY_COLUMNS)
    assert frame["sequence"].dtype == "int64"
    assert frame["PID"].dtype == pd.Int64Dtype()
    assert frame["MINFLT"].dtype == "float64"
    assert frame["CMD"].dtype == pd.StringDtype()
    assert frame["MINFLT"].tolist() == [221.0, 132_000.0]
    assert frame["RSIZE"].tolist() == [5668.0, 224_200_000.0]
    assert pd.isna(frame.loc[1, "VGROW"])


def test_load_frame_of_labelled_file_with_label_alias(tmp_path: Path) -> None:
    header = ",".join(LABELLED_COLUMNS["process"]).replace("attack", "label")
    path = write(
        tmp_path / "train.csv",
        header,
        "1556094924,2177,1,0,0,norm,20,100,0,2,-,0,R,0.01,atop,0,normal",
        "1556094925,4410,0,1,0,norm,0,120,0,1,0,0,S,0.0,sh,1,injection",
    )
    frame = load_frame(path)
    assert list(frame.columns) == list(LABELLED_COLUMNS["process"])
    assert frame["attack"].tolist() == [0, 1]
    assert frame["attack"].dtype == "int64"
    assert frame["type"].tolist() == ["normal", "injection"]
    assert frame["NICE"].tolist() == [-20, 0]


def test_header_only_gives_an_empty_typed_frame(tmp_path: Path) -> None:
    frame = load_frame(write(tmp_path / "p.csv", PROCESS_HEADER))
    assert frame.empty and list(frame.columns) == list(PROCESS_COLUMNS)
    assert frame["PID"].dtype == pd.Int64Dtype()


def error_of(path: Path, **kwargs: object) -> str:
    with pytest.raises(ParseError) as caught:
        list(read_csv_rows(path, **kwargs))  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_bad_number_names_file_line_and_column(tmp_path: Path) -> None:
    lines = [*PROCESS_LINES]
    lines[2] = lines[2].replace(",3612,", ",36x2,")
    path = write(tmp_path / "p.csv", PROCESS_HEADER, *lines)
    assert error_of(path) == f"{path}, line 4, column PID: not a number (value '36x2')"


def test_bad_number_line_counts_quoted_line_breaks(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.csv", MEMORY_HEADER, '1,4,4392,221,0,596,184.3,5668,0,0,0.0,"two\nlines"',
        "2,4,4392,22 1x,0,596,184.3,5668,0,0,0.0,apache2",
    )  # fmt: skip
    assert error_of(path) == f"{path}, line 4, column MINFLT: not a number (value '22 1x')"


def test_missing_column_in_header(tmp_path: Path) -> None:
    header = PROCESS_HEADER.replace(",CPU,", ",")
    path = write(tmp_path / "p.csv", header, "1,4,1442,0,1,0,norm,0,120,0,0,-,0,S,Xorg")
    message = error_of(path)
    assert message.startswith(f"{path}, line 1, column CPU: missing column")
    assert "process streaming layout" in message


def test_wrong_header(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "name,age,city", "bob,3,paris")
    assert ", line 1, column " in error_of(path)
    renamed = write(tmp_path / "m.csv", MEMORY_HEADER.replace("RSIZE", "RSS"), *MEMORY_LINES)
    assert error_of(renamed).startswith(f"{renamed}, line 1, column RSIZE: missing column")
    extra = write(
        tmp_path / "e.csv", MEMORY_HEADER + ",colour", *(r + ",red" for r in MEMORY_LINES)
    )
    assert error_of(extra).startswith(f"{extra}, line 1, column colour: unexpected column")
    doubled = write(tmp_path / "d.csv", MEMORY_HEADER + ",PID")
    assert error_of(doubled).startswith(f"{doubled}, line 1, column PID: duplicate column")


def test_header_of_the_other_stream_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", MEMORY_HEADER, *MEMORY_LINES)
    message = error_of(path, stream="process")
    assert message.startswith(f"{path}, line 1, column ")
    assert "process streaming layout" in message


def test_short_and_long_rows(tmp_path: Path) -> None:
    short = write(tmp_path / "s.csv", MEMORY_HEADER, MEMORY_LINES[0], "2,4,4392,221,0")
    assert (
        error_of(short) == f"{short}, line 3, column VSTEXT: short row: 5 fields, the header has 12"
    )
    long = write(tmp_path / "l.csv", MEMORY_HEADER, MEMORY_LINES[0] + ",tab 2")
    assert error_of(long).startswith(f"{long}, line 2, column CMD: long row: 13 fields")


def test_blank_lines_and_byte_order_mark_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("\ufeff" + MEMORY_HEADER + "\n\n" + MEMORY_LINES[0] + "\n\n", encoding="utf-8")
    assert [r["PID"] for r in read_csv_rows(path)] == [4392]


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "")
    assert error_of(path) == f"{path}, line 1: empty file: no header"

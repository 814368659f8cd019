"""The Python row parser on the quirks of the real files (SPEC §2.1, §2.2)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipelines.errors import ParseError
from pipelines.schema.columns import MEMORY_COLUMNS, PROCESS_COLUMNS
from pipelines.schema.parse import (
    failure_text,
    parse_labelled_row,
    parse_number,
    parse_streaming_row,
    restore_nice,
)

ATOP_ROW = [
    "10",
    "4",
    "2177",
    "1",
    "0",
    "0",
    "norm",
    "20",
    "100",
    "0",
    "2",
    "-",
    "0",
    "R",
    "0.01",
    "atop",
]
MEMORY_ROW = [
    "1",
    "4",
    "4392",
    "221",
    "0",
    "596",
    "184.3",
    "5668",
    "184.3",
    "5668",
    "0.0",
    "apache2",
]


def process_raw(**changes: object) -> dict[str, object]:
    return {**dict(zip(PROCESS_COLUMNS, ATOP_ROW, strict=True)), **changes}


def memory_raw(**changes: object) -> dict[str, object]:
    return {**dict(zip(MEMORY_COLUMNS, MEMORY_ROW, strict=True)), **changes}


@pytest.mark.parametrize(
    ("raw", "integer", "expected"),
    [
        ("132K", False, 132_000.0),
        ("132K", True, 132_000),
        (" 224.2M ", False, 224_200_000.0),
        ("224.2M", True, 224_200_000),
        ("1.3G", False, 1_300_000_000.0),
        ("1 024", True, 1024),  # inner space
        ("\t19296 ", False, 19296.0),
        ("184.3", False, 184.3),  # VSIZE: unit already stripped, kept as is
        ("1.5K", True, 1500),
        ("12.0", True, 12),
        ("-12.5M", False, -12_500_000.0),
        ("1e-05", False, 1e-05),
        ("-", False, None),
        (" - ", True, None),
        ("", True, None),
        (None, False, None),
        (7, True, 7),
        (7, False, 7.0),
        (0.18, False, 0.18),
        (9.0, True, 9),
    ],
)
def test_parse_number_converts_atop_values(raw: object, integer: bool, expected: object) -> None:
    got = parse_number(raw, integer=integer)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("raw", "integer", "reason"),
    [
        ("132k", False, "not a number"),  # atop writes upper-case units only
        ("12x", True, "not a number"),
        ("1.2.3", False, "not a number"),
        ("1.3 GB", False, "not a number"),
        ("NaN", False, "not a number"),
        ("0x10", True, "not a number"),
        ("--", True, "not a number"),
        ("+", False, "not a number"),
        ("1e3K", False, "not a number"),
        (True, True, "not a number"),
        (float("inf"), False, "not a number"),
        ([1], False, "not a number"),
        ("1.5", True, "not an integer"),
        ("1.2345K", True, "not an integer"),
        (2.5, True, "not an integer"),
        ("1e400", False, "out of range"),
        ("9007199254740992", True, "out of range"),
        (10**400, False, "out of range"),
    ],
)
def test_parse_number_rejects_with_reason(raw: object, integer: bool, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_number(raw, integer=integer)
    assert caught.value.reason == reason
    assert caught.value.value == raw


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(
    whole=st.integers(min_value=0, max_value=999_999),
    decimals=st.integers(min_value=0, max_value=3),
    fraction=st.integers(min_value=0, max_value=999),
    suffix=st.sampled_from(["", "K", "M", "G"]),
    sign=st.sampled_from(["", "-", "+"]),
    pad=st.sampled_from(["", " ", "\t", "  "]),
)
@example(whole=224, decimals=1, fraction=2, suffix="M", sign="", pad=" ")
def test_suffix_round_trip(
    whole: int, decimals: int, fraction: int, suffix: str, sign: str, pad: str
) -> None:
    """atop-formatted numbers read back to mantissa × unit, exactly as decimal text would."""
    digits = str(fraction % 10**decimals).zfill(decimals) if decimals else ""
    mantissa = f"{whole}.{digits}" if decimals else str(whole)
    exponent = {"": 0, "K": 3, "M": 6, "G": 9}[suffix]
    text = f"{pad}{sign}{mantissa}{pad}{suffix}{pad}"
    expected = float(f"{sign}{mantissa}e{exponent}")
    assert parse_number(text, integer=False) == expected
    scaled = int(whole * 10**exponent + int(digits or 0) * 10 ** (exponent - decimals))
    if decimals <= exponent or int(digits or 0) == 0:
        assert parse_number(text, integer=True) == (-scaled if sign == "-" else scaled)
    else:
        with pytest.raises(ParseError, match="not an integer"):
            parse_number(text, integer=True)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1))
def test_integers_read_back_from_their_text_and_from_json(number: int) -> None:
    assert parse_number(str(number), integer=True) == number
    assert parse_number(number, integer=True) == number


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_read_back_from_their_repr(number: float) -> None:
    assert parse_number(repr(number), integer=False) == number


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(nice=st.integers(min_value=0, max_value=40), pri=st.integers(min_value=0, max_value=200))
def test_restore_nice_follows_pri(nice: int, pri: int) -> None:
    restored = restore_nice(nice, pri)
    if 100 <= pri <= 139:
        assert restored == pri - 120
        assert -20 <= restored <= 19
    else:
        assert restored == 0


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(st.integers(min_value=-20, max_value=19))
def test_restore_nice_recovers_the_sign_atop_lost(true_nice: int) -> None:
    """The reference files hold |NICE| and PRI = 120 + NICE; restoring gives NICE back."""
    pri = 120 + true_nice
    assert restore_nice(abs(true_nice), pri) == true_nice


@pytest.mark.parametrize(
    ("nice", "pri", "expected"),
    [(20, 100, -20), (0, 0, 0), (0, 120, 0), (10, 130, 10), (19, 139, 19), (1, 121, 1),
     (11, 109, -11), (20, 140, 0), (0, None, 0), (5, None, None), (None, None, None)],
)  # fmt: skip
def test_restore_nice_on_real_pairs(
    nice: int | None, pri: int | None, expected: int | None
) -> None:
    assert restore_nice(nice, pri) == expected


def test_atop_row_restores_nice_minus_20() -> None:
    row = parse_streaming_row("process", process_raw())
    assert row == {
        "sequence": 10, "machine": 4, "PID": 2177, "TRUN": 1, "TSLPI": 0, "TSLPU": 0,
        "POLI": "norm", "NICE": -20, "PRI": 100, "RTPR": 0, "CPUNR": 2, "Status": "-",
        "EXC": 0, "State": "R", "CPU": 0.01, "CMD": "atop",
    }  # fmt: skip
    assert list(row) == list(PROCESS_COLUMNS)


def test_finished_process_row_with_pri_0() -> None:
    row = parse_streaming_row(
        "process", process_raw(POLI="0", NICE="0", PRI="0", Status="NE", State="E", CMD="<cron>")
    )
    assert (row["POLI"], row["NICE"], row["PRI"], row["Status"], row["CMD"]) == (
        "0", 0, 0, "NE", "<cron>"
    )  # fmt: skip


def test_dash_is_missing_in_numbers_but_a_category_in_poli_and_status() -> None:
    row = parse_streaming_row("process", process_raw(TRUN="-", CPU=" - ", POLI="-", Status="-"))
    assert (row["TRUN"], row["CPU"], row["POLI"], row["Status"]) == (None, None, "-", "-")


@pytest.mark.parametrize(
    "cmd", ["<kworker/0:1>", "kworker/u256:2", "Web Content", " sshd: root@pts/0 ", "a,b"]
)
def test_cmd_is_kept_exactly(cmd: str) -> None:
    assert parse_streaming_row("process", process_raw(CMD=cmd))["CMD"] == cmd


def test_categories_lose_outer_spaces_only() -> None:
    row = parse_streaming_row("process", process_raw(State=" S ", Status="\tN "))
    assert (row["State"], row["Status"]) == ("S", "N")


def test_memory_row_with_suffixes() -> None:
    row = parse_streaming_row(
        "memory", memory_raw(MINFLT="132K", RSIZE=" 224.2M ", VSIZE="1.3G", VGROW="-")
    )
    assert (row["MINFLT"], row["RSIZE"], row["VSIZE"], row["VGROW"]) == (
        132_000.0, 224_200_000.0, 1_300_000_000.0, None
    )  # fmt: skip
    assert row["VSTEXT"] == 596.0 and row["CMD"] == "apache2"


def test_kafka_fields_are_typed_when_present_and_unknown_keys_dropped() -> None:
    raw: dict[str, Any] = {**memory_raw(), "ts": 1732780800.5, "run_id": "r-7", "pass": "2",
                           "offset": 99}  # fmt: skip
    row = parse_streaming_row("memory", raw)
    assert (row["ts"], row["run_id"], row["pass"]) == (1732780800.5, "r-7", 2)
    assert "offset" not in row
    assert list(row)[-3:] == ["ts", "run_id", "pass"]


def test_json_numbers_and_strings_give_the_same_row() -> None:
    as_numbers = {k: (float(v) if "." in v else int(v)) if k != "CMD" else v
                  for k, v in memory_raw().items()}  # fmt: skip
    assert parse_streaming_row("memory", as_numbers) == parse_streaming_row("memory", memory_raw())


@pytest.mark.parametrize(
    ("changes", "column", "reason"),
    [
        ({"PID": "12x"}, "PID", "not a number"),
        ({"TSLPI": "1.5"}, "TSLPI", "not an integer"),
        ({"sequence": "-"}, "sequence", "missing value"),
        ({"machine": ""}, "machine", "missing value"),
        ({"CMD": ""}, "CMD", "missing value"),
        ({"State": "  "}, "State", "missing value"),
        ({"Status": None}, "Status", "missing value"),
        ({"ts": "-"}, "ts", "missing value"),
        ({"pass": "x"}, "pass", "not a number"),
    ],
)
def test_bad_values_name_source_line_column(
    changes: dict[str, object], column: str, reason: str
) -> None:
    with pytest.raises(ParseError) as caught:
        parse_streaming_row("process", process_raw(**changes), source="p.csv", line=12)
    error = caught.value
    assert (error.source, error.line, error.column, error.reason) == ("p.csv", 12, column, reason)
    assert str(error).startswith(f"p.csv, line 12, column {column}: {reason}")
    assert "\n" not in str(error)


def test_missing_column_is_named() -> None:
    raw = process_raw()
    del raw["CPU"]
    with pytest.raises(ParseError, match=r"^line 3, column CPU: missing column$"):
        parse_streaming_row("process", raw, line=3)


def test_first_bad_column_in_layout_order_wins() -> None:
    with pytest.raises(ParseError) as caught:
        parse_streaming_row("process", process_raw(CMD="", PID="x", CPU="y"))
    assert caught.value.column == "PID"


def test_failure_text_quotes_the_raw_value() -> None:
    with pytest.raises(ParseError) as caught:
        parse_streaming_row("process", process_raw(CPU=" 1.2.3"))
    assert failure_text(caught.value) == "column CPU: not a number (value ' 1.2.3')"
    with pytest.raises(ParseError) as caught:
        parse_streaming_row("process", process_raw(CMD=""))
    assert failure_text(caught.value) == "column CMD: missing value"


LABELLED_PROCESS = dict(
    zip(
        ("ts", *PROCESS_COLUMNS[2:], "attack", "type"),
        [
            "1556094924",
            "2177",
            "1",
            "0",
            "0",
            "norm",
            "20",
            "100",
            "0",
            "2",
            "-",
            "0",
            "R",
            "0.01",
            "atop",
            "1",
            "ddos",
        ],
        strict=True,
    )
)


def test_labelled_row_reads_attack_and_type() -> None:
    row = parse_labelled_row("process", LABELLED_PROCESS)
    assert (row["ts"], row["NICE"], row["attack"], row["type"]) == (1556094924.0, -20, 1, "ddos")
    assert "sequence" not in row and "machine" not in row


def test_label_is_an_alias_of_attack() -> None:
    raw = {("label" if k == "attack" else k): v for k, v in LABELLED_PROCESS.items()}
    row = parse_labelled_row("process", raw)
    assert row["attack"] == 1 and "label" not in row


@pytest.mark.parametrize(
    ("changes", "column", "reason"),
    [
        ({"attack": "2"}, "attack", "not one of 0, 1"),
        ({"attack": "-"}, "attack", "missing value"),
        ({"type": ""}, "type", "missing value"),
        ({"label": "1"}, "label", "both attack and label given"),
    ],
)
def test_labelled_row_errors(changes: dict[str, str], column: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_labelled_row("process", {**LABELLED_PROCESS, **changes}, source="train.csv", line=5)
    assert (caught.value.column, caught.value.reason, caught.value.line) == (column, reason, 5)

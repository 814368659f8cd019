"""The malformed-message generator: repeatable per seed, every fault present, and each
message wrong in exactly the way its fault names (checked with Python's own JSON
reader and the schema's parser)."""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections import Counter
from typing import Any

import pytest

from pipelines.data.fuzz import (
    DEEP_NESTING,
    FUZZ_RUN_ID,
    HUGE_CMD_CHARS,
    BadMessage,
    Fault,
    bad_messages,
    mix,
    number_fields,
    required_fields,
)
from pipelines.errors import ParseError
from pipelines.schema.columns import STREAMS, Stream
from pipelines.schema.fields import FIELDS, Kind, record_fields
from pipelines.schema.parse import parse_streaming_row, parse_value

MANY = 15 * 40


def valid_record(stream: Stream, sequence: int = 7, machine: int = 4) -> dict[str, Any]:
    """A record every consumer accepts, with a value of its kind in every field."""
    values = {Kind.INTEGER: 3, Kind.FLOAT: 0.25, Kind.CATEGORY: "S", Kind.TEXT: "sshd"}
    record = {f.name: values[f.kind] for f in record_fields(stream)}
    record.update(sequence=sequence, machine=machine, ts=1_700_000_000.5, run_id="r")
    record.update({"pass": 0})
    if stream == "process":
        record.update(PRI=120, NICE=0)
    return record


def base_of(message: BadMessage, stream: Stream) -> dict[str, Any]:
    """The record a message was made from when ``valid_record`` was the only base."""
    return {**valid_record(stream), "run_id": FUZZ_RUN_ID, "pass": message.pass_}


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    keys = set(before) | set(after)
    return {k for k in keys if k not in before or k not in after or before[k] != after[k]}


@pytest.fixture(params=STREAMS)
def stream(request: pytest.FixtureRequest) -> Stream:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def messages(stream: Stream) -> list[BadMessage]:
    return bad_messages(stream, [valid_record(stream)], MANY, seed=5)


def test_every_fault_is_made_equally_often(messages: list[BadMessage]) -> None:
    assert len(Fault) >= 12
    assert Counter(m.fault for m in messages) == {fault: MANY // len(Fault) for fault in Fault}


def test_the_same_seed_gives_the_same_messages_and_another_seed_others(stream: Stream) -> None:
    records = [valid_record(stream, sequence=s, machine=m) for s in range(5) for m in (4, 5)]
    first = bad_messages(stream, records, 100, seed=1)
    assert bad_messages(stream, records, 100, seed=1) == first
    assert bad_messages(stream, records, 100, seed=2) != first
    valid = [(b"4", json.dumps(r).encode()) for r in records]
    assert mix(valid, first, seed=3) == mix(valid, first, seed=3)
    assert mix(valid, first, seed=3) != mix(valid, first, seed=4)


def test_each_message_keeps_its_base_machine_as_key_and_a_unique_identity(
    stream: Stream,
) -> None:
    records = [valid_record(stream, sequence=s, machine=m) for s in range(3) for m in (4, 9)]
    made = bad_messages(stream, records, 60, seed=8)
    assert [m.pass_ for m in made] == list(range(60))
    assert {m.machine for m in made} == {4, 9}
    assert all(m.key == str(m.machine).encode() for m in made)


def test_mix_keeps_both_orders_and_ends_with_a_valid_message(stream: Stream) -> None:
    valid = [(b"4", json.dumps(valid_record(stream, sequence=s)).encode()) for s in range(50)]
    bad = bad_messages(stream, [valid_record(stream)], 30, seed=2)
    mixed = mix(valid, bad, seed=9)
    assert len(mixed) == 80
    assert [m.bad for m in mixed if m.bad is not None] == bad
    assert [(m.key, m.value) for m in mixed if m.bad is None] == valid
    assert mixed[-1].bad is None
    # Really mixed: bad messages are not all at one end.
    positions = [i for i, m in enumerate(mixed) if m.bad is not None]
    assert positions[0] < 25 and positions[-1] > 55


def test_a_fault_changes_only_what_it_names(stream: Stream, messages: list[BadMessage]) -> None:
    checked: Counter[Fault] = Counter()
    for m in messages:
        base = base_of(m, stream)
        fault = m.fault
        if fault is Fault.INVALID_JSON:
            text = m.value.decode()
            with pytest.raises(ValueError):
                json.loads(text)
            assert text and json.dumps(base, separators=(",", ":")).startswith(text)
        elif fault is Fault.NON_UTF8:
            with pytest.raises(UnicodeDecodeError):
                m.value.decode("utf-8")
            shown = json.loads(m.value.decode("utf-8", errors="replace"))
            assert changed_fields(base, shown) == {"CMD"} == {m.field}
            assert shown["CMD"].startswith("sshd\ufffd")
        elif fault is Fault.EMPTY:
            assert m.value == b""
        elif fault is Fault.NULL:
            assert json.loads(m.value) is None
        elif fault is Fault.NESTED_ARRAYS:
            text = m.value.decode()
            depth = len(text) - len(text.lstrip("["))
            assert depth in (2, 3, DEEP_NESTING)
            assert text.endswith("]" * depth) and not text.endswith("]" * (depth + 1))
            assert json.loads(text[depth:-depth]) == base
        elif fault is Fault.DUPLICATE_KEYS:
            pairs = json.loads(m.value, object_pairs_hook=lambda p: p)
            names = [name for name, _ in pairs]
            assert names.count(m.field) == 2 and len(set(names)) == len(names) - 1
            first, last = [value for name, value in pairs if name == m.field]
            with pytest.raises(ParseError):
                parse_value(FIELDS[str(m.field)], first)
            assert last == m.meant and isinstance(last, int | float) and not isinstance(last, bool)
            assert changed_fields(base, dict(pairs)) == {m.field}
        else:
            _check_record_fault(m, base, json.loads(m.value), stream)
        checked[fault] += 1
    assert set(checked) == set(Fault)


def _check_record_fault(
    m: BadMessage, base: dict[str, Any], record: dict[str, Any], stream: Stream
) -> None:
    """Faults inside one otherwise valid JSON object: exactly ``m.field`` differs."""
    assert changed_fields(base, record) == {m.field}
    name = str(m.field)
    value = record.get(name)
    fault = m.fault
    if fault is Fault.MISSING_FIELD:
        assert name not in record and name in required_fields(stream)
        # The Python parser types ts only when present; the detector requires it.
        refused = pytest.raises(ParseError, match="missing column")
        with refused if name != "ts" else contextlib.nullcontext():
            parse_streaming_row(stream, record)
    elif fault is Fault.EXTRA_FIELD:
        assert name not in FIELDS and name not in base
        parse_streaming_row(stream, record)  # an unknown field is no error
    elif fault is Fault.HUGE_NUMBER:
        assert FIELDS[name].kind is Kind.INTEGER and isinstance(value, int)
        assert abs(value) >= 2**53
        with pytest.raises(ParseError, match="out of range"):
            parse_streaming_row(stream, record)
    elif fault is Fault.NEGATIVE_NUMBER:
        assert name in number_fields(stream) and value < 0 and value == m.meant
        assert parse_streaming_row(stream, record)[name] == m.meant
    elif fault is Fault.NAN_INFINITY:
        assert isinstance(value, float) and not math.isfinite(value)
        with pytest.raises(ParseError, match="not a number"):
            parse_streaming_row(stream, record)
    elif fault is Fault.WRONG_TYPE:
        assert name in number_fields(stream)
        assert isinstance(value, bool | str | dict | list)
        with pytest.raises(ParseError, match="not a number"):
            parse_streaming_row(stream, record)
    elif fault is Fault.SIZE_SUFFIX:
        assert re.fullmatch(r"[0-9]+(\.[0-9])?[KMG]", value)
        typed = parse_streaming_row(stream, record)[name]
        assert typed == m.meant and type(typed) is type(m.meant)
    elif fault is Fault.BAD_UNIT:
        assert isinstance(value, str) and not value.replace(".", "").isdigit()
        with pytest.raises(ParseError, match="not a number"):
            parse_streaming_row(stream, record)
    elif fault is Fault.HUGE_CMD:
        assert len(value) == HUGE_CMD_CHARS == len(m.meant) and value == m.meant
        assert parse_streaming_row(stream, record)["CMD"] == m.meant
    else:  # pragma: no cover
        raise AssertionError(f"unchecked fault {fault}")


def test_without_a_valid_record_there_is_nothing_to_fault() -> None:
    with pytest.raises(ValueError, match="at least one valid record"):
        bad_messages("process", [], 3, seed=0)

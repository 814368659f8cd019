"""Which machine each record of a Kafka message belongs to; malformed ones by reason."""

from __future__ import annotations

import json

import pytest

from pipelines.live.messages import (
    BAD_MACHINE,
    EMPTY,
    NO_MACHINE,
    NOT_A_RECORD,
    NOT_JSON,
    TOO_DEEP,
    decode_message,
    normalise_machine,
)


def test_one_object_per_message_uses_its_machine_field() -> None:
    decoded = decode_message(b"4", json.dumps({"machine": 4, "PID": 1}).encode())
    assert decoded.machines == ["4"]
    assert decoded.rejected == []


def test_array_of_records_counts_each_record() -> None:
    value = json.dumps([{"machine": 5}, {"machine": "5"}, {"machine": 6}]).encode()
    decoded = decode_message(None, value)
    assert decoded.machines == ["5", "5", "6"]


def test_key_is_the_fallback_when_a_record_has_no_machine() -> None:
    assert decode_message(b"7", b'{"PID": 3}').machines == ["7"]
    assert decode_message(None, b'{"PID": 3}').rejected == [NO_MACHINE]


@pytest.mark.parametrize(
    "value, reason",
    [
        (b"", EMPTY),
        (None, EMPTY),
        (b"[]", EMPTY),
        (b"not json {", NOT_JSON),
        (b"\xff\xfe", NOT_JSON),
        (b"42", NOT_A_RECORD),
        (b'{"machine": 4.5}', BAD_MACHINE),
        (b'{"machine": true}', BAD_MACHINE),
        (b'{"machine": ""}', BAD_MACHINE),
        # Python's JSON reader recurses per level: thousands of levels raised RecursionError.
        (b"[" * 5000 + b'{"machine": 4}' + b"]" * 5000, TOO_DEEP),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, TOO_DEEP),
    ],
)
def test_malformed_messages_are_reported_by_reason(value: bytes | None, reason: str) -> None:
    decoded = decode_message(b"4", value)
    assert decoded.machines == []
    assert decoded.rejected == [reason]


def test_good_and_bad_records_of_one_array_are_told_apart() -> None:
    decoded = decode_message(b"4", b'[{"machine": 4}, 17, {"machine": [1]}]')
    assert decoded.machines == ["4"]
    assert decoded.rejected == [NOT_A_RECORD, BAD_MACHINE]


@pytest.mark.parametrize(
    "raw, expected",
    [(4, "4"), ("4", "4"), (b"4", "4"), (4.0, "4"), (" 8 ", "8"), ("host-a", "host-a")],
)
def test_machine_ids_are_canonical_text(raw: object, expected: str) -> None:
    assert normalise_machine(raw) == expected

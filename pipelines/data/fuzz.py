"""Malformed Kafka messages for a stream, mixed into valid traffic (issue 14).

Pure module: no I/O. :func:`bad_messages` turns valid records of a stream (JSON-typed
field → value mappings as the producers send them: the layout's fields plus ``ts``,
``run_id``, ``pass``) into messages that are wrong in exactly one named way, a
:class:`Fault`; :func:`mix` interleaves them with valid messages. Both are deterministic
for a seed, so a failing run can be replayed.

Each bad message keeps its base record's machine and sequence but gets ``run_id``
:data:`FUZZ_RUN_ID` and its own ``pass`` (its index), so its identity (run_id,
machine, pass, sequence) is unique even when the detector accepts it. Identity fields
(sequence, machine, run_id, pass) are only ever faulted by :attr:`Fault.MISSING_FIELD`,
and NICE/PRI are left alone (NICE is restored from PRI), so every fault stays the one
the kind names. What the detector and the live counters do with each kind is in
``docs/reliability.md``.
"""

from __future__ import annotations

import enum
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pipelines.schema.columns import PASS, RUN_ID, TEXT, TS, Stream
from pipelines.schema.fields import FIELDS, Kind, record_fields
from pipelines.schema.parse import SUFFIX_EXPONENTS

FUZZ_RUN_ID: Final = "fuzz"
HUGE_CMD_CHARS: Final = 10 * 1024
DEEP_NESTING: Final = 5000
"""Deeper than Jackson's default limit (1000) and Python's recursion limit (1000)."""
NESTING_DEPTHS: Final[tuple[int, ...]] = (2, 3, DEEP_NESTING)
KEPT_FIELDS: Final[frozenset[str]] = frozenset({"sequence", "machine", RUN_ID, PASS, "NICE", "PRI"})
"""Never faulted (but by MISSING_FIELD for the required ones): identity, NICE/PRI."""
EXTRA_FIELD_NAMES: Final[tuple[str, ...]] = ("comment", "PPID", "host_name", "x")
WRONG_TYPE_VALUES: Final[tuple[Any, ...]] = (True, False, "abc", {"x": 1}, [1, 2], "12x")
NON_FINITE_TOKENS: Final[tuple[str, ...]] = ("NaN", "Infinity", "-Infinity")
BAD_UNITS: Final[tuple[str, ...]] = ("132k", "1.3 GB", "12 MiB", "5KB", "0x10")
INVALID_UTF8: Final[tuple[bytes, ...]] = (b"\xff\xfe", b"\xe9", b"\xc3\x28", b"\x80")
"""Never valid UTF-8: 0xFF/0xFE, a Latin-1 é, a lead byte with a bad continuation, a
lone continuation byte."""
_PLACEHOLDER: Final = "@@FUZZ@@"
"""Marks where bytes JSON cannot hold are put into the encoded text."""


class Fault(enum.StrEnum):
    """The ways a bad message is wrong, one per message."""

    INVALID_JSON = "invalid JSON"
    """The record's JSON text cut short (a strict prefix of an object never parses)."""
    NON_UTF8 = "non-UTF-8 bytes"
    """Invalid UTF-8 bytes inside the CMD string."""
    EMPTY = "empty value"
    """A zero-byte value."""
    NULL = "null"
    """The JSON literal ``null``."""
    NESTED_ARRAYS = "nested arrays"
    """The record inside 2, 3 or 5000 levels of arrays."""
    WRONG_TYPE = "wrong type"
    """A number field given a boolean, a word, an object or an array."""
    MISSING_FIELD = "missing field"
    """A required field (layout or ts) left out."""
    EXTRA_FIELD = "extra field"
    """An unknown field added."""
    HUGE_NUMBER = "huge number"
    """An integer field beyond ±2**53 (10**16 … 10**24)."""
    NEGATIVE_NUMBER = "negative number"
    """A number field made negative."""
    NAN_INFINITY = "NaN/Infinity"
    """A number field given the bare tokens NaN, Infinity or -Infinity."""
    SIZE_SUFFIX = "K/M/G string"
    """A number field as atop writes sizes: ``1.5K``, ``42M``, ``0.7G``."""
    BAD_UNIT = "bad unit"
    """A number with a unit atop never writes: ``132k``, ``1.3 GB``, ``0x10``."""
    HUGE_CMD = "10 kB CMD"
    """CMD of 10,240 characters."""
    DUPLICATE_KEYS = "duplicate keys"
    """A number field twice: first a bad value, then a plain number."""


@dataclass(frozen=True)
class BadMessage:
    """One malformed message.

    Attributes:
        fault: what is wrong with it.
        key: the Kafka key (the base record's machine, as the producers key them).
        value: the Kafka value.
        machine: the base record's machine.
        sequence: the base record's sequence.
        pass_: the ``pass`` given to the record (unique per generated message).
        field: the field the fault is in (None for faults of the whole message).
        meant: where a cleaner may accept the fault, the value it must read in
            ``field`` (SIZE_SUFFIX: the number the text stands for; NEGATIVE_NUMBER,
            DUPLICATE_KEYS, HUGE_CMD: the value written, the last one); else None.
    """

    fault: Fault
    key: bytes
    value: bytes
    machine: int
    sequence: int
    pass_: int
    field: str | None = None
    meant: Any = None


@dataclass(frozen=True)
class Message:
    """One message of mixed traffic: ``bad`` is None for a valid one."""

    key: bytes | None
    value: bytes
    bad: BadMessage | None = None


def number_fields(stream: Stream, *, kind: Kind | None = None) -> tuple[str, ...]:
    """The stream's number fields a fault may change (not identity, NICE, PRI or ts)."""
    return tuple(
        f.name
        for f in record_fields(stream)
        if f.kind.numeric
        and f.name not in KEPT_FIELDS
        and f.name != TS
        and (kind is None or f.kind is kind)
    )


def required_fields(stream: Stream) -> tuple[str, ...]:
    """Fields whose absence a consumer must notice: the layout's and ``ts``."""
    return tuple(f.name for f in record_fields(stream) if f.name not in (RUN_ID, PASS))


def _dump(record: Mapping[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _fault_message(
    fault: Fault, stream: Stream, base: Mapping[str, Any], rng: random.Random
) -> tuple[bytes, str | None, Any]:
    """(value, field, meant) of one message with ``fault`` made from ``base``."""
    record = dict(base)
    integers = number_fields(stream, kind=Kind.INTEGER)
    numbers = number_fields(stream)
    if fault is Fault.INVALID_JSON:
        text = _dump(record)
        return text[: rng.randrange(1, len(text))].encode(), None, None
    if fault is Fault.NON_UTF8:
        record[TEXT] = f"{record[TEXT]}{_PLACEHOLDER}"
        head, tail = _dump(record).encode().split(_PLACEHOLDER.encode())
        return head + rng.choice(INVALID_UTF8) + tail, TEXT, None
    if fault is Fault.EMPTY:
        return b"", None, None
    if fault is Fault.NULL:
        return b"null", None, None
    if fault is Fault.NESTED_ARRAYS:
        depth = rng.choice(NESTING_DEPTHS)
        return ("[" * depth + _dump(record) + "]" * depth).encode(), None, None
    if fault is Fault.WRONG_TYPE:
        name = rng.choice(numbers)
        record[name] = rng.choice(WRONG_TYPE_VALUES)
        return _dump(record).encode(), name, None
    if fault is Fault.MISSING_FIELD:
        name = rng.choice(required_fields(stream))
        del record[name]
        return _dump(record).encode(), name, None
    if fault is Fault.EXTRA_FIELD:
        name = rng.choice(EXTRA_FIELD_NAMES)
        record[name] = rng.choice(("added by another producer", 7, None, [1], {"a": "b"}))
        return _dump(record).encode(), name, None
    if fault is Fault.HUGE_NUMBER:
        name = rng.choice(integers)
        record[name] = rng.choice((1, -1)) * (10 ** rng.randrange(16, 25) + rng.randrange(1000))
        return _dump(record).encode(), name, None
    if fault is Fault.NEGATIVE_NUMBER:
        name = rng.choice(numbers)
        value = record.get(name)
        magnitude = abs(value) if isinstance(value, int | float) and value else 1
        negative = -magnitude if FIELDS[name].kind is Kind.INTEGER else -float(magnitude)
        record[name] = negative
        return _dump(record).encode(), name, negative
    if fault is Fault.NAN_INFINITY:
        name = rng.choice(numbers)
        record[name] = _PLACEHOLDER
        text = _dump(record).replace(json.dumps(_PLACEHOLDER), rng.choice(NON_FINITE_TOKENS))
        return text.encode(), name, None
    if fault is Fault.SIZE_SUFFIX:
        name = rng.choice(numbers)
        letter = rng.choice(sorted(SUFFIX_EXPONENTS))
        tenths = rng.randrange(1, 10_000)  # 0.1 … 999.9 units
        record[name] = f"{tenths / 10:g}{letter}"
        meant: int | float = tenths * 10 ** (SUFFIX_EXPONENTS[letter] - 1)
        if FIELDS[name].kind is Kind.FLOAT:
            meant = float(meant)
        return _dump(record).encode(), name, meant
    if fault is Fault.BAD_UNIT:
        name = rng.choice(numbers)
        record[name] = rng.choice(BAD_UNITS)
        return _dump(record).encode(), name, None
    if fault is Fault.HUGE_CMD:
        stem = f"{record[TEXT]} "
        cmd = (stem * (HUGE_CMD_CHARS // len(stem) + 1))[:HUGE_CMD_CHARS]
        record[TEXT] = cmd
        return _dump(record).encode(), TEXT, cmd
    if fault is Fault.DUPLICATE_KEYS:
        name = rng.choice(numbers)
        whole = rng.randrange(1000)
        record[name] = whole if FIELDS[name].kind is Kind.INTEGER else float(whole)
        first = json.dumps({name: rng.choice(("abc", "-1x", True))}, separators=(",", ":"))
        # The bad value first, the record's own last: a reader keeping the last wins.
        return (first[:-1] + "," + _dump(record)[1:]).encode(), name, record[name]
    raise AssertionError(f"unhandled fault {fault}")  # pragma: no cover


def bad_messages(
    stream: Stream,
    records: Sequence[Mapping[str, Any]],
    count: int,
    *,
    seed: int,
    faults: Sequence[Fault] = tuple(Fault),
) -> list[BadMessage]:
    """``count`` malformed messages made from ``records``, the faults taken in turn.

    Args:
        stream: ``"process"`` or ``"memory"`` (which fields exist).
        records: valid records of the stream, JSON-typed (every layout field, ``ts``;
            ``run_id`` and ``pass`` are replaced).
        count: messages to make; every fault appears once ``count >= len(faults)``.
        seed: the random draws (base record, field, variant) are repeatable per seed.
        faults: the kinds to make, in turn.

    Returns:
        The messages in generation order; message *i* has ``pass`` *i*.
    """
    if not records:
        raise ValueError("bad_messages needs at least one valid record to start from")
    rng = random.Random(seed)
    messages: list[BadMessage] = []
    for index in range(count):
        fault = faults[index % len(faults)]
        base = {**rng.choice(records), RUN_ID: FUZZ_RUN_ID, PASS: index}
        value, name, meant = _fault_message(fault, stream, base, rng)
        messages.append(
            BadMessage(
                fault=fault,
                key=str(base["machine"]).encode(),
                value=value,
                machine=int(base["machine"]),
                sequence=int(base["sequence"]),
                pass_=index,
                field=name,
                meant=meant,
            )
        )
    return messages


def mix(
    valid: Sequence[tuple[bytes | None, bytes]], bad: Sequence[BadMessage], *, seed: int
) -> list[Message]:
    """Interleave valid ``(key, value)`` messages and bad ones, each keeping its order.

    The positions of the bad messages are drawn uniformly (repeatably per ``seed``)
    among ``len(valid) + len(bad)``; the last message is always a valid one when there
    is any, so a consumer that survived every bad message shows it by counting it.
    """
    total = len(valid) + len(bad)
    slots = range(total - 1) if valid else range(total)
    bad_at = set(random.Random(seed).sample(slots, len(bad)))
    good = iter(valid)
    faulty = iter(bad)
    mixed: list[Message] = []
    for position in range(total):
        if position in bad_at:
            message = next(faulty)
            mixed.append(Message(message.key, message.value, message))
        else:
            key, value = next(good)
            mixed.append(Message(key, value))
    return mixed


__all__ = [
    "FUZZ_RUN_ID",
    "BadMessage",
    "Fault",
    "Message",
    "bad_messages",
    "mix",
    "number_fields",
    "required_fields",
]

"""What the live counters need from a Kafka message: the machine of each record.

Pure module. A message value is one JSON object per record, or one JSON array of such
objects (SPEC §5.2: the layout most existing producers of this feed use); the key is the
machine id as text (or absent). Anything else is malformed: counted under a reason from
a fixed vocabulary (so the counter of reasons stays small), never raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MACHINE_FIELD = "machine"
MAX_MACHINE_ID_CHARS = 64
"""Longer ids are not machine ids: rejected rather than tracked."""

# The reasons a record is counted as malformed (keys of TrailingCounts.malformed).
EMPTY = "empty message"
NOT_JSON = "not JSON"
NOT_A_RECORD = "not a JSON object"
NO_MACHINE = "no machine id"
BAD_MACHINE = "bad machine id"
TOO_DEEP = "nested too deeply"
"""Valid JSON perhaps, but deeper than Python's parser goes (about 1,000 levels)."""
UNDECODABLE = "could not be decoded"
"""A message the decoder failed on unexpectedly (logged with its Kafka place)."""


@dataclass(frozen=True)
class Arrival:
    """One Kafka message as it reached the consumer.

    Attributes:
        at: arrival (processing) time, unix seconds.
        key: the message key (machine id as text) or None.
        value: the message value (JSON) or None.
        topic, partition, offset: where the message was read (None when not from Kafka);
            named in the log when a message cannot be decoded.
    """

    at: float
    key: bytes | None
    value: bytes | None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


@dataclass
class Decoded:
    """The machines of a message's records and the reasons of its malformed ones."""

    machines: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def normalise_machine(value: Any) -> str | None:
    """A machine id as canonical text (``4``, ``"4"``, ``b"4"``, ``4.0`` → ``"4"``).

    Returns:
        The id, or None when ``value`` is not a usable id (empty, too long, a bool,
        a fractional number, a container).
    """
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > MAX_MACHINE_ID_CHARS:
            return None
        try:
            number = float(text)
        except ValueError:
            return text
        return str(int(number)) if number.is_integer() else None
    return None


def decode_message(key: bytes | None, value: bytes | None) -> Decoded:
    """The machine of every record of one message.

    Each record's own ``machine`` field wins; the message key is the fallback (a record
    without the field still belongs to the keyed machine).

    Args:
        key: the Kafka key (machine id as text) or None.
        value: the Kafka value: a JSON object or a JSON array of objects.
    """
    decoded = Decoded()
    if not value:
        decoded.rejected.append(EMPTY)
        return decoded
    try:
        payload = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        decoded.rejected.append(NOT_JSON)
        return decoded
    except RecursionError:
        # json.loads recurses once per nesting level: "[[[[…" thousands deep.
        decoded.rejected.append(TOO_DEEP)
        return decoded
    records = payload if isinstance(payload, list) else [payload]
    if not records:
        decoded.rejected.append(EMPTY)
    keyed = normalise_machine(key) if key is not None else None
    for record in records:
        if not isinstance(record, dict):
            decoded.rejected.append(NOT_A_RECORD)
            continue
        if MACHINE_FIELD in record and record[MACHINE_FIELD] is not None:
            machine = normalise_machine(record[MACHINE_FIELD])
            if machine is None:
                decoded.rejected.append(BAD_MACHINE)
                continue
        elif keyed is not None:
            machine = keyed
        else:
            decoded.rejected.append(NO_MACHINE)
            continue
        decoded.machines.append(machine)
    return decoded

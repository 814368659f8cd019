"""One Kafka record of a producer (SPEC §3): key = machine id, value = one JSON object
(or, in the array layout, a JSON array of a machine's rows of one cycle)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pipelines.replay.rows import Row
from pipelines.schema.columns import PASS, RUN_ID, TS

MessageLayout = Literal["record", "array"]
MESSAGE_LAYOUTS: tuple[MessageLayout, ...] = ("record", "array")
"""One JSON object per message, or one JSON array of a machine's rows per cycle (the
layout that lets one producer offer a fleet's load; the detector and the live
consumers read both)."""


def encode_key(machine: int) -> bytes:
    """The Kafka key of a machine's records: its id as decimal text."""
    return str(machine).encode()


def encode_tail(*, ts: float, run_id: str, pass_: int) -> str:
    """The producer's own fields, closing the JSON object a row's body opened.

    Shared by every record of one cycle and pass, so a sender can reuse it.
    """
    return f',"{TS}":{json.dumps(ts)},"{RUN_ID}":{json.dumps(run_id)},"{PASS}":{pass_}}}'


def encode_value(row: Row, *, ts: float, run_id: str, pass_: int) -> bytes:
    """The record's JSON: every CSV column, then ``ts``, ``run_id`` and ``pass``.

    Args:
        row: the CSV record (its JSON body is encoded once at load time).
        ts: event time, UTC unix seconds (one value per cycle).
        run_id: the producer run's id.
        pass_: how many times this machine's rows have wrapped around, from 0.
    """
    return (row.body + encode_tail(ts=ts, run_id=run_id, pass_=pass_)).encode()


def decode_value(value: bytes) -> dict[str, Any]:
    """The record's JSON object (tests and consumers that want plain dicts)."""
    decoded: dict[str, Any] = json.loads(value)
    return decoded

"""Producer test helpers: reading a topic back.

The CSV writer shared with the unit tests lives in ``tests/support/replay.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from pipelines import kafka_io
from pipelines.config import KafkaSettings


def read_topic(
    kafka: KafkaSettings, topic: str, count: int, timeout_s: float = 60.0, settle_s: float = 1.0
) -> list[tuple[bytes, dict[str, Any]]]:
    """Read a single-partition topic from the start, in offset order.

    Waits until ``count`` records arrived (polling the broker, no fixed sleep), then
    ``settle_s`` longer so that any duplicate would show up too.
    """
    consumer = KafkaConsumer(**kafka_io.client_config(kafka, enable_auto_commit=False))
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        records: list[tuple[bytes, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout_s
        settled_at: float | None = None
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=250).values():
                records.extend((r.key, json.loads(r.value)) for r in batch)
            if len(records) >= count:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= settle_s:
                    break
        return records
    finally:
        consumer.close()


@pytest.fixture
def consume(kafka: KafkaSettings) -> Callable[..., list[tuple[bytes, dict[str, Any]]]]:
    """``consume(topic, count)``: the session broker's topic, as (key, value) pairs."""
    return lambda topic, count, **kw: read_topic(kafka, topic, count, **kw)


@pytest.fixture
def consume_from() -> Callable[..., list[tuple[bytes, dict[str, Any]]]]:
    """``consume_from(kafka_settings, topic, count)``: any broker's topic."""
    return read_topic

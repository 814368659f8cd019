"""The consumer thread's bookkeeping, with plain values (no broker is contacted)."""

from __future__ import annotations

import queue
from collections import namedtuple

from kafka import TopicPartition

from pipelines.config import KafkaSettings
from pipelines.live.kafka_source import KafkaSource, fresh_group_id
from pipelines.live.messages import Arrival

Record = namedtuple("Record", "offset key value")
TP = TopicPartition("stophacking.process.v1", 0)


def source(max_messages: int | None = None) -> KafkaSource:
    out: queue.Queue[list[Arrival]] = queue.Queue()
    return KafkaSource(KafkaSettings(), TP.topic, out, max_messages=max_messages)


def test_records_already_handed_out_are_skipped_after_a_new_consumer() -> None:
    src = source()
    src._positions[TP] = 5  # a previous consumer handed out offsets 0..4
    batch = src._batch({TP: [Record(o, b"4", b"{}") for o in range(3, 8)]}, at=10.0)
    assert [a.at for a in batch] == [10.0] * 3
    assert src._positions[TP] == 8


def test_max_messages_cuts_the_batch() -> None:
    src = source(max_messages=2)
    batch = src._batch({TP: [Record(o, b"4", b"{}") for o in range(5)]}, at=1.0)
    assert len(batch) == 2
    assert src._positions[TP] == 2


def test_each_source_gets_its_own_consumer_group() -> None:
    assert fresh_group_id("t") != fresh_group_id("t")
    assert source().group_id.startswith("stophacking-live-stophacking.process.v1-")


def test_status_observers_hear_state_changes_not_message_counts() -> None:
    heard = []
    src = source()
    src.on_status = heard.append
    src._set_status(messages=10)
    src._set_status(messages=20)
    assert heard == []
    src._set_status(connected=True, message="up")
    assert [s.connected for s in heard] == [True]
    assert heard[0].messages == 20

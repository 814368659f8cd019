"""The consumer thread's bookkeeping, with plain values (no broker is contacted)."""

from __future__ import annotations

import queue
from collections import namedtuple

import pytest
from kafka import TopicPartition

from pipelines.config import KafkaSettings
from pipelines.live import kafka_source
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


class _NeverAssigned:
    """A consumer that polls fine but never gets a partition (as after a topic race)."""

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[Record]]:
        return {}

    def assignment(self) -> set[TopicPartition]:
        return set()

    def close(self, timeout_ms: int) -> None:
        pass


@pytest.mark.parametrize("given_group", [None, "ops-live"])
def test_an_unassigned_consumer_is_replaced_in_a_fresh_group_unless_one_was_given(
    monkeypatch: pytest.MonkeyPatch, given_group: str | None
) -> None:
    monkeypatch.setattr(kafka_source, "ASSIGNMENT_TIMEOUT_S", 0.05)
    out: queue.Queue[list[Arrival]] = queue.Queue()
    src = KafkaSource(
        KafkaSettings(), TP.topic, out, group_id=given_group, poll_timeout_s=0.01,
        probe_idle_s=60.0,
    )  # fmt: skip
    groups: list[str] = []

    def make_consumer() -> _NeverAssigned:
        groups.append(src.group_id)
        if len(groups) == 3:
            src._stop.set()
        return _NeverAssigned()

    monkeypatch.setattr(src, "_make_consumer", make_consumer)
    src._run()
    assert len(groups) == 3
    if given_group is None:
        assert len(set(groups)) == 3  # each replacement joins an empty group
        assert all(group.startswith(f"stophacking-live-{TP.topic}-") for group in groups)
    else:
        assert groups == [given_group] * 3  # committed offsets of a named group matter

"""The agent's outbox: bounded while Kafka is away, exact about what it lost."""

from __future__ import annotations

import pytest

from pipelines.agent.outbox import Interval, Message, Outbox


def interval(index: int, *records: int) -> Interval:
    return Interval(
        index=index,
        messages=[Message(topic="t", key=b"1", value=b"[]", records=n) for n in records],
    )


def test_intervals_wait_until_every_message_is_acknowledged() -> None:
    outbox = Outbox(max_intervals=3)
    first = interval(1, 10, 12)
    outbox.add(first)
    handed = outbox.take_queued()
    assert [m.records for _i, m in handed] == [10, 12]
    assert outbox.take_queued() == []  # in flight: not handed twice
    outbox.acknowledged(first, first.messages[0])
    assert len(outbox) == 1 and outbox.waiting_records == 12
    outbox.acknowledged(first, first.messages[1])
    assert len(outbox) == 0 and outbox.counts.acked == 22


def test_a_failed_message_is_handed_again() -> None:
    outbox = Outbox(max_intervals=3)
    only = interval(1, 5)
    outbox.add(only)
    ((_, message),) = outbox.take_queued()
    outbox.failed(only, message)
    assert outbox.counts.retried == 5
    assert [m for _i, m in outbox.take_queued()] == [message]


def test_the_oldest_intervals_are_dropped_and_counted_when_kafka_stays_away() -> None:
    outbox = Outbox(max_intervals=2)
    first, second, third = interval(1, 10), interval(2, 20), interval(3, 30)
    outbox.add(first)
    ((_, in_flight),) = outbox.take_queued()  # handed to the client, never acknowledged
    outbox.add(second)
    outbox.add(third)  # one too many: the first goes
    assert [i.index for i in outbox.intervals()] == [2, 3]
    assert outbox.counts.dropped == 0  # its message is with the client: not lost yet
    outbox.failed(first, in_flight)  # the client gives up on it
    assert outbox.counts.dropped == 10 and outbox.counts.retried == 0
    fourth = interval(4, 40)
    outbox.add(fourth)  # the second was only queued: dropped at once
    assert outbox.counts.dropped == 30 and outbox.counts.dropped_intervals == 2
    assert outbox.waiting_records == 70


def test_an_outbox_holds_at_least_one_interval() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Outbox(max_intervals=0)

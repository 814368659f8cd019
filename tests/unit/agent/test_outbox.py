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


class _BrokerGoneAfter:
    """Stands in for the Kafka client: takes ``n`` sends, then raises as kafka-python
    does when the topic's metadata cannot be had (the broker went away)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def send(self, topic: str, key: bytes, value: bytes):  # type: ignore[no-untyped-def]
        from kafka.errors import KafkaTimeoutError

        if self.left == 0:
            raise KafkaTimeoutError("Failed to update metadata")
        self.left -= 1
        return _Future()


class _Future:
    def add_callback(self, *args: object) -> None:
        pass

    def add_errback(self, *args: object) -> None:
        pass


def test_messages_the_client_refused_go_back_to_the_queue_all_of_them() -> None:
    from pipelines.agent.kafka_publisher import Publisher
    from pipelines.config import load_settings

    outbox = Outbox(max_intervals=3)
    outbox.add(interval(1, 10, 20, 30))
    publisher = Publisher(load_settings(), outbox)
    publisher._producer = _BrokerGoneAfter(1)  # type: ignore[assignment]
    publisher.deliver()
    assert [m.state for i in outbox.intervals() for m in i.messages] == [
        "in_flight", "queued", "queued",
    ]  # fmt: skip
    assert publisher.last_error and "metadata" in publisher.last_error
    assert [m.records for _i, m in outbox.take_queued()] == [20, 30]  # handed again later

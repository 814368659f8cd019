"""A broker that goes away is reported by the live pipeline, which recovers when it returns.

This test is about restarting a broker, so it starts its own embedded broker on free
ports (storage kept across stop/start) instead of the session's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from kafka import KafkaProducer

from pipelines import kafka_io
from pipelines.broker import EmbeddedBroker
from pipelines.config import Settings
from pipelines.live.pipeline import LiveCounts


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


def send(settings: Settings, topic: str, machine: int, n: int) -> None:
    producer = KafkaProducer(**kafka_io.client_config(settings.kafka, acks="all"))
    try:
        for _ in range(n):
            producer.send(
                topic, key=str(machine).encode(), value=json.dumps({"machine": machine}).encode()
            )
        producer.flush()
    finally:
        producer.close()


def test_broker_down_is_reported_and_the_pipeline_recovers(
    own_broker: tuple[Settings, EmbeddedBroker],
) -> None:
    settings, broker = own_broker
    topic = "test.live.outage"
    kafka_io.ensure_topics(settings.kafka, [topic])
    live = LiveCounts(settings, "process", topic=topic, window_s=300, sample_s=1)
    states: list[str] = []
    live.subscribe(lambda status: states.append(status.state))
    live.start(duration_s=240)
    try:
        assert live.wait_ready(60), live.status().message
        assert live.status().state == "waiting"
        send(settings, topic, 4, 3)
        wait_until(lambda: live.status().accepted == 3, 30, "the first records")
        assert live.status().state == "live"

        broker.stop()
        wait_until(lambda: live.status().state == "broker down", 30, "the outage report")
        message = live.status().message
        assert "not reachable" in message and settings.kafka.bootstrap_servers in message

        broker.start()
        wait_until(lambda: live.status().state != "broker down", 60, "the reconnection")
        send(settings, topic, 4, 2)
        wait_until(lambda: live.status().accepted == 5, 60, "records after the restart")
        assert live.snapshot() == {"4": 5}
        assert live.status().state == "live"
    finally:
        live.stop()
    assert "broker down" in states
    assert states.index("broker down") < len(states) - 1

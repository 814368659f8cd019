"""The embedded broker: CLI start/status/stop, data kept across a restart, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipelines import kafka_io
from pipelines.broker import EmbeddedBroker, broker_for_run
from pipelines.config import Settings
from pipelines.errors import BrokerStartError


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "STOPHACKING_HOME": str(settings.home),
        "STOPHACKING_JARS_CACHE": str(settings.jars_dir),
        "STOPHACKING_BROKER__PORT": str(settings.broker.port),
        "STOPHACKING_BROKER__CONTROLLER_PORT": str(settings.broker.controller_port),
        "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
    }
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def _jvm_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return "kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")


def test_cli_start_status_stop_leaves_no_jvm(own_broker_settings: Settings) -> None:
    started = _cli(own_broker_settings, "broker", "start")
    assert started.returncode == 0, started.stderr
    assert f"ready at {own_broker_settings.kafka.bootstrap_servers}" in started.stdout

    kafka_io.ensure_topics(own_broker_settings.kafka, ["cli.status.topic"])
    status = _cli(own_broker_settings, "broker", "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["reachable"] is True
    assert "cli.status.topic" in report["topics"]
    pid = report["embedded_pid"]
    assert isinstance(pid, int) and _jvm_alive(pid)

    stopped = _cli(own_broker_settings, "broker", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not _jvm_alive(pid), "the broker JVM is still running after stop"

    down = _cli(own_broker_settings, "broker", "status")
    assert down.returncode == 1
    assert "no Kafka broker answers" in down.stdout


def test_restart_keeps_earlier_messages(own_broker_settings: Settings) -> None:
    topic = f"restart.{uuid.uuid4().hex[:8]}"
    broker = EmbeddedBroker(own_broker_settings)
    broker.start()
    try:
        kafka_io.ensure_topics(own_broker_settings.kafka, [topic])
        producer = KafkaProducer(**kafka_io.client_config(own_broker_settings.kafka, acks="all"))
        for i in range(100):
            producer.send(topic, json.dumps({"i": i}).encode())
        producer.flush()
        producer.close()
        assert broker.stop()
        assert not kafka_io.is_reachable(own_broker_settings.kafka, timeout_s=1.0)
        broker.start()

        consumer = KafkaConsumer(
            **kafka_io.client_config(own_broker_settings.kafka, enable_auto_commit=False)
        )
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        seen: list[int] = []
        while len(seen) < 100:
            batch = consumer.poll(timeout_ms=5000)
            if not batch:
                break
            seen.extend(json.loads(r.value)["i"] for rs in batch.values() for r in rs)
        consumer.close()
        assert seen == list(range(100))
    finally:
        broker.stop()


def test_port_taken_by_another_program_is_a_one_line_error(
    own_broker_settings: Settings,
) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", own_broker_settings.broker.port))
        squatter.listen(1)
        with pytest.raises(BrokerStartError, match="already in use"):
            EmbeddedBroker(own_broker_settings).start()
        result = _cli(own_broker_settings, "broker", "start")
    assert result.returncode == 2
    assert result.stderr.startswith("stophacking: error: port 127.0.0.1:")
    assert "Traceback" not in result.stderr


def test_a_run_starts_the_embedded_broker_for_itself_only(own_broker_settings: Settings) -> None:
    assert not kafka_io.is_reachable(own_broker_settings.kafka)
    with broker_for_run(own_broker_settings) as choice:
        assert choice.started_now
        assert kafka_io.is_reachable(own_broker_settings.kafka)
    assert not kafka_io.is_reachable(own_broker_settings.kafka), "the bench left its broker up"

    # A broker that already answers is used as it is, and left running.
    broker = EmbeddedBroker(own_broker_settings)
    broker.start()
    try:
        with broker_for_run(own_broker_settings) as choice:
            assert not choice.started_now
        assert kafka_io.is_reachable(own_broker_settings.kafka)
    finally:
        broker.stop()

"""Security end to end: every part of the product over a SASL_SSL embedded broker.

One private broker on loopback serves TLS + SCRAM only (certificate made with keytool
in this test's folder, one SCRAM user). Over it, configured only through ``STOPHACKING_*``
settings: both producers (``stophacking produce`` children), a live consumer, the
detector (``stophacking detect``: Spark's Kafka source and sink) and the workbench's
Broker view. A client without credentials, and one with a wrong password, are refused
with an error that says so. The user's password, unique to this run, is looked for in
every log, error message, health record, settings record and page text, and must be in
none of them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

import pyarrow.parquet as pq
import pytest
from bokeh.document import Document
from kafka import KafkaConsumer
from pyviz_comms import Comm

from pipelines import kafka_io
from pipelines.broker import EmbeddedBroker
from pipelines.broker.security import tls_dir
from pipelines.config import PROJECT_ROOT, KafkaSettings, Settings, replace
from pipelines.detector.layout import SCORED_DIR, SUCCESS_MARKER
from pipelines.detector.preflight import SETTINGS_FILE
from pipelines.errors import BrokerRefused
from pipelines.live.kafka_source import KafkaSource
from pipelines.live.messages import Arrival
from pipelines.schema.columns import STREAMS
from tests.integration.conftest import private_broker_settings
from tests.support.detector import wait_until
from tests.support.replay import write_streaming_csv
from workbench.feeds.broker import BrokerFeed
from workbench.tabs.broker import broker_tab

USER = "stophacking-app"
PASSWORD = f"Tr0ub4dor-{uuid.uuid4().hex}"
"""Unique to this run: wherever it is found, it leaked."""
ROWS_PER_MACHINE = {4: 12, 5: 12}
DETECTOR_TIMEOUT_S = 360.0
"""A fresh JVM, model loading and the first batches on a loaded 2-core machine."""
ROLES = ("process", "memory", "window_counts", "alerts", "health")


@dataclass(frozen=True)
class Secured:
    """The SASL_SSL broker and how a client of the product reaches it."""

    broker: EmbeddedBroker
    kafka: KafkaSettings
    """The clients' settings: bootstrap servers and the SASL_SSL keys in ``extra``."""
    settings: Settings
    topics: dict[str, str]
    env: dict[str, str]
    """A child's environment: the same settings as ``STOPHACKING_*`` variables only."""
    home: Path


@pytest.fixture(scope="module")
def secured(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    home = tmp_path_factory.mktemp("sasl-ssl")
    broker_settings = replace(
        private_broker_settings(settings, home / "broker-home"),
        {"broker.security.protocol": "SASL_SSL", "broker.security.users": {USER: PASSWORD}},
    )
    broker = EmbeddedBroker(broker_settings)
    broker.start()
    try:
        extra = {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": USER,
            "sasl_plain_password": PASSWORD,
            "ssl_cafile": str(tls_dir(broker_settings) / "ca.pem"),
        }
        client_settings = replace(broker_settings, {"kafka.extra": extra})
        suffix = uuid.uuid4().hex[:8]
        topics = {name: f"test.sasl.{name}.{suffix}" for name in ROLES}
        topics |= {f"{s}_attacks": f"test.sasl.{s}-attacks.{suffix}" for s in STREAMS}
        kafka_io.ensure_topics(client_settings.kafka, topics.values())
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOPHACKING_")}
        env |= {
            "STOPHACKING_JARS_CACHE": str(settings.jars_dir),
            "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "STOPHACKING_SPARK__DRIVER_MEMORY": "1g",
            **{f"STOPHACKING_KAFKA__EXTRA__{key.upper()}": str(v) for key, v in extra.items()},
            **{f"STOPHACKING_KAFKA__TOPICS__{name.upper()}": topics[name] for name in ROLES},
            **{
                f"STOPHACKING_DETECTOR__ATTACK_TOPICS__{s.upper()}": topics[f"{s}_attacks"]
                for s in STREAMS
            },
        }
        yield Secured(broker, client_settings.kafka, client_settings, topics, env, home)
    finally:
        broker.stop()


def _leaks(texts: dict[str, str]) -> list[str]:
    return [where for where, text in texts.items() if PASSWORD in text]


def test_the_broker_listens_on_loopback_with_sasl_ssl_only(secured: Secured) -> None:
    properties = (secured.broker.dir / "server.properties").read_text()
    listeners = next(x for x in properties.splitlines() if x.startswith("listeners="))
    port, controller = secured.settings.broker.port, secured.settings.broker.controller_port
    assert listeners == f"listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}"
    assert "CONTROLLER:SSL,SASL_SSL:SASL_SSL" in properties
    assert PASSWORD not in properties, "users reach the storage as salted passwords only"
    assert not secured.settings.workbench.allow_remote


def test_clients_without_credentials_or_with_a_wrong_password_are_refused(
    secured: Secured,
) -> None:
    plain = secured.kafka.model_copy(update={"extra": {}})
    wrong = secured.kafka.model_copy(
        update={"extra": {**secured.kafka.extra, "sasl_plain_password": "not-" + PASSWORD}}
    )
    messages = []
    for kafka in (plain, wrong):
        with pytest.raises(BrokerRefused) as refused:
            kafka_io.list_topics(kafka, timeout_s=4.0)
        messages.append(str(refused.value))
    for message in messages:
        assert f"Kafka at {secured.broker.bootstrap_servers} did not let this client in" in message
        assert "sasl_plain_password" in message and "\n" not in message
    assert not _leaks(dict(enumerate(messages)))  # type: ignore[arg-type]
    assert secured.topics["process"] in kafka_io.list_topics(secured.kafka)
    log = secured.broker.log_file.read_text()
    assert "Failed authentication" in log, "the broker's log says who was refused"


def test_producers_live_consumer_detector_and_broker_view_run_over_sasl_ssl(
    secured: Secured, shared_dir: Path, tmp_path: Path
) -> None:
    files = {s: write_streaming_csv(tmp_path, s, ROWS_PER_MACHINE) for s in STREAMS}
    arrivals: Queue[list[Arrival]] = Queue()
    live = KafkaSource(secured.kafka, secured.topics["process"], arrivals, from_beginning=True)
    live.start()
    logs = tmp_path / "logs"
    logs.mkdir()
    producers = [
        subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "--home", str(tmp_path / "producer"),
             "produce", s, "--file", str(files[s]), "--cycles", "1", "--max-rate"],
            stdout=(logs / f"produce-{s}.out").open("w"),
            stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=secured.env,
        )
        for s in STREAMS
    ]  # fmt: skip
    models = shared_dir / "models" / "provided"
    detector_home, checkpoints = tmp_path / "detector", tmp_path / "checkpoints"
    detector = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "--home", str(detector_home), "detect",
         "--trigger", "1", "--no-ground-truth", "--checkpoint-dir", str(checkpoints),
         "--process-model", str(models / "process_pipeline_model"),
         "--memory-model", str(models / "memory_pipeline_model")],
        stdout=(logs / "detect.out").open("w"),
        stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=secured.env,
    )  # fmt: skip
    try:
        for producer in producers:
            assert producer.wait(timeout=120) == 0, (logs / "produce-process.out").read_text()
        sent = kafka_io.end_offsets(secured.kafka, [secured.topics[s] for s in STREAMS])
        assert all(sent.values()), sent

        received: list[Arrival] = []

        def live_caught_up() -> bool:
            while not arrivals.empty():
                received.extend(arrivals.get())
            return len(received) >= sent[secured.topics["process"]]

        wait_until(live_caught_up, 60, "the live consumer reads every process message")

        feed = BrokerFeed(secured.settings)
        feed.check()
        assert feed.reachable and set(secured.topics.values()) <= set(feed.topics)
        document = Document()
        document.add_root(broker_tab(feed).get_root(document, Comm()))
        page = json.dumps(document.to_json(), default=str)  # every text the page holds
        assert secured.topics["process"] in page

        scored = {s: detector_home / "detector" / SCORED_DIR[s] for s in STREAMS}

        def scored_rows() -> int:
            if detector.poll() is not None:
                raise AssertionError((logs / "detect.out").read_text()[-3000:])
            return min(_parquet_rows(scored[s]) for s in STREAMS)

        wait_until(lambda: scored_rows() > 0, DETECTOR_TIMEOUT_S, "scored rows of both streams")
        health = _topic_values(secured.kafka, secured.topics["health"])
        detector.send_signal(signal.SIGINT)
        assert detector.wait(timeout=120) == 0, (logs / "detect.out").read_text()[-3000:]
    finally:
        live.stop()
        for child in (*producers, detector):
            if child.poll() is None:
                child.kill()
                child.wait()
    assert health, "the detector published health records"
    texts = {
        "live consumer status": live.status.message,
        "broker feed message": feed.message,
        "broker page": page,
        "health records": "\n".join(health),
        "broker log": secured.broker.log_file.read_text(),
        "detector settings record": (checkpoints / SETTINGS_FILE).read_text(),
        **{path.name: path.read_text() for path in logs.iterdir()},
        **{f"detector {p.name}": p.read_text(errors="replace") for p in _log_files(detector_home)},
    }
    assert _log_files(detector_home), "Spark's log of the detector is among the texts searched"
    assert not _leaks(texts), f"the password is in: {_leaks(texts)}"


def _parquet_rows(folder: Path) -> int:
    """Rows of the batches the detector finished writing (``batch=N/_SUCCESS``)."""
    done = [b for b in folder.glob("batch=*") if (b / SUCCESS_MARKER).is_file()]
    return sum(pq.read_table(b).num_rows for b in done)


def _log_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "logs").rglob("*") if p.is_file())


def _topic_values(kafka: KafkaSettings, topic: str) -> list[str]:
    """Every message value of a one-partition topic, as text (read to its end offset)."""
    end = kafka_io.topic_end_offsets(kafka, topic)[0]
    deadline = time.monotonic() + 60
    while end == 0 and time.monotonic() < deadline:
        time.sleep(1.0)
        end = kafka_io.topic_end_offsets(kafka, topic)[0]
    consumer = KafkaConsumer(
        topic,
        **kafka_io.client_config(kafka, auto_offset_reset="earliest", enable_auto_commit=False),
        consumer_timeout_ms=20_000,
    )
    values: list[str] = []
    try:
        for message in consumer:
            values.append(message.value.decode(errors="replace"))
            if message.offset >= end - 1:
                break
    finally:
        consumer.close()
    return values

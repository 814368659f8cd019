"""An embedded single-node Apache Kafka broker (KRaft combined mode) run as a child JVM.

Jars come from Maven Central (resolved once into ``<home>/jars/kafka-<version>``).
Storage is formatted on the first start and kept across restarts, so a restart loses
no data. Readiness is decided by asking the broker, never by sleeping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines import kafka_io
from pipelines.broker import security
from pipelines.config import KafkaSettings, Settings, replace
from pipelines.errors import BrokerStartError, BrokerUnavailable, MissingToolError
from pipelines.maven import Artifact, resolve_jars

LOG4J_VERSION = "2.24.3"
SLF4J_VERSION = "2.0.17"
LOG_TAIL_LINES = 12


def broker_artifacts(kafka_version: str) -> list[Artifact]:
    """The broker and a log4j2 binding so that it logs (Kafka 4 ships none by default)."""
    return [
        Artifact("org.apache.kafka", "kafka_2.13", kafka_version),
        Artifact("org.slf4j", "slf4j-api", SLF4J_VERSION),
        Artifact("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J_VERSION),
        Artifact("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
    ]


def resolve_broker_jars(settings: Settings) -> list[Path]:
    """Fetch (once) and return the embedded broker's classpath."""
    version = settings.broker.kafka_version
    return resolve_jars(settings.jars_dir / f"kafka-{version}", broker_artifacts(version))


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); look at its state where /proc exists.
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    return True


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap_servers: str
    topics: list[str]
    data_dir: Path
    log_file: Path


class EmbeddedBroker:
    """Start, stop and inspect the embedded broker.

    ``with EmbeddedBroker(settings) as broker:`` starts it (unless one of ours already
    runs) and stops it on exit if this object started it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.broker_dir
        self._process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None
        self._tls: security.BrokerTls | None = None

    # -- files ---------------------------------------------------------------------
    @property
    def bootstrap_servers(self) -> str:
        return f"{self.settings.broker.host}:{self.settings.broker.port}"

    @property
    def kafka_settings(self) -> KafkaSettings:
        """Client settings that point at this broker."""
        return replace(self.settings, {"kafka.bootstrap_servers": self.bootstrap_servers}).kafka

    @property
    def _own_kafka(self) -> KafkaSettings:
        """Client settings as the broker's own user (security.py): readiness and status."""
        if self._tls is None and security.is_secured(self.settings):
            self._tls = security.prepare(self.settings, self._java())
        return security.admin_kafka(
            self.kafka_settings, self._tls, self.settings.broker.security.mechanism
        )

    @property
    def log_file(self) -> Path:
        return self.dir / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.dir / "broker.pid"

    @property
    def log_dirs(self) -> Path:
        return self.dir / "data"

    def _properties(self) -> str:
        b = self.settings.broker
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{b.host}:{b.controller_port}",
                f"listeners=PLAINTEXT://{b.host}:{b.port},CONTROLLER://{b.host}:{b.controller_port}",
                f"advertised.listeners=PLAINTEXT://{b.host}:{b.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={self.log_dirs}",
                f"num.partitions={self.settings.kafka.partitions}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                "delete.topic.enable=true",
                # A laptop product: keep a day of telemetry, not a week.
                "log.retention.hours=24",
                "",
            ]
        )

    def _log4j_config(self) -> str:
        return (
            "Configuration:\n"
            "  Appenders:\n"
            "    Console:\n"
            "      name: STDOUT\n"
            "      PatternLayout:\n"
            '        pattern: "[%d] %p %m (%c)%n"\n'
            "  Loggers:\n"
            "    Logger:\n"
            "      - name: kafka\n"
            "        level: INFO\n"
            "      - name: org.apache.kafka\n"
            "        level: WARN\n"
            # "Failed authentication with /127.0.0.1 (… invalid credentials …)": who
            # the SASL_SSL listener refused, and why.
            "      - name: org.apache.kafka.common.network.Selector\n"
            "        level: INFO\n"
            "    Root:\n"
            "      level: WARN\n"
            "      AppenderRef:\n"
            "        - ref: STDOUT\n"
        )

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise MissingToolError(
                "'java' not found on PATH: the embedded Kafka broker needs Java 17+"
            )
        return java

    def _log_tail(self) -> str:
        if not self.log_file.is_file():
            return "(no broker log yet)"
        lines = self.log_file.read_text(errors="replace").strip().splitlines()
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def _recorded_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    # -- lifecycle -----------------------------------------------------------------
    def _format_storage(self, classpath: str, properties: Path) -> None:
        if (self.log_dirs / "meta.properties").is_file():
            if self._tls is not None:
                security.check_storage(self.log_dirs, self.settings.broker.security)
            return
        cluster_id = uuid.uuid4().bytes
        import base64

        cid = base64.urlsafe_b64encode(cluster_id).decode().rstrip("=")
        # "--cluster-id=<cid>" in one argument: about 1 id in 64 starts with "-", which the
        # storage tool would read as an option after a separate "-t".
        done = subprocess.run(
            [self._java(), "-cp", classpath, "kafka.tools.StorageTool", "format",
             f"--cluster-id={cid}", "-c", str(properties),
             *(security.scram_arguments(self.settings.broker.security, self._tls)
               if self._tls is not None else [])],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-LOG_TAIL_LINES:])
            raise BrokerStartError(f"formatting broker storage in {self.log_dirs} failed:\n{tail}")
        if self._tls is not None:
            security.record_storage(self.log_dirs, self.settings.broker.security)

    def start(self) -> float:
        """Start the broker unless ours already runs; return the seconds until it answered.

        Raises:
            BrokerStartError: the port is taken by something else, the JVM exited, or
                the broker did not answer within ``broker.start_timeout_s``.
            MissingToolError: java or mvn missing.
        """
        if self._recorded_pid() is not None:
            self.startup_s = kafka_io.wait_until_ready(
                self._own_kafka, self.settings.broker.start_timeout_s
            )
            return self.startup_s
        b = self.settings.broker
        for port in (b.port, b.controller_port):
            if _port_in_use(b.host, port):
                raise BrokerStartError(
                    f"port {b.host}:{port} is already in use by another program; "
                    "set STOPHACKING_BROKER__PORT / STOPHACKING_BROKER__CONTROLLER_PORT "
                    "or point STOPHACKING_KAFKA__BOOTSTRAP_SERVERS at that broker"
                )
        java = self._java()
        classpath = os.pathsep.join(str(p) for p in resolve_broker_jars(self.settings))
        self.dir.mkdir(parents=True, exist_ok=True)
        properties = self.dir / "server.properties"
        # SASL_SSL (security.py): the listener rewritten, TLS made; the file holds secrets.
        self._tls = security.prepare(self.settings, java)
        text = self._properties()
        properties.touch(mode=0o600)
        properties.chmod(0o600)
        properties.write_text(
            security.secure_properties(text, b.security, self._tls) if self._tls else text
        )
        log4j = self.dir / "log4j2.yaml"
        log4j.write_text(self._log4j_config())
        self._format_storage(classpath, properties)

        started = time.monotonic()
        with self.log_file.open("ab") as log:
            # Own process group: a Ctrl-C meant for the CLI does not kill the broker
            # mid-write, and stop() can signal the whole group.
            self._process = subprocess.Popen(
                [java, f"-Xmx{b.heap_mb}m", "-Xms128m", "-XX:+UseG1GC",
                 "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
                 "-cp", classpath, "kafka.Kafka", str(properties)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self.pid_file.write_text(str(self._process.pid))
        process = self._process
        try:
            kafka_io.wait_until_ready(
                self._own_kafka, b.start_timeout_s, alive=lambda: process.poll() is None
            )
        except BrokerUnavailable as exc:
            self.stop()
            raise BrokerStartError(
                f"embedded Kafka broker did not start ({exc}); last lines of {self.log_file}:\n"
                f"{self._log_tail()}"
            ) from exc
        self.startup_s = time.monotonic() - started
        return self.startup_s

    def stop(self) -> bool:
        """SIGTERM the broker and wait for it to exit (SIGKILL after the timeout).

        Returns:
            True if a running broker was stopped.
        """
        pid = self._process.pid if self._process is not None else self._recorded_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.broker.stop_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            if self._process is None and not _pid_alive(pid):
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            if self._process is not None:
                self._process.wait(timeout=10)
        self._process = None
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> BrokerStatus:
        pid = self._process.pid if self._process is not None else self._recorded_pid()
        try:
            topics = kafka_io.list_topics(self._own_kafka, timeout_s=3.0)
            running = True
        except BrokerUnavailable:
            topics, running = [], False
        return BrokerStatus(
            running=running and pid is not None,
            pid=pid,
            bootstrap_servers=self.bootstrap_servers,
            topics=topics,
            data_dir=self.log_dirs,
            log_file=self.log_file,
        )

    def __enter__(self) -> EmbeddedBroker:
        self._owned = self._recorded_pid() is None
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "_owned", False):
            self.stop()


@dataclass(frozen=True)
class BrokerChoice:
    """Which broker the product talks to, and whether we started it."""

    kafka: KafkaSettings
    embedded: EmbeddedBroker | None
    started_now: bool

    @property
    def description(self) -> str:
        kind = "embedded" if self.embedded is not None else "external"
        return f"{kind} Kafka at {self.kafka.bootstrap_servers}"


@contextlib.contextmanager
def broker_for_run(settings: Settings) -> Iterator[BrokerChoice]:
    """:func:`ensure_broker` for one run: an embedded broker it started is stopped after."""
    choice = ensure_broker(settings)
    try:
        yield choice
    finally:
        if choice.started_now and choice.embedded is not None:
            choice.embedded.stop()


def ensure_broker(settings: Settings) -> BrokerChoice:
    """Use the configured cluster if it answers; else start the embedded broker.

    The embedded broker is only started when the bootstrap servers are the embedded
    broker's own address; a configured external cluster that does not answer is an
    error, never silently replaced by a local broker.
    """
    if kafka_io.is_reachable(settings.kafka):
        embedded = EmbeddedBroker(settings)
        ours = embedded._recorded_pid() is not None and (
            settings.kafka.bootstrap_servers == embedded.bootstrap_servers
        )
        return BrokerChoice(settings.kafka, embedded if ours else None, started_now=False)
    embedded = EmbeddedBroker(settings)
    if settings.kafka.bootstrap_servers != embedded.bootstrap_servers:
        raise BrokerUnavailable(
            f"no Kafka broker answers at {settings.kafka.bootstrap_servers} "
            "(the embedded broker is only started for its own address "
            f"{embedded.bootstrap_servers})"
        )
    if embedded._recorded_pid() is not None and security.is_secured(settings):
        # Ours runs, yet refused the clients' settings: their credentials, not the broker.
        raise BrokerUnavailable(
            f"the embedded broker at {embedded.bootstrap_servers} runs but refuses these "
            "client settings: check kafka.extra (security_protocol, sasl_mechanism, "
            "sasl_plain_username, sasl_plain_password, ssl_cafile)"
        )
    embedded.start()
    return BrokerChoice(embedded.kafka_settings, embedded, started_now=True)

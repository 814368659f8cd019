"""The embedded Apache Kafka broker (KRaft combined mode), each node a child JVM.

:class:`EmbeddedBroker` is one node: by default the single broker of a laptop run
(node 1, its state in ``<home>/broker``). :class:`EmbeddedCluster` composes N of them on
loopback (``stophacking broker start --brokers 3``), each a broker and a voter of the
shared controller quorum, its state in ``<home>/broker/node-<id>``; with 3 nodes one can
die and the quorum and every partition (replication factor 3, ``min.insync.replicas=2``)
stay available.

Jars come from Maven Central (resolved once into ``<home>/jars/kafka-<version>``).
Storage is formatted on the first start and kept across restarts, so a restart loses
no data. Readiness is decided by asking the broker, never by sleeping.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines import kafka_io
from pipelines.broker import security
from pipelines.config import BrokerSettings, KafkaSettings, Settings, replace
from pipelines.errors import BrokerStartError, BrokerUnavailable, ConfigError, MissingToolError
from pipelines.maven import Artifact, resolve_jars

LOG4J_VERSION = "2.24.3"
SLF4J_VERSION = "2.0.17"
LOG_TAIL_LINES = 12
MAX_REPLICATION = 3
"""Replicas of every topic in an embedded cluster of 3 or more nodes."""
PORT_STEP = 2
"""Node i listens on ``port + PORT_STEP*(i-1)`` and ``controller_port + PORT_STEP*(i-1)``:
with the defaults 9092/9093 the nodes' ports interleave without colliding."""
NODE_DIR_PREFIX = "node-"


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
class Node:
    """One node of the embedded broker or cluster: a broker and a controller voter."""

    node_id: int
    host: str
    port: int
    controller_port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def voter(self) -> str:
        return f"{self.node_id}@{self.host}:{self.controller_port}"


def cluster_nodes(broker: BrokerSettings, count: int) -> list[Node]:
    """The ``count`` nodes on ``broker.host``: node i (from 1) on ``port + 2(i-1)`` and
    ``controller_port + 2(i-1)``.

    Raises:
        ConfigError: fewer than one node, or two of the ports collide or leave 1–65535.
    """
    if count < 1:
        raise ConfigError(f"an embedded cluster needs at least 1 broker, got {count}")
    nodes = [
        Node(i, broker.host, broker.port + PORT_STEP * (i - 1),
             broker.controller_port + PORT_STEP * (i - 1))
        for i in range(1, count + 1)
    ]  # fmt: skip
    ports = [p for n in nodes for p in (n.port, n.controller_port)]
    if len(set(ports)) != len(ports) or not all(0 < p < 65536 for p in ports):
        raise ConfigError(
            f"broker.port {broker.port} and broker.controller_port {broker.controller_port} "
            f"give {count} nodes colliding or invalid ports {ports}; choose ports at least "
            f"{PORT_STEP * count} apart"
        )
    return nodes


def replication_for(count: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) of the topics of a ``count``-node cluster:
    3 and 2 from 3 nodes on, so one node lost neither stops writes nor loses an
    acknowledged record; a single node keeps 1 and 1."""
    factor = min(count, MAX_REPLICATION)
    return factor, max(1, factor - 1)


def node_properties(node: Node, quorum: Sequence[Node], log_dirs: Path, partitions: int) -> str:
    """The ``server.properties`` of ``node`` in a cluster whose voters are ``quorum``.

    Internal topics (consumer offsets, transaction state) and topics created without
    settings get the cluster's replication (:func:`replication_for`).
    """
    factor, insync = replication_for(len(quorum))
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={','.join(n.voter for n in quorum)}",
            f"listeners=PLAINTEXT://{node.address},CONTROLLER://{node.host}:{node.controller_port}",
            f"advertised.listeners=PLAINTEXT://{node.address}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={log_dirs}",
            f"num.partitions={partitions}",
            f"default.replication.factor={factor}",
            f"min.insync.replicas={insync}",
            f"offsets.topic.replication.factor={factor}",
            "offsets.topic.num.partitions=4",
            f"transaction.state.log.replication.factor={factor}",
            f"transaction.state.log.min.isr={insync}",
            f"share.coordinator.state.topic.replication.factor={factor}",
            f"share.coordinator.state.topic.min.isr={insync}",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "delete.topic.enable=true",
            # A laptop product: keep a day of telemetry, not a week.
            "log.retention.hours=24",
            "",
        ]
    )


def new_cluster_id() -> str:
    """A random KRaft cluster id (22 characters of URL-safe base64)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap_servers: str
    topics: list[str]
    data_dir: Path
    log_file: Path
    node_id: int = 1


class EmbeddedBroker:
    """Start, stop and inspect one embedded broker node.

    ``with EmbeddedBroker(settings) as broker:`` starts it (unless one of ours already
    runs) and stops it on exit if this object started it. Without ``node`` it is the
    single broker (node 1 on ``broker.port``, state in ``<home>/broker``); an
    :class:`EmbeddedCluster` passes each of its nodes, the quorum and a folder.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        node: Node | None = None,
        quorum: Sequence[Node] | None = None,
        directory: Path | None = None,
    ) -> None:
        self.settings = settings
        self.node = node or cluster_nodes(settings.broker, 1)[0]
        self.quorum = list(quorum or [self.node])
        self.dir = directory or settings.broker_dir
        self._process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None
        self._tls: security.BrokerTls | None = None

    # -- files ---------------------------------------------------------------------
    @property
    def bootstrap_servers(self) -> str:
        return self.node.address

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
        return node_properties(
            self.node, self.quorum, self.log_dirs, self.settings.kafka.partitions
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
    def _format_storage(self, classpath: str, properties: Path, cluster_id: str | None) -> None:
        if (self.log_dirs / "meta.properties").is_file():
            if self._tls is not None:
                security.check_storage(self.log_dirs, self.settings.broker.security)
            return
        cid = cluster_id or new_cluster_id()
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
        started = time.monotonic()
        self.launch()
        self.wait_ready()
        self.startup_s = time.monotonic() - started
        return self.startup_s

    @property
    def running(self) -> bool:
        """Our JVM of this node is alive (it may not answer yet)."""
        if self._process is not None:
            return self._process.poll() is None
        return self._recorded_pid() is not None

    def launch(self, cluster_id: str | None = None) -> None:
        """Format the storage on first use and start the JVM; do not wait for it.

        A node of a cluster cannot answer before a majority of the quorum runs, so the
        cluster launches every node, then waits (:meth:`wait_ready`).

        Args:
            cluster_id: the KRaft cluster id to format new storage with (every node of a
                cluster shares one); default: a fresh one.

        Raises:
            BrokerStartError: a port is taken by something else, or formatting failed.
            MissingToolError: java or mvn missing.
        """
        b = self.settings.broker
        for port in (self.node.port, self.node.controller_port):
            if _port_in_use(self.node.host, port):
                raise BrokerStartError(
                    f"port {self.node.host}:{port} is already in use by another program; "
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
        self._format_storage(classpath, properties, cluster_id)

        with self.log_file.open("ab") as log:
            # Own process group: a Ctrl-C meant for the CLI does not kill the broker
            # mid-write, and stop() can signal the whole group.
            self._process = subprocess.Popen(
                # The whole heap committed and touched at start (as Kafka's own scripts
                # fix -Xms to -Xmx): a heap grown lazily towards its cap made the broker's
                # resident memory climb through a 30-minute soak (docs/reliability.md).
                [java, f"-Xmx{b.heap_mb}m", f"-Xms{b.heap_mb}m", "-XX:+AlwaysPreTouch",
                 "-XX:+UseG1GC",
                 "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
                 "-cp", classpath, "kafka.Kafka", str(properties)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self.pid_file.write_text(str(self._process.pid))

    def wait_ready(self) -> float:
        """Wait until the launched node answers; return the seconds waited.

        Raises:
            BrokerStartError: the JVM exited or did not answer within
                ``broker.start_timeout_s`` (it is stopped; the message quotes its log).
        """
        process = self._process
        alive = (lambda: process.poll() is None) if process is not None else None
        try:
            return kafka_io.wait_until_ready(
                self._own_kafka, self.settings.broker.start_timeout_s, alive=alive
            )
        except BrokerUnavailable as exc:
            self.stop()
            raise BrokerStartError(
                f"embedded Kafka broker node {self.node.node_id} did not start ({exc}); "
                f"last lines of {self.log_file}:\n{self._log_tail()}"
            ) from exc

    def kill(self) -> bool:
        """SIGKILL the node's JVM (a crash: no controlled shutdown) and reap it.

        Returns:
            True if a running node was killed.
        """
        pid = self._process.pid if self._process is not None else self._recorded_pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        if self._process is not None:
            self._process.wait(timeout=30)
        else:
            deadline = time.monotonic() + 30
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self._process = None
        self.pid_file.unlink(missing_ok=True)
        return True

    def signal_stop(self) -> int | None:
        """SIGTERM the node without waiting (a cluster stops its nodes together);
        return the pid signalled."""
        pid = self._process.pid if self._process is not None else self._recorded_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        return pid

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
            node_id=self.node.node_id,
        )

    def __enter__(self) -> EmbeddedBroker:
        self._owned = self._recorded_pid() is None
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "_owned", False):
            self.stop()


class EmbeddedCluster:
    """``brokers`` embedded nodes on loopback sharing one KRaft quorum.

    Every node is a broker and a controller voter (combined mode), so 3 nodes keep a
    quorum with one of them dead. Topics get :func:`replication_for` the node count
    (3 replicas, ``min.insync.replicas=2``), internal ones included; clients reach the
    cluster through :attr:`kafka_settings`, which lists every node and asks for that
    replication when the product creates topics.

    ``with EmbeddedCluster(settings, 3) as cluster:`` starts it (nodes already running
    are kept) and stops it on exit if this object started it; ``kill(node_id)`` and
    ``start_node(node_id)`` crash and restart one node (tests of leader failover).
    """

    def __init__(self, settings: Settings, brokers: int) -> None:
        self.settings = settings
        self.dir = settings.broker_dir
        self.nodes = cluster_nodes(settings.broker, brokers)
        self.brokers = {
            n.node_id: EmbeddedBroker(
                settings, node=n, quorum=self.nodes, directory=self.node_dir(n.node_id)
            )
            for n in self.nodes
        }
        self.startup_s: float | None = None

    def node_dir(self, node_id: int) -> Path:
        """Node ``node_id``'s folder: its storage, log, pid file and properties."""
        return self.dir / f"{NODE_DIR_PREFIX}{node_id}"

    @classmethod
    def found(cls, settings: Settings) -> EmbeddedCluster | None:
        """The cluster whose node folders are in ``<home>/broker``, or None."""
        count = len(_node_dirs(settings.broker_dir))
        return cls(settings, count) if count else None

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.address for n in self.nodes)

    @property
    def kafka_settings(self) -> KafkaSettings:
        """Client settings that reach every node and create replicated topics."""
        factor, insync = replication_for(len(self.nodes))
        overrides = {
            "kafka.bootstrap_servers": self.bootstrap_servers,
            "kafka.replication_factor": factor,
            "kafka.min_insync_replicas": insync,
        }
        return replace(self.settings, overrides).kafka

    def node_settings(self, node_id: int) -> KafkaSettings:
        """Client settings that reach only node ``node_id`` (to ask it directly)."""
        return self.brokers[node_id].kafka_settings

    def _cluster_id(self) -> str:
        """The id every node's storage is formatted with (made once, kept in the folder).

        Raises:
            ConfigError: the folder holds a cluster of another size (its quorum is fixed).
        """
        existing = _node_dirs(self.dir)
        if existing and len(existing) != len(self.nodes):
            raise ConfigError(
                f"{self.dir} holds an embedded cluster of {len(existing)} brokers; start it "
                f"with --brokers {len(existing)}, or delete that folder for a new cluster"
            )
        path = self.dir / "cluster.id"
        if not path.is_file():
            self.dir.mkdir(parents=True, exist_ok=True)
            path.write_text(new_cluster_id())
        return path.read_text().strip()

    def start(self) -> float:
        """Start every node not running, then wait for all; return the seconds taken.

        Raises:
            BrokerStartError: a port is taken, a JVM exited or a node did not answer in
                time (every node is stopped then).
            ConfigError: the folder holds a cluster of another size.
        """
        started = time.monotonic()
        cluster_id = self._cluster_id()
        try:
            for broker in self.brokers.values():
                if not broker.running:
                    broker.launch(cluster_id)
            for broker in self.brokers.values():
                broker.wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        return self.startup_s

    def start_node(self, node_id: int) -> float:
        """Start one node again (same ports, same storage); return the seconds until it
        answered."""
        broker = self.brokers[node_id]
        started = time.monotonic()
        if not broker.running:
            broker.launch(self._cluster_id())
        broker.wait_ready()
        return time.monotonic() - started

    def kill(self, node_id: int) -> bool:
        """SIGKILL one node (a crash); True if it was running."""
        return self.brokers[node_id].kill()

    def stop(self) -> bool:
        """SIGTERM every node at once, then wait for each (SIGKILL after the timeout).

        Together, not one by one: the last nodes of a cluster stopped one by one would
        wait for a quorum that is already gone.

        Returns:
            True if a running node was stopped.
        """
        signalled = [broker.signal_stop() for broker in self.brokers.values()]
        stopped = [broker.stop() for broker in self.brokers.values()]
        return any(pid is not None for pid in signalled) or any(stopped)

    def status(self) -> list[BrokerStatus]:
        """Each node's status, in node order."""
        return [broker.status() for broker in self.brokers.values()]

    def leaders(self, topics: Sequence[str]) -> dict[tuple[str, int], int | None]:
        """The node leading each partition of ``topics`` (None while none does)."""
        states = kafka_io.partition_states(self.kafka_settings, topics)
        return {place: state.leader for place, state in states.items()}

    def __enter__(self) -> EmbeddedCluster:
        self._owned = not any(broker.running for broker in self.brokers.values())
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "_owned", False):
            self.stop()


def _node_dirs(folder: Path) -> list[Path]:
    """The node folders (``node-1``, ``node-2``, …) of an embedded cluster in ``folder``."""
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir()
        if p.is_dir() and p.name.startswith(NODE_DIR_PREFIX)
        and p.name.removeprefix(NODE_DIR_PREFIX).isdigit()
    )  # fmt: skip


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

"""The kafka-python edge shared by every module: client configs, readiness, topics.

Only adapter modules import ``kafka``; this one holds what they share so each of
them does not rebuild client settings and admin calls on its own.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipelines.config import KafkaSettings
from pipelines.errors import BrokerRefused, BrokerUnavailable
from pipelines.kafka_security import python_client_keys


def client_config(kafka: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """kafka-python keyword arguments for any client: bootstrap, timeouts, extra keys."""
    config: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers.split(","),
        "request_timeout_ms": int(kafka.request_timeout_s * 1000),
    }
    # Keys with a dot are the Java client's (for Spark, kafka_security.py): not ours.
    config.update(python_client_keys(kafka.extra))
    config.update(overrides)
    return config


SECURITY_KEYS_HINT = (
    "kafka.extra: security_protocol, sasl_mechanism, sasl_plain_username, "
    "sasl_plain_password, ssl_cafile"
)


def _listening(bootstrap_servers: str, timeout_s: float = 1.0) -> bool:
    """True when a TCP connection to the first bootstrap server opens."""
    host, _, port = bootstrap_servers.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def unreachable(kafka: KafkaSettings, exc: BaseException) -> BrokerUnavailable:
    """The error for a client that could not bootstrap, telling "nothing listens" from
    "refused": kafka-python reports a failed TLS handshake or SASL login only as a lost
    connection, so a wrong password would otherwise read as a broker that is down."""
    servers = kafka.bootstrap_servers
    if _listening(servers):
        return BrokerRefused(
            f"Kafka at {servers} did not let this client in ({exc.__class__.__name__}): "
            "something listens there, so the client's security settings do not match the "
            f"broker's listener or its credentials are wrong (check {SECURITY_KEYS_HINT}), "
            "or the broker is still starting"
        )
    return BrokerUnavailable(f"no Kafka broker answers at {servers} ({exc.__class__.__name__})")


def _admin(kafka: KafkaSettings, timeout_s: float) -> KafkaAdminClient:
    return KafkaAdminClient(
        **client_config(
            kafka,
            client_id="stophacking-admin",
            request_timeout_ms=max(1000, int(timeout_s * 1000)),
            bootstrap_timeout_ms=max(1000, int(timeout_s * 1000)),
        )
    )


def list_topics(kafka: KafkaSettings, timeout_s: float = 5.0) -> list[str]:
    """Topic names on the cluster (internal ones left out).

    Raises:
        BrokerUnavailable: nothing answered at ``kafka.bootstrap_servers`` in time.
    """
    try:
        admin = _admin(kafka, timeout_s)
    except (KafkaError, OSError, ValueError) as exc:
        raise unreachable(kafka, exc) from exc
    try:
        return sorted(t for t in admin.list_topics() if not t.startswith("__"))
    except (KafkaError, OSError) as exc:
        raise BrokerUnavailable(f"Kafka at {kafka.bootstrap_servers}: {exc}") from exc
    finally:
        admin.close()


def is_reachable(kafka: KafkaSettings, timeout_s: float = 3.0) -> bool:
    """True when a broker answers a metadata request at the bootstrap servers."""
    try:
        list_topics(kafka, timeout_s)
    except BrokerUnavailable:
        return False
    return True


def wait_until_ready(kafka: KafkaSettings, timeout_s: float, *, alive: Any = None) -> float:
    """Ask the broker until it answers; return the seconds it took.

    Args:
        kafka: where to ask.
        timeout_s: give up after this long.
        alive: optional callable; when it returns False we stop waiting at once (the
            broker process died).

    Raises:
        BrokerUnavailable: no answer within ``timeout_s`` (or ``alive()`` turned False).
    """
    started = time.monotonic()
    while True:
        if alive is not None and not alive():
            raise BrokerUnavailable("the broker process exited while starting")
        if is_reachable(kafka, timeout_s=2.0):
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise BrokerUnavailable(
                f"no Kafka broker answered at {kafka.bootstrap_servers} within {timeout_s:.0f} s"
            )
        time.sleep(0.25)


def ensure_topics(
    kafka: KafkaSettings,
    names: Iterable[str],
    *,
    partitions: int | None = None,
    configs: Mapping[str, str] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Each gets ``kafka.replication_factor`` replicas and ``kafka.topic_configs()``
    (``min.insync.replicas``), then ``configs``.
    """
    wanted = list(dict.fromkeys(names))
    existing = set(list_topics(kafka))
    missing = [n for n in wanted if n not in existing]
    if not missing:
        return []
    admin = _admin(kafka, kafka.request_timeout_s)
    try:
        admin.create_topics(
            [
                NewTopic(
                    name=name,
                    num_partitions=partitions or kafka.partitions,
                    replication_factor=kafka.replication_factor,
                    topic_configs={**kafka.topic_configs(), **(configs or {})},
                )
                for name in missing
            ]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    return missing


def delete_topics(kafka: KafkaSettings, names: Iterable[str]) -> None:
    """Delete topics, ignoring ones that are already gone."""
    admin = _admin(kafka, kafka.request_timeout_s)
    try:
        admin.delete_topics(list(names))
    except KafkaError:
        pass
    finally:
        admin.close()


def partition_end_offsets(
    kafka: KafkaSettings, topics: Iterable[str]
) -> dict[tuple[str, int], int]:
    """The end offset (the next offset to be written) of every partition of ``topics``.

    One consumer asks for all of them; topics that do not exist are left out.

    Raises:
        BrokerUnavailable: nothing answered at ``kafka.bootstrap_servers`` in time.
    """
    from kafka import KafkaConsumer, TopicPartition

    try:
        consumer = KafkaConsumer(**client_config(kafka, enable_auto_commit=False))
    except (KafkaError, OSError, ValueError) as exc:
        raise unreachable(kafka, exc) from exc
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = consumer.end_offsets(partitions)
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}
    except (KafkaError, OSError) as exc:
        raise BrokerUnavailable(f"Kafka at {kafka.bootstrap_servers}: {exc}") from exc
    finally:
        consumer.close()


def topic_end_offsets(kafka: KafkaSettings, topic: str) -> dict[int, int]:
    """Latest offset per partition of ``topic`` (what a fully caught-up reader has seen)."""
    return {p: end for (_, p), end in partition_end_offsets(kafka, [topic]).items()}


def end_offsets(kafka: KafkaSettings, topics: Iterable[str]) -> dict[str, int]:
    """Per topic, the sum over its partitions of the latest offset (what was written)."""
    totals: dict[str, int] = {}
    for (topic, _), end in partition_end_offsets(kafka, topics).items():
        totals[topic] = totals.get(topic, 0) + end
    return totals


@dataclass(frozen=True)
class PartitionState:
    """Who holds one partition: its leader's node id (None while it has none), its
    replicas (the preferred leader first) and those in sync with the leader."""

    leader: int | None
    replicas: tuple[int, ...]
    in_sync: tuple[int, ...]


def partition_states(
    kafka: KafkaSettings, topics: Iterable[str], timeout_s: float = 5.0
) -> dict[tuple[str, int], PartitionState]:
    """Leader, replicas and in-sync replicas of every partition of ``topics``.

    Raises:
        BrokerUnavailable: nothing answered at ``kafka.bootstrap_servers`` in time.
    """
    try:
        admin = _admin(kafka, timeout_s)
    except (KafkaError, OSError, ValueError) as exc:
        raise BrokerUnavailable(
            f"no Kafka broker answers at {kafka.bootstrap_servers} ({exc.__class__.__name__})"
        ) from exc
    try:
        described = admin.describe_topics(list(topics))
    except (KafkaError, OSError) as exc:
        raise BrokerUnavailable(f"Kafka at {kafka.bootstrap_servers}: {exc}") from exc
    finally:
        admin.close()
    states: dict[tuple[str, int], PartitionState] = {}
    for topic in described:
        for p in topic["partitions"]:
            leader = int(p["leader_id"])
            states[(topic["name"], int(p["partition_index"]))] = PartitionState(
                leader=leader if leader >= 0 else None,
                replicas=tuple(int(n) for n in p["replica_nodes"]),
                in_sync=tuple(int(n) for n in p["isr_nodes"]),
            )
    return states

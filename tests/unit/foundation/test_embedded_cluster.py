"""The embedded cluster's pure parts: node ports, replication, each node's properties."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.broker.embedded import cluster_nodes, node_properties, replication_for
from pipelines.config import BrokerSettings
from pipelines.errors import ConfigError


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_nodes_interleave_their_ports_from_the_broker_settings() -> None:
    nodes = cluster_nodes(BrokerSettings(), 3)
    assert [(n.node_id, n.port, n.controller_port) for n in nodes] == [
        (1, 9092, 9093),
        (2, 9094, 9095),
        (3, 9096, 9097),
    ]
    assert [n.voter for n in nodes] == [
        "1@127.0.0.1:9093",
        "2@127.0.0.1:9095",
        "3@127.0.0.1:9097",
    ]


@pytest.mark.parametrize(
    ("port", "controller_port", "count"),
    [(9092, 9094, 2), (65534, 65535, 2), (9092, 9093, 0)],
)
def test_colliding_or_invalid_node_ports_are_refused(
    port: int, controller_port: int, count: int
) -> None:
    with pytest.raises(ConfigError, match="broker"):
        cluster_nodes(BrokerSettings(port=port, controller_port=controller_port), count)


@pytest.mark.parametrize(
    ("count", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))]
)
def test_replication_keeps_one_loss_writable_from_three_nodes(
    count: int, expected: tuple[int, int]
) -> None:
    assert replication_for(count) == expected


def test_a_node_of_three_votes_in_the_shared_quorum_and_replicates_everything() -> None:
    nodes = cluster_nodes(BrokerSettings(port=41000, controller_port=41001), 3)
    props = _properties(node_properties(nodes[1], nodes, Path("/state/node-2/data"), 1))
    assert props["node.id"] == "2"
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:41001,2@127.0.0.1:41003,3@127.0.0.1:41005"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:41002,CONTROLLER://127.0.0.1:41003"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:41002"
    assert props["log.dirs"] == "/state/node-2/data"
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
    ):
        assert props[key] == "3", key
    assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"


def test_the_single_broker_keeps_its_unreplicated_properties() -> None:
    node = cluster_nodes(BrokerSettings(), 1)[0]
    props = _properties(node_properties(node, [node], Path("/state/broker/data"), 4))
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["num.partitions"] == "4"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"

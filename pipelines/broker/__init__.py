"""Embedded Kafka broker management (jar resolution, storage, start/stop, topics)."""

from pipelines.broker.embedded import (
    BrokerChoice,
    EmbeddedBroker,
    EmbeddedCluster,
    broker_for_run,
    ensure_broker,
)

__all__ = ["BrokerChoice", "EmbeddedBroker", "EmbeddedCluster", "broker_for_run", "ensure_broker"]

"""Embedded Kafka broker management (jar resolution, storage, start/stop, topics)."""

from pipelines.broker.embedded import BrokerChoice, EmbeddedBroker, ensure_broker

__all__ = ["BrokerChoice", "EmbeddedBroker", "ensure_broker"]

"""The agent's kafka-python edge: hand the outbox's messages to Kafka, survive its absence.

The client is idempotent with ``acks='all'``, like the producers'. A thread of its own
makes it (on first use, and again ``agent.connect_timeout_s`` after a failure) and hands
it what the outbox holds, so reaching a broker that is away never delays the agent's
samples; what it samples meanwhile waits in the
:class:`~pipelines.agent.outbox.Outbox`, bounded by ``agent.max_buffered_intervals``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError

from pipelines import kafka_io
from pipelines.agent.outbox import Interval, Message, Outbox
from pipelines.config import Settings
from pipelines.errors import BrokerUnavailable

log = logging.getLogger(__name__)


class Publisher:
    """Delivers the outbox's intervals to Kafka.

    Args:
        settings: Kafka client settings and the agent's delivery bounds.
        outbox: where the sampled intervals wait.
    """

    def __init__(self, settings: Settings, outbox: Outbox) -> None:
        self.settings = settings
        self.outbox = outbox
        self.last_error: str | None = None
        self._producer: KafkaProducer | None = None
        self._retry_at = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the delivery thread."""
        self._thread = threading.Thread(target=self._loop, name="agent-publisher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Something new waits in the outbox: deliver it now."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)  # also retries what failed, once a second
            self._wake.clear()
            if not self._stop.is_set():
                self.deliver()

    def _client(self) -> KafkaProducer | None:
        if self._producer is not None:
            return self._producer
        if time.monotonic() < self._retry_at:
            return None
        kafka, agent = self.settings.kafka, self.settings.agent
        timeout_ms = int(agent.connect_timeout_s * 1000)
        try:
            kafka_io.ensure_topics(kafka, [kafka.topics.process, kafka.topics.memory])
            self._producer = KafkaProducer(
                **kafka_io.client_config(
                    kafka,
                    client_id="stophacking-agent",
                    enable_idempotence=True,
                    acks="all",
                    linger_ms=5,
                    delivery_timeout_ms=int(agent.delivery_timeout_s * 1000),
                    max_block_ms=timeout_ms,
                    bootstrap_timeout_ms=timeout_ms,
                    reconnect_backoff_max_ms=1000,
                )
            )
        except (KafkaError, OSError, BrokerUnavailable) as exc:
            self._broker_away(exc)
            return None
        self.last_error = None
        return self._producer

    def _broker_away(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self.settings.agent.connect_timeout_s
        log.warning(
            "Kafka at %s did not take the agent's records (%s); they wait in the outbox",
            self.settings.kafka.bootstrap_servers,
            self.last_error,
        )

    def deliver(self) -> None:
        """Hand every queued message to the client (never blocks long)."""
        producer = self._client()
        if producer is None:
            return
        taken = self.outbox.take_queued()
        for at, (interval, message) in enumerate(taken):
            try:
                future = producer.send(message.topic, key=message.key, value=message.value)
            except KafkaError as exc:  # metadata unknown: the broker is away
                # This message and every later one taken with it go back to the queue.
                for _interval, unsent in taken[at:]:
                    self.outbox.unsent(unsent)
                self._broker_away(exc)
                return
            future.add_callback(self._on_ack, interval, message)
            future.add_errback(self._on_error, interval, message)

    def _on_ack(self, interval: Interval, message: Message, _metadata: object) -> None:
        self.outbox.acknowledged(interval, message)

    def _on_error(self, interval: Interval, message: Message, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.outbox.failed(interval, message)

    def flush(self, timeout_s: float) -> None:
        """Stop the thread, deliver what is queued and wait up to ``timeout_s`` for the
        acknowledgements."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.deliver()
        if self._producer is not None:
            with contextlib.suppress(KafkaError):
                self._producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        if self._producer is not None:
            with contextlib.suppress(KafkaError):
                self._producer.close(timeout=timeout_s)
            self._producer = None

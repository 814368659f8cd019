"""The kafka-python edge of the live pipelines: one consumer thread feeding a queue.

kafka-python's consumer is not thread-safe, so one thread creates it, polls it and
closes it; everything else only sees batches of :class:`Arrival` on a ``queue.Queue``
(which the streamz pipeline reads with ``Stream.from_q``). The arrival time is stamped
here, on the consumer thread, when ``poll`` hands the records over: it is the
processing time the live counts are about (SPEC §4).

A broker that goes away is reported (``status.connected`` False plus a message) and the
thread keeps trying; kafka-python reconnects by itself when the broker returns. Should
the consumer fail outright, the thread makes a new one in the same consumer group and
resumes at the offsets it had handed out, so nothing is counted twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipelines import kafka_io
from pipelines.config import KafkaSettings
from pipelines.errors import StopHackingError
from pipelines.live.messages import Arrival

log = logging.getLogger(__name__)

POLL_TIMEOUT_S = 0.2
"""Longest a poll blocks: bounds how late stop() and the duration bound take effect."""
PROBE_IDLE_S = 3.0
"""Ask the broker whether it is there after this long without records."""
RETRY_S = 2.0
"""Wait between attempts to create a consumer while no broker answers."""
RECONNECT_BACKOFF_MAX_MS = 2000
"""kafka-python defaults to 30 s; a live view should notice a returned broker quickly."""
BOOTSTRAP_TIMEOUT_MS = 5000
METADATA_MAX_AGE_MS = 5000
"""kafka-python refreshes metadata every 5 min by default: a topic created after we
subscribed (the producers create theirs) would stay invisible that long."""
ASSIGNMENT_TIMEOUT_S = 15.0
"""A consumer still without partitions after this long is replaced by a new one: a
group member that subscribed while its topic was being created can stay unassigned."""


@dataclass(frozen=True)
class SourceStatus:
    """What the consumer thread last knew about the broker.

    Attributes:
        connected: True when the broker answered last time we looked, False when it
            did not, None before the first contact.
        message: one line for a person ("Kafka at h:9092 not reachable since 10:02:11 UTC").
        messages: messages handed to the queue so far.
        ready: the consumer has its partitions and their positions (records sent from
            now on will be seen).
        running: the thread is alive.
    """

    connected: bool | None = None
    message: str = "not started"
    messages: int = 0
    ready: bool = False
    running: bool = False


def fresh_group_id(topic: str) -> str:
    """A consumer group nobody else uses: each live view reads the topic on its own."""
    return f"stophacking-live-{topic}-{uuid.uuid4().hex[:8]}"


def _clock_text(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S UTC")


class KafkaSource:
    """A consumer thread that puts batches of :class:`Arrival` on ``out``.

    Example:
        >>> q: queue.Queue[list[Arrival]] = queue.Queue()
        >>> source = KafkaSource(settings.kafka, "stophacking.process.v1", q, duration_s=10)
        >>> source.start(); source.wait_ready(30); ...; source.stop()
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        out: queue.Queue[list[Arrival]],
        *,
        group_id: str | None = None,
        from_beginning: bool = False,
        duration_s: float | None = None,
        max_messages: int | None = None,
        poll_timeout_s: float = POLL_TIMEOUT_S,
        probe_idle_s: float = PROBE_IDLE_S,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.time,
        on_status: Callable[[SourceStatus], None] | None = None,
    ) -> None:
        """Configure the source; nothing connects before :meth:`start`.

        Args:
            kafka: cluster settings (bootstrap servers, raw ``extra`` client keys).
            topic: the topic to read.
            out: where batches go (one list per poll that returned records).
            group_id: consumer group; default: a fresh one (see :func:`fresh_group_id`).
            from_beginning: a group without committed offsets starts at the earliest
                offsets instead of the latest.
            duration_s: stop after this many seconds (None: run until :meth:`stop`).
            max_messages: stop after handing out this many messages (None: no limit).
            poll_timeout_s: longest a single poll blocks, seconds.
            probe_idle_s: after this many seconds without records, check the broker.
            retry_s: pause between attempts while no broker answers, seconds.
            clock: unix-seconds clock that stamps arrivals.
            on_status: called (on the consumer thread) when the connection state, the
                message, readiness or running change (not for every batch).
        """
        self.kafka = kafka
        self.topic = topic
        self.out = out
        self.group_id = group_id or fresh_group_id(topic)
        self._own_group = group_id is None
        self.from_beginning = from_beginning
        self.duration_s = duration_s
        self.max_messages = max_messages
        self.poll_timeout_s = poll_timeout_s
        self.probe_idle_s = probe_idle_s
        self.retry_s = retry_s
        self.clock = clock
        self.on_status = on_status
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = SourceStatus()
        self._status_lock = threading.Lock()
        # Next offset to hand out per partition: survives a re-created consumer.
        self._positions: dict[TopicPartition, int] = {}
        self._down_since: float | None = None

    # -- control -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the consumer thread (no-op when it runs)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._ready.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"live-consumer-{self.topic}", daemon=True
        )
        self._set_status(running=True, message=f"connecting to Kafka at {self._servers}")
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Ask the thread to stop and wait for it to close its consumer."""
        self._stop.set()
        self.join(timeout_s)

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the thread to end (its bound reached or stopped); True if it ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until the consumer has its partitions and positions; True if it has."""
        return self._ready.wait(timeout_s)

    @property
    def status(self) -> SourceStatus:
        with self._status_lock:
            return self._status

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the thread ------------------------------------------------------------------------
    @property
    def _servers(self) -> str:
        return self.kafka.bootstrap_servers

    def _set_status(self, **changes: Any) -> None:
        with self._status_lock:
            before = self._status
            self._status = replace(before, **changes)
            after = self._status
        # Observers hear about state changes, not about every batch of messages.
        if self.on_status is not None and replace(after, messages=before.messages) != before:
            try:
                self.on_status(after)
            except Exception:  # a broken observer must not kill the consumer
                log.exception("status callback failed")

    def _make_consumer(self) -> KafkaConsumer:
        try:
            # The topic exists before we subscribe (as the producers make it), so that
            # "latest" means from now on rather than from whenever it appears.
            kafka_io.ensure_topics(self.kafka, [self.topic])
        except (StopHackingError, KafkaError) as exc:
            # No right to create topics on this cluster: wait for the producers to.
            log.info("could not create topic %s: %s", self.topic, exc)
        return KafkaConsumer(
            self.topic,
            **kafka_io.client_config(
                self.kafka,
                group_id=self.group_id,
                client_id=f"stophacking-live-{self.topic}",
                auto_offset_reset="earliest" if self.from_beginning else "latest",
                enable_auto_commit=True,
                reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
                bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
                metadata_max_age_ms=METADATA_MAX_AGE_MS,
            ),
        )

    def _bound_reached(self, started: float) -> bool:
        if self._stop.is_set():
            return True
        if self.duration_s is not None and time.monotonic() - started >= self.duration_s:
            return True
        return self.max_messages is not None and self.status.messages >= self.max_messages

    def _run(self) -> None:
        started = time.monotonic()
        try:
            while not self._bound_reached(started):
                try:
                    consumer = self._make_consumer()
                except (KafkaError, OSError, ValueError) as exc:
                    self._report_down(f"{exc.__class__.__name__}")
                    self._stop.wait(self.retry_s)
                    continue
                try:
                    self._consume(consumer, started)
                except KafkaError as exc:
                    # The consumer itself gave up: report, then make a new one in the
                    # same group (positions are kept in self._positions).
                    self._report_down(f"consumer failed: {exc}")
                    self._stop.wait(self.retry_s)
                finally:
                    self._ready.clear()
                    self._set_status(ready=False)
                    try:
                        consumer.close(timeout_ms=2000)
                    except Exception:  # closing a consumer of a dead broker may fail
                        log.debug("closing the consumer failed", exc_info=True)
        finally:
            self._set_status(running=False, message=self._final_message())

    def _final_message(self) -> str:
        return f"stopped after {self.status.messages} messages from {self.topic}"

    def _report_down(self, why: str) -> None:
        if self.status.connected is not False or self._down_since is None:
            self._down_since = self.clock()
        since = _clock_text(self._down_since)
        self._set_status(
            connected=False,
            message=f"Kafka at {self._servers} not reachable since {since} ({why}); retrying",
        )

    def _report_up(self) -> None:
        if self.status.connected is not True:
            text = (
                f"reconnected to Kafka at {self._servers}"
                if self.status.connected is False
                else f"reading {self.topic} from Kafka at {self._servers}"
            )
            self._set_status(connected=True, message=text)

    def _consume(self, consumer: KafkaConsumer, started: float) -> None:
        aligned: set[TopicPartition] = set()
        last_contact = made = time.monotonic()
        self._report_up()
        while not self._bound_reached(started):
            records = consumer.poll(timeout_ms=int(self.poll_timeout_s * 1000))
            at = self.clock()
            assignment = consumer.assignment()
            if not assignment and time.monotonic() - made > ASSIGNMENT_TIMEOUT_S:
                # Seen with kafka-python 3.0 against Kafka 4.1 when the topic was created
                # just before subscribing: the member never gets partitions. A new
                # consumer (same group, positions kept) does.
                # A group of our own is replaced too: the next member then joins an empty
                # group instead of waiting for the coordinator to settle the old one.
                # (Positions handed out so far are kept in self._positions.)
                if self._own_group:
                    self.group_id = fresh_group_id(self.topic)
                log.warning(
                    "no partitions of %s after %.0f s: new consumer (group %s)",
                    self.topic,
                    ASSIGNMENT_TIMEOUT_S,
                    self.group_id,
                )
                return
            for tp in assignment - aligned:
                # A consumer made after a failure resumes where we stopped handing out.
                if tp in self._positions:
                    consumer.seek(tp, self._positions[tp])
                aligned.add(tp)
            if not self._ready.is_set() and assignment:
                for tp in assignment:
                    consumer.position(tp, timeout_ms=int(self.kafka.request_timeout_s * 1000))
                self._ready.set()
                self._set_status(ready=True)
            batch = self._batch(records, at)
            if batch:
                self._hand_over(batch)
                self._set_status(messages=self.status.messages + len(batch))
                last_contact = time.monotonic()
                self._report_up()
            elif time.monotonic() - last_contact >= self.probe_idle_s:
                # kafka-python retries quietly while the broker is away: ask it directly.
                if kafka_io.is_reachable(self.kafka, timeout_s=2.0):
                    self._report_up()
                else:
                    self._report_down("no answer")
                last_contact = time.monotonic()

    def _hand_over(self, batch: list[Arrival]) -> None:
        # A bounded queue that is full means the pipeline lags: wait (back-pressure on
        # the consumer, which simply polls later) but stay responsive to stop().
        while not self._stop.is_set():
            try:
                self.out.put(batch, timeout=self.poll_timeout_s)
                return
            except queue.Full:
                continue

    def _batch(self, records: dict[TopicPartition, list[Any]], at: float) -> list[Arrival]:
        batch: list[Arrival] = []
        room = None if self.max_messages is None else self.max_messages - self.status.messages
        for tp, messages in records.items():
            expected = self._positions.get(tp)
            for message in messages:
                if expected is not None and message.offset < expected:
                    continue  # handed out before the consumer was re-created
                if room is not None and len(batch) >= room:
                    return batch
                batch.append(
                    Arrival(
                        at=at,
                        key=message.key,
                        value=message.value,
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=message.offset,
                    )
                )
                self._positions[tp] = message.offset + 1
        return batch

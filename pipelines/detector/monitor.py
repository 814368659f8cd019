"""The detector's driver-side publishing, off the micro-batch path.

One thread, :class:`DetectorMonitor`, owns the detector's kafka-python clients and does
everything that needs a finished micro-batch's progress:

- **health**: when an ingest batch's progress arrives (a StreamingQueryListener feeds
  every progress event to the thread), its :class:`~pipelines.detector.ingest.IngestFigures`
  (handed over by the batch's handler) become a :class:`~pipelines.detector.health.BatchStatus`
  with the lag behind the topic's end offsets (asked with one long-lived consumer) and
  the 7a watermark; the status goes to the detector's totals and ``on_batch`` callback,
  and a health record to the health topic (sent, not flushed: nothing waits for it);
- **window counts**: when a 7a batch's progress arrives, the rows of the 7a memory sink
  that changed since the last publication go to the window-counts topic (key
  ``machine|stream|window_start``). 7a is aggregated once; its memory sink and the topic
  show the same values.

- **broker contact**: when the broker has not answered for :data:`BROKER_PROBE_S` (the
  ingest queries wait while it is away, so no batch asks for its lag), a thread of its
  own asks it for the source topics' end offsets. A failed request (or lag read), or one
  answered only after :data:`BROKER_PROBE_S`, starts an outage from when it was asked,
  logged once (a request asked before the broker's last answer tells nothing new); the
  first answered one ends it, logged with its length, and
  each stream's next health record carries it as ``broker_away_s``
  (:class:`~pipelines.detector.health.BrokerContact`).

A Kafka failure here is logged and never stops the detector: health and the
window-counts topic are best effort (the memory sink and the parquet outputs are not).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener

from pipelines import kafka_io
from pipelines.config import KafkaSettings
from pipelines.detector import transforms
from pipelines.detector.health import BatchStatus, BrokerContact, health_record
from pipelines.detector.ingest import IngestFigures
from pipelines.detector.layout import INGEST_QUERY, DetectorTopics
from pipelines.schema.columns import Stream

log = logging.getLogger(__name__)

SPARK_NO_WATERMARK: Final = "1970-01-01T00:00:00"
"""How a query's progress shows a watermark that is not set yet (the epoch)."""
COUNTS_REPUBLISH_WINDOWS: Final = 2
"""Window counts are compared (and republished when changed) for windows ending less
than this many window lengths before the 7a watermark; older windows are final in
practice (only a record later than the slower stream's watermark by minutes could
change them, and such a record reaches the memory sink only)."""
BROKER_PROBE_S: Final = 5.0
"""When the broker has not answered one of the monitor's requests for this long (no
ingest batch asked for its lag), the monitor asks it whether it answers. Other queries'
progress events keep arriving during an outage, so the probe is timed by the last
answer, not by a quiet inbox. A probe costs one list-offsets request."""
STOP: Final = object()


def watermark_of(progress: Mapping[str, Any] | None) -> str | None:
    """A progress' event-time watermark (ISO text, UTC), None before it has one."""
    if not progress:
        return None
    try:
        value = progress["eventTime"].get("watermark")
    except (KeyError, TypeError, AttributeError):
        return None
    # Spark reports the epoch until the query has seen event times.
    if not value or str(value).startswith(SPARK_NO_WATERMARK):
        return None
    return str(value)


def watermark_seconds(progress: Mapping[str, Any] | None) -> float | None:
    """:func:`watermark_of` as epoch seconds."""
    text = watermark_of(progress)
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def end_offsets_of(progress: Mapping[str, Any]) -> dict[tuple[str, int], int]:
    """(topic, partition) → the next offset to read, from a progress' sources."""
    offsets: dict[tuple[str, int], int] = {}
    for source in progress.get("sources") or []:
        end = source["endOffset"] if isinstance(source, Mapping) else source.endOffset
        if isinstance(end, str):
            try:
                end = json.loads(end)
            except ValueError:
                continue
        if not isinstance(end, Mapping):
            continue
        for topic, partitions in end.items():
            if isinstance(partitions, Mapping):
                for partition, offset in partitions.items():
                    offsets[(str(topic), int(partition))] = int(offset)
    return offsets


def republish_cutoff(watermark_s: float) -> int:
    """Window counts ending after this (unix seconds) are compared and republished.

    :data:`COUNTS_REPUBLISH_WINDOWS` window lengths before the 7a watermark, rounded
    down to a window boundary. Windows end on boundaries, so the rounding selects the
    same windows; it keeps the query's text, and so the code Spark generates for its
    filter, the same for a whole window length instead of new at every 7a batch (the
    cutoff is a literal in the generated Java: a new class compiled per batch).
    """
    window_s = transforms.WINDOW_S
    cutoff = int(watermark_s) - COUNTS_REPUBLISH_WINDOWS * window_s
    return cutoff // window_s * window_s


def window_count_message(
    machine: int, stream: str, window_start_s: int, window_end_s: int, count: int
) -> tuple[bytes, bytes]:
    """One 7a row as a Kafka message: key ``machine|stream|window_start``, JSON value."""

    def iso(seconds: int) -> str:
        return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    key = transforms.CMD_PID_SEPARATOR.join((str(machine), stream, iso(window_start_s)))
    value = {
        "machine": machine,
        transforms.WINDOW_START: iso(window_start_s),
        transforms.WINDOW_END: iso(window_end_s),
        transforms.STREAM: stream,
        transforms.COUNT: count,
    }
    return key.encode(), json.dumps(value).encode()


PROBES_PENDING_MAX: Final = 4
"""Probes left waiting for the broker at most; no new one is asked beyond that."""


def probe_broker(
    ask: Callable[[], None],
    *,
    period_s: float,
    stop: threading.Event,
    seconds_to_next: Callable[[], float],
    failed: Callable[[float], None],
    answered: Callable[[float], None],
) -> None:
    """Until ``stop`` is set: whenever ``seconds_to_next()`` says the broker has not been
    heard from for a probe period, call ``ask`` (a request to the broker) and report
    ``failed(asked_at)`` or ``answered(asked_at)``.

    Each request runs in a thread of its own, so that the outage is found by the clock:
    a kafka-python client made or asked while the broker is away can wait for its whole
    request timeout (30 s; in a clean-clone CI run the probe asked during a 20 s outage
    failed only after the broker's return, when it told nothing), and one that lost its
    connection can take many seconds to reconnect once the broker is back. A request
    still waiting after ``period_s`` reports ``failed`` at once and is left to end on
    its own (its end is reported too: a late answer ends the outage, a late failure is
    stale by then or confirms it); the next probe, a period later, is a new request.
    ``ask`` must be safe to call from several threads.
    """
    pending: list[threading.Thread] = []

    class Request:
        def __init__(self, asked_at: float) -> None:
            self.asked_at = asked_at
            self.lock = threading.Lock()
            self.ended = threading.Event()
            self.ok: bool | None = None  # set when ``ask`` returns or raises
            self.late = False  # reported as failed before it ended

        def run(self) -> None:
            try:
                ask()
                ok = True
            except Exception:  # the broker is away (or the client could not be made)
                ok = False
            with self.lock:
                self.ok, late = ok, self.late
            self.ended.set()
            if late and not stop.is_set():
                (answered if ok else failed)(self.asked_at)

    while not stop.wait(seconds_to_next()):
        if seconds_to_next() > 0:  # something else heard from the broker meanwhile
            continue
        pending = [t for t in pending if t.is_alive()]
        if len(pending) >= PROBES_PENDING_MAX:
            failed(time.time())  # still no answer to any: away (and a period to wait)
            continue
        probe = Request(time.time())
        thread = threading.Thread(target=probe.run, name="detector-broker-probe", daemon=True)
        thread.start()
        probe.ended.wait(period_s)
        with probe.lock:
            ok = probe.ok
            probe.late = ok is None
        if ok is None:
            failed(probe.asked_at)  # no answer within the period: away from the asking
            pending.append(thread)
        else:
            (answered if ok else failed)(probe.asked_at)


class ProgressForwarder(StreamingQueryListener):
    """Hands every query progress event to a queue (the listener bus must not wait)."""

    def __init__(self, inbox: queue.Queue[Any]) -> None:
        self.inbox = inbox

    def onQueryStarted(self, event: Any) -> None:
        pass

    def onQueryProgress(self, event: Any) -> None:
        self.inbox.put(("progress", event.progress))

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass


class DetectorMonitor:
    """The thread that turns finished micro-batches into health and window-count records.

    Args:
        spark: the detector's session (the 7a memory sink is read with it).
        kafka: client settings.
        topics: the detector's topics.
        counts_table: the 7a memory sink's table.
        on_status: called with each ingest batch's status (the detector's totals and
            its ``on_batch`` callback).
        alerts_total: the number of alerts raised so far (for the health record).
    """

    def __init__(
        self,
        spark: SparkSession,
        kafka: KafkaSettings,
        topics: DetectorTopics,
        *,
        counts_table: str,
        on_status: Callable[[BatchStatus], None],
        alerts_total: Callable[[], int],
    ) -> None:
        self.spark = spark
        self.kafka = kafka
        self.topics = topics
        self.counts_table = counts_table
        self.on_status = on_status
        self.alerts_total = alerts_total
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.listener = ProgressForwarder(self.inbox)
        self._figures: dict[tuple[str, int], IngestFigures] = {}
        self._handled: dict[str, int] = {}
        self._handled_changed = threading.Condition()
        self._published_counts: dict[str, int] = {}
        self._count_window_ends: dict[str, int] = {}
        self._counts_progress: Mapping[str, Any] | None = None
        self._producer: KafkaProducer | None = None
        self._consumer: KafkaConsumer | None = None
        self._thread: threading.Thread | None = None
        self._sessions: list[SparkSession] = []
        self.contact = BrokerContact(tuple(INGEST_QUERY))
        self._checked_at = time.monotonic()
        self._prober: threading.Thread | None = None
        self._probe_stop = threading.Event()

    # -- called from other threads --------------------------------------------------
    def start(self, sessions: list[SparkSession] | None = None) -> None:
        """Register the listener and start the thread.

        Args:
            sessions: every session whose queries report here (each session has its
                own query manager and listeners; default: :attr:`spark` alone).
        """
        self._sessions = list(sessions or [self.spark])
        for session in self._sessions:
            session.streams.addListener(self.listener)
        self._thread = threading.Thread(target=self._run, name="detector-monitor", daemon=True)
        self._thread.start()
        self._probe_stop.clear()
        self._prober = threading.Thread(
            target=self._probe_loop, name="detector-broker-probe", daemon=True
        )
        self._prober.start()

    def add_figures(self, figures: IngestFigures) -> None:
        """Hand over an ingest batch's figures (from its handler, before its progress)."""
        self.inbox.put(("figures", figures))

    def stop(self, timeout_s: float = 15.0) -> None:
        """Handle what is queued, flush, close the clients, end the thread."""
        for session in self._sessions:
            try:
                session.streams.removeListener(self.listener)
            except Exception:  # the JVM may be gone already (SIGTERM reached it)
                log.debug("could not remove the progress listener", exc_info=True)
        self._sessions = []
        self._probe_stop.set()
        prober, self._prober = self._prober, None
        if prober is not None:
            prober.join(timeout_s)
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.inbox.put((STOP, None))
        thread.join(timeout_s)

    def wait_until_handled(self, batches: Mapping[str, int], timeout_s: float = 60.0) -> bool:
        """Wait until the progress of ``batches`` (query name → batch id) was handled and
        what it caused was sent. Returns False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._handled_changed:
            while any(self._handled.get(name, -1) < bid for name, bid in batches.items()):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = {
                        name: (bid, self._handled.get(name))
                        for name, bid in batches.items()
                        if self._handled.get(name, -1) < bid
                    }
                    log.warning("progress not handled (query: wanted batch, handled): %s", missing)
                    return False
                self._handled_changed.wait(left)
        done = threading.Event()
        self.inbox.put(("flush", done))
        return done.wait(max(0.0, deadline - time.monotonic()))

    # -- the thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                kind, item = self.inbox.get()
                if kind is STOP:
                    break
                try:
                    if kind == "figures":
                        self._figures[(item.stream, item.batch_id)] = item
                    elif kind == "progress":
                        self._progress(item)
                    elif kind == "flush":
                        self._flush()
                        item.set()
                except Exception:  # publishing is best effort; the thread must go on
                    log.exception("the detector monitor failed on a %s event", kind)
        finally:
            self._close()

    def _progress(self, progress: Mapping[str, Any]) -> None:
        name = progress.get("name")
        batch_id = int(progress.get("batchId", -1))
        stream = next((s for s, q in INGEST_QUERY.items() if q == name), None)
        if stream is not None:
            figures = self._figures.pop((stream, batch_id), None)
            if figures is not None:
                self._ingest_done(figures, progress)
        elif name == self.counts_table:  # the 7a query is named after its table
            self._counts_progress = progress
            self._publish_counts()
        if isinstance(name, str):
            with self._handled_changed:
                self._handled[name] = max(batch_id, self._handled.get(name, -1))
                self._handled_changed.notify_all()

    def _ingest_done(self, figures: IngestFigures, progress: Mapping[str, Any]) -> None:
        lag = self._lag(figures.stream, progress)
        status = BatchStatus(
            stream=figures.stream,
            batch_id=figures.batch_id,
            messages=figures.messages,
            records=figures.records,
            quarantined=dict(figures.quarantined),
            scored=figures.scored,
            attacks=figures.attacks,
            duration_s=figures.duration_s,
            lag=lag,
            watermark=watermark_of(self._counts_progress),
            ended_at=figures.finished_at,
            broker_away_s=self.contact.take(figures.stream),
        )
        self.on_status(status)
        record = health_record(status, alerts_total=self.alerts_total(), at=datetime.now(UTC))
        self._send(self.topics.health, status.stream.encode(), json.dumps(record).encode())

    def _lag(self, stream: Stream, progress: Mapping[str, Any]) -> int | None:
        """Messages of the source topic after what the batch read, right now."""
        read = end_offsets_of(progress)
        if not read:
            return None
        asked_at = time.time()
        try:
            if self._consumer is None:
                self._consumer = KafkaConsumer(**kafka_io.client_config(self.kafka))
            partitions = [TopicPartition(t, p) for t, p in read]
            ends = self._consumer.end_offsets(partitions)
        except Exception:  # lag is informative; a broker hiccup must not stop anything
            log.warning("could not read the end offsets of %s", self.topics.source(stream))
            self._close_consumer()
            self._broker_failed(asked_at)
            return None
        self._broker_answered(asked_at)
        return sum(max(0, int(ends[tp]) - read[(tp.topic, tp.partition)]) for tp in partitions)

    def _probe_loop(self) -> None:
        """The prober's thread (:func:`probe_broker`). A thread of its own, because the
        monitor's thread can wait through an outage too: its read of the 7a memory sink
        is a Spark job, and both task slots may be held by ingest tasks waiting for the
        broker. Each request borrows the idle client (kafka-python clients are not
        shared between threads) or makes one when a stuck request holds it; a client
        that failed is closed, one more than the idle one is closed after its answer."""
        idle: list[KafkaConsumer] = []
        lock = threading.Lock()
        partitions = [TopicPartition(self.topics.source(s), 0) for s in INGEST_QUERY]

        def ask() -> None:
            with lock:
                client = idle.pop() if idle else None
            try:
                if client is None:
                    client = KafkaConsumer(**kafka_io.client_config(self.kafka))
                client.end_offsets(partitions, timeout_ms=int(BROKER_PROBE_S * 1000))
            except Exception:
                if client is not None:  # its connections may be broken: a new one next
                    with contextlib.suppress(Exception):
                        client.close()
                raise
            with lock:
                kept = not idle
                if kept:
                    idle.append(client)
            if not kept:  # another request's client is idle already
                with contextlib.suppress(Exception):
                    client.close()

        try:
            probe_broker(
                ask,
                period_s=BROKER_PROBE_S,
                stop=self._probe_stop,
                seconds_to_next=self._seconds_to_next_probe,
                failed=self._broker_failed,
                answered=self._broker_answered,
            )
        finally:
            with lock:
                left, idle[:] = list(idle), []
            for client in left:
                with contextlib.suppress(Exception):
                    client.close()

    def _seconds_to_next_probe(self) -> float:
        return max(0.0, BROKER_PROBE_S - (time.monotonic() - self._checked_at))

    def _broker_failed(self, asked_at: float) -> None:
        self._checked_at = time.monotonic()  # the next probe one period after this one
        # The outage counts from when the failed request was made, not from its timeout.
        if self.contact.failed(asked_at):
            self._log_away()

    def _log_away(self) -> None:
        log.warning(
            "Kafka at %s does not answer: the queries wait for it and resume where they "
            "stopped when it is back",
            self.kafka.bootstrap_servers,
        )

    def _broker_answered(self, asked_at: float) -> None:
        self._checked_at = time.monotonic()
        answered_at = time.time()
        if self.contact.failed_slowly(asked_at, answered_at, bound_s=BROKER_PROBE_S):
            self._log_away()  # from the asking on; the answer below ends it
            if not self.contact.away:  # it ended already, at an earlier answer
                log.warning(
                    "Kafka at %s answered again after %.1f s away",
                    self.kafka.bootstrap_servers,
                    self.contact.last_away_s or 0.0,
                )
        away_s = self.contact.answered(answered_at)
        if away_s is not None:
            log.warning(
                "Kafka at %s answers again after %.1f s away", self.kafka.bootstrap_servers, away_s
            )

    def _publish_counts(self) -> None:
        """Send the 7a rows whose count changed since they were last sent."""
        watermark = watermark_seconds(self._counts_progress)
        where = ""
        if watermark is not None:
            cutoff = republish_cutoff(watermark)
            where = f" WHERE unix_seconds({transforms.WINDOW_END}) > {cutoff}"
            for closed in [k for k, end in self._count_window_ends.items() if end <= cutoff]:
                self._count_window_ends.pop(closed, None)
                self._published_counts.pop(closed, None)
        rows = self.spark.sql(
            f"SELECT machine, {transforms.STREAM}, "
            f"unix_seconds({transforms.WINDOW_START}) AS start_s, "
            f"unix_seconds({transforms.WINDOW_END}) AS end_s, {transforms.COUNT} "
            f"FROM {self.counts_table}{where}"
        ).collect()
        for row in rows:
            key, value = window_count_message(
                int(row["machine"]), row[transforms.STREAM], int(row["start_s"]), int(row["end_s"]),
                int(row[transforms.COUNT]),
            )  # fmt: skip
            text = key.decode()
            if self._published_counts.get(text) == int(row[transforms.COUNT]):
                continue
            if self._send(self.topics.window_counts, key, value):
                self._published_counts[text] = int(row[transforms.COUNT])
                self._count_window_ends[text] = int(row["end_s"])

    def _send(self, topic: str, key: bytes, value: bytes) -> bool:
        try:
            if self._producer is None:
                self._producer = KafkaProducer(
                    **kafka_io.client_config(self.kafka, acks="all", linger_ms=20)
                )
            self._producer.send(topic, key=key, value=value)
            return True
        except Exception:
            log.warning("could not publish to %s", topic)
            return False

    def _flush(self) -> None:
        if self._producer is not None:
            try:
                self._producer.flush(timeout=self.kafka.request_timeout_s)
            except Exception:
                log.warning("could not flush the detector's health and window-count records")

    def _close_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                consumer.close()
            except Exception:
                log.debug("closing the lag consumer failed", exc_info=True)

    def _close(self) -> None:
        self._flush()
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=self.kafka.request_timeout_s)
            except Exception:
                log.debug("closing the detector's producer failed", exc_info=True)
        self._close_consumer()

"""The producers' kafka-python edge: ``Replayer`` replays a streaming CSV onto a topic.

``with Replayer(settings, "process", file=path) as replayer: report = replayer.run(cycles=3)``

The Kafka client is made on first use (so building a ``Replayer`` never blocks) and
closed by ``with``. It is idempotent with ``acks='all'``: while the broker is away the
client keeps the records and retries, and the broker drops any batch it already
wrote, so a short outage neither loses nor duplicates a record. A record that is
still not acknowledged after ``replay.delivery_timeout_s`` fails through its
errback; it is counted, reported, and stops the run.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from kafka import KafkaProducer
from kafka.errors import KafkaError
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    stop_when_event_set,
    wait_exponential,
)

from pipelines import kafka_io
from pipelines.config import Settings
from pipelines.errors import BrokerUnavailable, ConfigError
from pipelines.replay.clock import ClockKind, Pacer, cycle_period_s, make_clock
from pipelines.replay.loop import run_cycles
from pipelines.replay.message import MESSAGE_LAYOUTS, MessageLayout, encode_key, encode_tail
from pipelines.replay.plan import CyclePlan, CyclePlanner, PlannedRow
from pipelines.replay.report import ReplayReport
from pipelines.replay.rows import StreamRows, load_stream_rows
from pipelines.schema.columns import STREAMING_FILE_NAMES, STREAMS, Stream

TAIL_CACHE_SIZE = 64
"""(ts, pass) tails kept at once: one cycle needs a few (late rows, passes per machine)."""
FLUSH_MARGIN_S = 5.0
"""Extra seconds the final flush waits beyond the delivery timeout (every record has
failed or succeeded by then)."""


def default_file(settings: Settings, stream: Stream) -> Path:
    """The generated demo data's streaming file for ``stream`` (generated on first use)."""
    from pipelines.data.demo_set import ensure_demo_data

    return Path(ensure_demo_data(settings)) / STREAMING_FILE_NAMES[stream]


class Replayer:
    """Replays one stream's CSV onto Kafka in cycles (SPEC §3).

    Args:
        settings: the product settings (Kafka client, topics, ``replay`` cycle rules).
        stream: ``process`` or ``memory``.
        file: the streaming CSV; default: the generated demo data.
        seed: seed of the X/Y draws (``None``: a fresh random seed).
        speed: divides the cycle period (2 = twice as fast).
        max_rate: no pacing at all (benchmarks).
        clock: ``wall`` stamps the time a cycle starts; ``simulated`` advances ``ts``
            exactly one period per cycle from ``start_ts``.
        start_ts: first ``ts`` of the simulated clock (default: now, whole seconds).
        topic: overrides ``settings.kafka.topics.<stream>``.
        run_id: overrides the generated run id.
        layout: ``record`` sends one JSON object per record; ``array`` sends, per cycle,
            one message per machine holding a JSON array of that machine's rows
            (held-back rows first, each with its own ``ts``), key = machine: the layout
            that lets one producer offer a fleet's load (SPEC §3).
        on_progress: receives a :class:`ReplayReport` at most every
            ``replay.progress_interval_s`` seconds and once at the end.
        skip_bad_rows: leave out the file's bad rows (counted in the report's
            ``skipped_rows``) instead of refusing the file at the first one.
    """

    def __init__(
        self,
        settings: Settings,
        stream: Stream,
        *,
        file: Path | str | None = None,
        seed: int | None = None,
        speed: float = 1.0,
        max_rate: bool = False,
        clock: ClockKind = "wall",
        start_ts: float | None = None,
        topic: str | None = None,
        run_id: str | None = None,
        layout: MessageLayout = "record",
        on_progress: Callable[[ReplayReport], None] | None = None,
        skip_bad_rows: bool = False,
    ) -> None:
        if stream not in STREAMS:
            raise ConfigError(f"unknown stream {stream!r}: expected one of {', '.join(STREAMS)}")
        self.settings = settings
        self.stream = stream
        self.rule = getattr(settings.replay, stream)
        self.topic: str = topic or getattr(settings.kafka.topics, stream)
        self.run_id = run_id or uuid.uuid4().hex
        if layout not in MESSAGE_LAYOUTS:
            raise ConfigError(f"unknown message layout {layout!r}: {', '.join(MESSAGE_LAYOUTS)}")
        self.layout: MessageLayout = layout
        self.seed = seed
        self.period_s = cycle_period_s(self.rule.cycle_period_s, speed=speed, max_rate=max_rate)
        self.clock_kind: ClockKind = clock
        self.start_ts = start_ts
        self._file = Path(file) if file is not None else None
        self._rows: StreamRows | None = None
        self._on_progress = on_progress
        self.skip_bad_rows = skip_bad_rows
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._sent: Counter[int] = Counter()
        self._acked: Counter[int] = Counter()
        self._errors = 0
        self._last_error: str | None = None
        self._cycles = 0
        self._started = 0.0
        self._last_report = 0.0

    # -- inputs --------------------------------------------------------------------
    @property
    def file(self) -> Path:
        """The streaming CSV this run replays."""
        if self._file is None:
            self._file = default_file(self.settings, self.stream)
        return self._file

    @property
    def rows(self) -> StreamRows:
        """The file's rows per machine (read on first use)."""
        if self._rows is None:
            self._rows = load_stream_rows(self.file, self.stream, skip_bad_rows=self.skip_bad_rows)
        return self._rows

    # -- the Kafka client ------------------------------------------------------------
    def _connect(self, stop: threading.Event) -> KafkaProducer:
        """Make the topic and the client, retrying until the broker answers (bounded)."""
        kafka = self.settings.kafka
        replay = self.settings.replay
        attempt_ms = int(min(replay.connect_timeout_s, 10.0) * 1000)

        def create() -> KafkaProducer:
            kafka_io.ensure_topics(kafka, [self.topic])
            return KafkaProducer(
                **kafka_io.client_config(
                    kafka,
                    client_id=f"stophacking-{self.stream}-producer",
                    enable_idempotence=True,
                    acks="all",
                    linger_ms=replay.linger_ms,
                    delivery_timeout_ms=int(replay.delivery_timeout_s * 1000),
                    # send() blocks only when the buffer is full or the topic's
                    # metadata is unknown; past this the broker is really gone.
                    max_block_ms=int(replay.connect_timeout_s * 1000),
                    bootstrap_timeout_ms=attempt_ms,
                    reconnect_backoff_max_ms=1000,
                )
            )

        def pause(seconds: float) -> None:
            # Waiting on the stop event lets Ctrl-C end the wait for the broker at once.
            stop.wait(seconds)

        retrying = Retrying(
            stop=stop_after_delay(replay.connect_timeout_s) | stop_when_event_set(stop),
            wait=wait_exponential(multiplier=0.25, max=5.0),
            retry=retry_if_exception_type((KafkaError, OSError, BrokerUnavailable)),
            sleep=pause,
            reraise=True,
        )
        started = time.monotonic()
        try:
            producer: KafkaProducer = retrying(create)
        except (KafkaError, OSError, BrokerUnavailable) as exc:
            waited = time.monotonic() - started
            if stop.is_set():
                raise BrokerUnavailable(
                    f"the {self.stream} producer was stopped while waiting {waited:.0f} s for "
                    f"Kafka at {kafka.bootstrap_servers}; nothing was sent"
                ) from exc
            raise BrokerUnavailable(
                f"the {self.stream} producer could not reach Kafka at "
                f"{kafka.bootstrap_servers} for {waited:.0f} s "
                f"(replay.connect_timeout_s={replay.connect_timeout_s:g}): "
                f"{exc.__class__.__name__}: {exc}"
            ) from exc
        return producer

    # -- delivery callbacks (run on the client's I/O thread) ---------------------------
    def _delivered(self, machine: int, _metadata: object, records: int = 1) -> None:
        with self._lock:
            self._acked[machine] += records

    def _failed(self, machine: int, exc: BaseException, records: int = 1) -> None:
        with self._lock:
            self._errors += records
            self._last_error = f"machine {machine}: {exc.__class__.__name__}: {exc}"

    # -- running -----------------------------------------------------------------------
    def report(self, *, done: bool = False, reason: str | None = None) -> ReplayReport:
        """The run's figures so far (or its summary with ``done=True``)."""
        with self._lock:
            return ReplayReport(
                stream=self.stream,
                topic=self.topic,
                run_id=self.run_id,
                file=str(self._file) if self._file is not None else "",
                cycles=self._cycles,
                sent=dict(self._sent),
                acked=dict(self._acked),
                errors=self._errors,
                last_error=self._last_error,
                elapsed_s=time.monotonic() - self._started if self._started else 0.0,
                done=done,
                reason=reason,
                skipped_rows=len(self._rows.skipped) if self._rows is not None else 0,
            )

    def _progress(self, force: bool = False) -> None:
        if self._on_progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_report >= self.settings.replay.progress_interval_s:
            self._last_report = now
            self._on_progress(self.report())

    def run(
        self,
        cycles: int | None = None,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
    ) -> ReplayReport:
        """Replay until ``cycles`` or ``duration_s`` is reached or ``stop`` is set.

        Rows still held back at the end are sent, then everything is flushed.

        Args:
            cycles: number of cycles (``None``: unbounded).
            duration_s: start no cycle after this many seconds (``None``: unbounded).
            stop: set it (from a signal handler or another thread) to end cleanly.

        Returns:
            The summary: cycles, records sent and acknowledged per machine, errors.

        Raises:
            BrokerUnavailable: no broker answered within ``replay.connect_timeout_s``.
            ParseError: the file is not a valid streaming file.
            ConfigError: this replayer already ran.
        """
        if self._started:
            # A second run would restart every cursor under the same run_id and send
            # records whose identity (run_id, machine, pass, sequence) already exists.
            raise ConfigError("a Replayer runs once; make a new one for another run")
        stop = stop or threading.Event()
        rows = self.rows
        if stop.is_set():
            # Stopped while the file was being read (or generated): no need for Kafka.
            return self.report(done=True, reason="stopped")
        if self._producer is None:
            self._producer = self._connect(stop)
        producer = self._producer
        machines = rows.machines
        topic = self.topic
        run_id = self.run_id
        keys = {machine: encode_key(machine) for machine in machines}
        on_delivered = {m: functools.partial(self._delivered, m) for m in machines}
        on_failed = {m: functools.partial(self._failed, m) for m in machines}
        tails: dict[tuple[float, int], str] = {}
        for machine in machines:
            self._sent.setdefault(machine, 0)
        broken = threading.Event()

        def send(planned: PlannedRow) -> None:
            machine = planned.machine
            if broken.is_set():
                # The client could not take records for max_block_ms: the rest of
                # this cycle would block as long each; count them as failed instead.
                self._failed(machine, BrokerUnavailable("not sent: Kafka stopped accepting"))
                return
            # Hot path (max-rate): the tail is shared by a cycle's records, and the
            # callbacks are bound once per machine instead of once per record.
            tail = tails.get((planned.ts, planned.pass_))
            if tail is None:
                if len(tails) > TAIL_CACHE_SIZE:
                    tails.clear()  # old cycles' tails are never needed again
                tail = tails[(planned.ts, planned.pass_)] = encode_tail(
                    ts=planned.ts, run_id=run_id, pass_=planned.pass_
                )
            value = (machines[machine][planned.index].body + tail).encode()
            try:
                future = producer.send(topic, key=keys[machine], value=value)
            except KafkaError as exc:
                broken.set()
                self._failed(machine, exc)
                return
            future.add_callback(on_delivered[machine])
            future.add_errback(on_failed[machine])
            # Only this thread writes _sent, and its keys exist from the start (below),
            # so readers on other threads never see it change size: no lock per record.
            self._sent[machine] += 1

        # The array layout: a cycle's rows are gathered per machine, then sent as one
        # message per machine when the cycle has handed them all over.
        gathered: dict[int, list[str]] = {}

        def gather(planned: PlannedRow) -> None:
            tail = tails.get((planned.ts, planned.pass_))
            if tail is None:
                if len(tails) > TAIL_CACHE_SIZE:
                    tails.clear()
                tail = tails[(planned.ts, planned.pass_)] = encode_tail(
                    ts=planned.ts, run_id=run_id, pass_=planned.pass_
                )
            gathered.setdefault(planned.machine, []).append(
                machines[planned.machine][planned.index].body + tail
            )

        def send_gathered() -> None:
            for machine, bodies in gathered.items():
                count = len(bodies)
                if broken.is_set():
                    self._failed(
                        machine, BrokerUnavailable("not sent: Kafka stopped accepting"), count
                    )
                    continue
                value = ("[" + ",".join(bodies) + "]").encode()
                try:
                    future = producer.send(topic, key=keys[machine], value=value)
                except KafkaError as exc:
                    broken.set()
                    self._failed(machine, exc, count)
                    continue
                future.add_callback(functools.partial(self._delivered, machine, records=count))
                future.add_errback(functools.partial(self._failed, machine, records=count))
                self._sent[machine] += count
            gathered.clear()

        def on_cycle(plan: CyclePlan) -> None:
            if self.layout == "array":
                send_gathered()
            self._cycles = plan.cycle + 1
            self._progress()

        def should_abort() -> bool:
            return broken.is_set() or self._errors > 0

        clock = make_clock(
            self.clock_kind, self.rule.cycle_period_s, start_ts=self.start_ts, now=time.time
        )
        planner = CyclePlanner(rows.row_counts, self.rule, random.Random(self.seed))
        self._started = time.monotonic()
        result = run_cycles(
            planner,
            clock,
            Pacer(self.period_s),
            gather if self.layout == "array" else send,
            cycles=cycles,
            duration_s=duration_s,
            stop=stop,
            on_cycle=on_cycle,
            should_abort=should_abort,
            on_tick=self._progress,
            tick_s=self.settings.replay.progress_interval_s,
        )
        if self.layout == "array":
            send_gathered()  # the held-back rows sent after the last cycle
        self._flush()
        self._progress(force=True)
        return self.report(done=True, reason=result.reason)

    def _flush(self) -> None:
        """Wait until every record is acknowledged or failed; count the rest as errors."""
        if self._producer is None:
            return
        try:
            self._producer.flush(timeout=self.settings.replay.delivery_timeout_s + FLUSH_MARGIN_S)
        except KafkaError as exc:
            with self._lock:
                unresolved = sum(self._sent.values()) - sum(self._acked.values()) - self._errors
                self._errors += max(0, unresolved)
                self._last_error = f"flush on exit: {exc.__class__.__name__}: {exc}"

    def close(self, timeout_s: float | None = None) -> None:
        """Flush and close the Kafka client (idempotent).

        Args:
            timeout_s: how long to wait for unacknowledged records (default: the
                delivery timeout plus a margin).
        """
        producer, self._producer = self._producer, None
        if producer is None:
            return
        if timeout_s is None:
            timeout_s = self.settings.replay.delivery_timeout_s + FLUSH_MARGIN_S
        # Whatever is still unresolved was counted by run(); closing must not raise.
        with contextlib.suppress(KafkaError):
            producer.flush(timeout=timeout_s)
        producer.close(timeout=min(timeout_s, FLUSH_MARGIN_S))

    def __enter__(self) -> Replayer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Leaving on an exception (a second Ctrl-C, a bug): do not wait minutes.
        self.close(timeout_s=FLUSH_MARGIN_S if exc is not None else None)

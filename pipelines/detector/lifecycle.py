"""The detector while it runs: its queries and monitor thread, catching up, stopping.

:class:`RunningQueries` holds the started queries by name, the
:class:`~pipelines.detector.monitor.DetectorMonitor` thread and the event set while
they stop. It answers whether a query failed, waits until the queries have read what
their topics hold (:meth:`RunningQueries.drain`, bounded, from the checkpoints; the
offset arithmetic is :mod:`~pipelines.detector.drain`) and stops them, between two
micro-batches if asked (:meth:`RunningQueries.stop_gracefully`). What a stop does to a
running ``foreachBatch`` handler is :class:`~pipelines.detector.streaming.StopAwareHandler`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from pyspark.sql.streaming import StreamingQuery

from pipelines import kafka_io
from pipelines.config import Settings
from pipelines.detector.drain import DrainReport, caught_up, committed_offsets, offsets_behind
from pipelines.detector.layout import COUNTS_CHECKPOINT, INGEST_QUERY, PAIRS_QUERY, DetectorTopics
from pipelines.detector.monitor import DetectorMonitor
from pipelines.detector.streaming import PY4J_CALLBACK_LOGGER, StopNoiseFilter
from pipelines.errors import ConfigError
from pipelines.schema.columns import STREAMS

log = logging.getLogger(__name__)

DRAIN_POLL_S: Final = 0.25
"""How often a drain reads the queries' checkpoints."""
STOP_IDLE_WAIT_S: Final = 5.0
"""Longest a graceful stop waits for one query to finish its running trigger."""
IDLE_POLL_S: Final = 0.05


def wait_for_idle(query: StreamingQuery, timeout_s: float) -> None:
    """Wait (bounded) until ``query`` is between two triggers, so the stop interrupts
    no micro-batch. A trigger may still begin right after: that one is cut short."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if not query.isActive or not query.status["isTriggerActive"]:
                return
        except Exception:  # the JVM is going away: stop at once
            return
        time.sleep(IDLE_POLL_S)


class RunningQueries:
    """The queries and monitor thread of one detector, and the event set while they stop.

    Creating one installs a :class:`~pipelines.detector.streaming.StopNoiseFilter` on
    py4j's callback logger.

    Args:
        settings: the Kafka client settings (end offsets) and the drain's default bound.
        topics: the detector's topics.
        checkpoint_dir: root of the queries' checkpoints (what a drain reads).
    """

    def __init__(self, settings: Settings, topics: DetectorTopics, checkpoint_dir: Path) -> None:
        self.settings = settings
        self.topics = topics
        self.checkpoint_dir = checkpoint_dir
        self._queries: dict[str, StreamingQuery] = {}
        self.monitor: DetectorMonitor | None = None
        self.stopping = threading.Event()
        logging.getLogger(PY4J_CALLBACK_LOGGER).addFilter(StopNoiseFilter(self.stopping))

    def __bool__(self) -> bool:
        return bool(self._queries)

    def add(self, name: str, query: StreamingQuery) -> None:
        """Hold a started query (:meth:`stop` stops it)."""
        self._queries[name] = query

    def last_progress(self, name: str) -> Any:
        """The last progress of the running query ``name``, None without one."""
        query = self._queries.get(name)
        return query.lastProgress if query is not None else None

    def by_name(self) -> dict[str, StreamingQuery]:
        """A copy of the running queries by name."""
        return dict(self._queries)

    def failure(self) -> str | None:
        """The first failed query's name and error, or None while all are healthy."""
        for name, query in self._queries.items():
            if not query.isActive:
                error = query.exception()
                if error is not None:
                    return f"query {name} failed: {str(error).strip().splitlines()[0]}"
        return None

    def wait(
        self, *, duration_s: float | None, stop: threading.Event | None, poll_s: float
    ) -> str | None:
        """Wait until ``duration_s`` passes, ``stop`` is set or a query fails.

        Args:
            duration_s: seconds to wait (None: until ``stop`` or a failure).
            stop: set it from another thread or a signal handler to end cleanly.
            poll_s: how often to check, seconds.

        Returns:
            None when the time ran out or ``stop`` was set, else :meth:`failure`.
        """
        stop = stop or threading.Event()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while not stop.is_set():
            failure = self.failure()
            if failure is not None:
                return failure
            if deadline is not None and time.monotonic() >= deadline:
                break
            wait = poll_s if deadline is None else min(poll_s, deadline - time.monotonic())
            stop.wait(max(0.0, wait))
        return None

    def process_all_available(self, timeout_s: float) -> None:
        """Block until every query has processed what its sources hold now, and the
        monitor has sent the health and window-count records of those batches.

        Ingest queries first, so the monitoring queries then see every attack record.

        Raises:
            StreamingQueryException: a query has failed.
            ConfigError: the monitor did not catch up within ``timeout_s`` seconds.
        """
        for name in INGEST_QUERY.values():
            self._queries[name].processAllAvailable()
        for name, query in self._queries.items():
            if name not in INGEST_QUERY.values():
                query.processAllAvailable()
        latest: dict[str, int] = {}
        for name, query in self._queries.items():
            progress: Any = query.lastProgress
            if progress:
                # An idle trigger reports the id of the batch it did NOT run (and
                # listeners hear of it as idle, not as progress): wait for the one before.
                ran = "addBatch" in (progress.get("durationMs") or {})
                latest[name] = int(progress["batchId"]) - (0 if ran else 1)
        if self.monitor is not None and not self.monitor.wait_until_handled(latest, timeout_s):
            raise ConfigError(f"the detector's monitor did not catch up in {timeout_s} s")

    def _end_offsets(self, topics: list[str]) -> dict[tuple[str, int], int]:
        return kafka_io.partition_end_offsets(self.settings.kafka, topics)

    def _wait_until(self, condition: Callable[[], bool], deadline: float, poll_s: float) -> bool:
        """Poll ``condition`` until it holds (True), the deadline passes or a query fails."""
        while not condition():
            if time.monotonic() >= deadline or self.failure() is not None:
                return False
            time.sleep(poll_s)
        return True

    def drain(self, timeout_s: float, *, poll_s: float = DRAIN_POLL_S) -> bool:
        """Wait until the queries have read what the source topics hold now (bounded).

        First every ingest query, until it has committed a micro-batch ending at its
        source topic's end offsets as they are now; then the 7a and 7b queries, until
        each has read both attack topics to their end offsets as they are then (the
        ingest wrote its last attack records before committing). Progress is read from
        the checkpoints, which is also what the next start resumes from. Nothing is
        stopped; unlike ``processAllAvailable()`` this never waits past ``timeout_s``.

        Args:
            timeout_s: the longest wait, seconds.
            poll_s: how often to look, seconds.

        Returns:
            True when every query caught up in time; False on timeout, when a query
            failed, or when the broker could not be asked for the end offsets.
        """
        deadline = time.monotonic() + timeout_s
        ingest = {s: self.checkpoint_dir / INGEST_QUERY[s] for s in STREAMS}
        monitoring = [self.checkpoint_dir / COUNTS_CHECKPOINT, self.checkpoint_dir / PAIRS_QUERY]
        try:
            ends = {s: self._end_offsets([self.topics.source(s)]) for s in STREAMS}
        except Exception as exc:  # the broker is away: nothing to wait for
            log.warning("draining: the source topics' end offsets are unknown: %s", exc)
            return False

        def ingest_caught_up() -> bool:
            return all(caught_up(ends[s], committed_offsets(ingest[s])) for s in STREAMS)

        if not self._wait_until(ingest_caught_up, deadline, poll_s):
            return False
        try:
            attack_ends = self._end_offsets([self.topics.attacks(s) for s in STREAMS])
        except Exception as exc:
            log.warning("draining: the attack topics' end offsets are unknown: %s", exc)
            return False
        return self._wait_until(
            lambda: all(caught_up(attack_ends, committed_offsets(c)) for c in monitoring),
            deadline,
            poll_s,
        )

    def unread(self) -> dict[str, int] | None:
        """Per stream, the source topic's records the ingest query has not committed
        (what the next start reads first); None when the broker cannot be asked."""
        try:
            return {
                stream: offsets_behind(
                    self._end_offsets([self.topics.source(stream)]),
                    committed_offsets(self.checkpoint_dir / INGEST_QUERY[stream]),
                )
                for stream in STREAMS
            }
        except Exception as exc:
            log.warning("the records left for the next start could not be counted: %s", exc)
            return None

    def stop_gracefully(
        self, timeout_s: float | None = None, *, before_stop: Callable[[], None] | None = None
    ) -> DrainReport:
        """Drain (:meth:`drain`, bounded), stop every query between two micro-batches,
        and count what remains for the next start.

        Stop the producers first: the end offsets are taken when this is called, so
        records sent afterwards are left for the next start (and counted as such).

        Args:
            timeout_s: the longest drain, seconds (default
                ``settings.detector.drain_timeout_s``; 0 stops at once).
            before_stop: called after the drain, before the queries stop (a last
                read-back of the memory sink, say); its failure is logged, not raised.
        """
        if timeout_s is None:
            timeout_s = self.settings.detector.drain_timeout_s
        started = time.monotonic()
        drained = self.drain(timeout_s) if self._queries and timeout_s > 0 else None
        waited_s = time.monotonic() - started
        if before_stop is not None:
            try:
                before_stop()
            except Exception:  # stopping matters more than what it wanted to show
                log.warning("the call before the stop failed", exc_info=True)
        self.stop(idle_wait_s=STOP_IDLE_WAIT_S)
        return DrainReport(remaining=self.unread(), waited_s=waited_s, timed_out=drained is False)

    def stop(self, *, idle_wait_s: float = 0.0) -> None:
        """Set :attr:`stopping`, stop every query, then the monitor thread (idempotent).

        Args:
            idle_wait_s: wait up to this long, per query, for it to be between two
                triggers before stopping it (0: stop at once, cutting a batch short).
        """
        self.stopping.set()
        queries, self._queries = self._queries, {}
        # The ingest first (they start last): nothing then writes an attack topic
        # after its readers stopped.
        ingest = set(INGEST_QUERY.values())
        for name, query in sorted(queries.items(), key=lambda item: item[0] not in ingest):
            try:
                if idle_wait_s > 0:
                    wait_for_idle(query, idle_wait_s)
                query.stop()
            except Exception as exc:  # stopping the others matters more than this one's error
                # Typically the JVM is already going down (SIGTERM reached it too).
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                log.warning("stopping query %s failed: %s", name, first_line)
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            monitor.stop(timeout_s=self.settings.kafka.request_timeout_s)

"""The live host agent: sample this host's processes every interval, publish atop's rows.

``Agent(settings).run(duration_s=60)`` reads every process (:mod:`~pipelines.agent.procfs`),
waits one interval, reads again, and publishes one process row and one memory row per
process for the interval (:mod:`~pipelines.agent.fields`) to the process and memory
topics, in the producers' array layout (SPEC §3: key = machine, one JSON array of the
interval's rows per stream, in chunks), with ``machine``, ``sequence`` (counting per
machine and stream from 1), ``ts`` (the sample's unix second), ``run_id`` and ``pass`` 0.
The detector, the live consumers and the workbench read them as any producer's rows.
"""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pipelines.agent.exits import ExitWatcher
from pipelines.agent.fields import ExitStatus, ProcReading, Row, interval_rows
from pipelines.agent.kafka_publisher import Publisher
from pipelines.agent.outbox import Interval, Message, Outbox
from pipelines.agent.procfs import Reading, mem_total_kib, read_all
from pipelines.config import Settings
from pipelines.replay.clock import Pacer
from pipelines.replay.report import ReplayReport
from pipelines.schema.columns import MEMORY_COLUMNS, PASS, PROCESS_COLUMNS, RUN_ID, TS, Stream

MACHINE_ID_BASE: Final = 10_000
MACHINE_ID_SPAN: Final = 90_000
"""Derived machine ids lie in 10000..99999: apart from the replayed fleets' 1..N."""
CLOSE_TIMEOUT_S: Final = 10.0
LIVE_SOURCE: Final = "this machine (live)"
"""What the agent's progress lines name as their input (a producer names its file)."""


def machine_id(host_name: str | None = None) -> int:
    """A stable machine id for a host: the same name always gives the same number."""
    name = host_name if host_name is not None else socket.gethostname()
    return MACHINE_ID_BASE + zlib.crc32(name.encode()) % MACHINE_ID_SPAN


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class AgentReport:
    """What an agent run did so far (or in all, when ``done``).

    Attributes:
        machine: the machine id its rows carry.
        run_id: the run's id.
        topics: (process topic, memory topic).
        intervals: intervals sampled and published.
        records: stream → rows sampled.
        acked: rows Kafka acknowledged.
        dropped: rows given up because Kafka stayed away (oldest intervals first).
        waiting: rows sampled and neither acknowledged nor dropped yet.
        vanished: processes that ended while being read (reported as ended next).
        denied: processes whose files could not be read.
        exits_heard: whether ended processes get their exit codes.
        cpu_s: the agent's own CPU time (user + system), seconds.
        elapsed_s: seconds since the first reading.
        last_error: the latest Kafka error, for people.
        done: True for the final report.
    """

    machine: int
    run_id: str
    topics: tuple[str, str]
    intervals: int
    records: dict[str, int]
    acked: int
    dropped: int
    waiting: int
    vanished: int
    denied: int
    exits_heard: bool
    cpu_s: float
    elapsed_s: float
    last_error: str | None = None
    done: bool = False

    @property
    def sampled(self) -> int:
        return sum(self.records.values())

    @property
    def cpu_share(self) -> float:
        """The agent's CPU time per wall second (1.0 = one core busy)."""
        return self.cpu_s / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """One JSON progress line: a producer's line (:class:`ReplayReport`), so that the
        workbench's producer card can follow the agent too, plus the agent's own keys."""
        as_producer = ReplayReport(
            stream="agent",
            topic=" + ".join(self.topics),
            run_id=self.run_id,
            file=LIVE_SOURCE,
            cycles=self.intervals,
            sent={self.machine: self.sampled},
            acked={self.machine: self.acked},
            errors=self.dropped,
            last_error=self.last_error,
            elapsed_s=self.elapsed_s,
            done=self.done,
        )
        return as_producer.to_json() | {
            "machine": self.machine,
            "records": dict(self.records),
            "dropped": self.dropped,
            "waiting": self.waiting,
            "vanished": self.vanished,
            "denied": self.denied,
            "exits_heard": self.exits_heard,
            "cpu_share": round(self.cpu_share, 4),
        }

    def summary_lines(self) -> list[str]:
        return [
            f"agent (machine {self.machine}): {self.intervals} intervals, "
            f"{self.records.get('process', 0):,} process and {self.records.get('memory', 0):,} "
            f"memory rows; {self.acked:,} acknowledged, {self.dropped:,} dropped, "
            f"{self.waiting:,} waiting; in {self.elapsed_s:.1f} s",
            f"agent CPU: {self.cpu_s:.2f} s = {100 * self.cpu_share:.2f} % of one core; "
            f"processes that ended while read: {self.vanished}, unreadable: {self.denied}",
        ]


class Agent:
    """Samples this host and publishes its rows (see the module doc).

    Args:
        settings: Kafka client, topics and ``agent`` settings.
        machine: machine id (default: ``settings.agent.machine``, else derived from the
            host name by :func:`machine_id`).
        interval_s: seconds between samples (default ``settings.agent.interval_s``).
        run_id: the run's id (default: a fresh one).
        on_progress: receives an :class:`AgentReport` at most every
            ``agent.progress_interval_s`` and once at the end.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        machine: int | None = None,
        interval_s: float | None = None,
        run_id: str | None = None,
        on_progress: Callable[[AgentReport], None] | None = None,
    ) -> None:
        agent = settings.agent
        self.settings = settings
        chosen = machine if machine is not None else agent.machine
        self.machine: int = chosen if chosen is not None else machine_id()
        self.interval_s = interval_s or agent.interval_s
        self.run_id = run_id or uuid.uuid4().hex
        self.topics: dict[Stream, str] = {
            "process": settings.kafka.topics.process,
            "memory": settings.kafka.topics.memory,
        }
        self.outbox = Outbox(agent.max_buffered_intervals)
        self.publisher = Publisher(settings, self.outbox)
        self._on_progress = on_progress
        # The last sequence number per stream: also how many rows of it were sampled.
        self._sequence: dict[Stream, int] = {"process": 0, "memory": 0}
        self._intervals = 0
        self._vanished = 0
        self._denied = 0
        self._exits_heard = False
        self._started = 0.0
        self._cpu0 = 0.0
        self._last_report = 0.0

    # -- rows → messages ----------------------------------------------------------------
    def _messages(self, stream: Stream, rows: Sequence[Row], ts: int) -> list[Message]:
        columns = PROCESS_COLUMNS if stream == "process" else MEMORY_COLUMNS
        key = str(self.machine).encode()
        records: list[dict[str, Any]] = []
        for row in rows:
            self._sequence[stream] += 1
            record: dict[str, Any] = {"sequence": self._sequence[stream], "machine": self.machine}
            record.update((c, row[c]) for c in columns[2:])
            record.update({TS: ts, RUN_ID: self.run_id, PASS: 0})
            records.append(record)
        chunk = self.settings.agent.chunk_records
        return [
            Message(
                topic=self.topics[stream],
                key=key,
                value=json.dumps(records[i : i + chunk], separators=(",", ":")).encode(),
                records=len(records[i : i + chunk]),
            )
            for i in range(0, len(records), chunk)
        ]

    # -- the loop -----------------------------------------------------------------------
    def report(self, *, done: bool = False) -> AgentReport:
        counts = self.outbox.counts
        return AgentReport(
            machine=self.machine,
            run_id=self.run_id,
            topics=(self.topics["process"], self.topics["memory"]),
            intervals=self._intervals,
            records={stream: rows for stream, rows in self._sequence.items()},
            acked=counts.acked,
            dropped=counts.dropped,
            waiting=self.outbox.waiting_records,
            vanished=self._vanished,
            denied=self._denied,
            exits_heard=self._exits_heard,
            cpu_s=_cpu_s() - self._cpu0,
            elapsed_s=time.monotonic() - self._started if self._started else 0.0,
            last_error=self.publisher.last_error,
            done=done,
        )

    def _progress(self) -> None:
        if self._on_progress is None:
            return
        now = time.monotonic()
        if now - self._last_report >= self.settings.agent.progress_interval_s:
            self._last_report = now
            self._on_progress(self.report())

    def _wait(self, delay_s: float, stop: threading.Event) -> bool:
        """Wait ``delay_s``, reporting progress meanwhile; True when stopped."""
        until = time.monotonic() + delay_s
        step = self.settings.agent.progress_interval_s
        while (left := until - time.monotonic()) > 0:
            if stop.wait(min(left, step)):
                return True
            self._progress()
        return stop.is_set()

    def _publish(
        self,
        interval: int,
        before: Mapping[int, ProcReading],
        reading: Reading,
        ended: Mapping[int, ExitStatus],
        mem_total_kib: float,
    ) -> None:
        """Turn one interval's two readings into rows and hand them to the outbox."""
        ts = int(time.time())
        self._vanished += reading.counts.vanished
        self._denied += reading.counts.denied
        process_rows, memory_rows = interval_rows(
            before, reading.processes, ended, mem_total_kib=mem_total_kib
        )
        messages = self._messages("process", process_rows, ts)
        messages += self._messages("memory", memory_rows, ts)
        self.outbox.add(Interval(index=interval, messages=messages))
        self._intervals = interval
        self.publisher.wake()

    def run(
        self,
        *,
        duration_s: float | None = None,
        intervals: int | None = None,
        stop: threading.Event | None = None,
    ) -> AgentReport:
        """Sample and publish until ``duration_s`` or ``intervals`` or ``stop``.

        The first reading only starts the first interval; each later one publishes the
        interval it ends. At the end, what waits in the outbox gets up to
        ``agent.delivery_timeout_s`` (bounded by 10 s) to be acknowledged.
        """
        stop = stop or threading.Event()
        self._started, self._cpu0 = time.monotonic(), _cpu_s()
        deadline = None if duration_s is None else self._started + duration_s
        pacer = Pacer(self.interval_s)
        pacer.start()
        total_kib = mem_total_kib()
        self.publisher.start()
        try:
            with ExitWatcher() as exits:
                self._exits_heard = exits.available
                before = read_all().processes
                exits.take()
                interval = 0
                while not stop.is_set():
                    if intervals is not None and interval >= intervals:
                        break
                    delay = pacer.delay_s(interval + 1)
                    if deadline is not None and time.monotonic() + delay > deadline:
                        break
                    if self._wait(delay, stop):
                        break
                    reading = read_all()
                    interval += 1
                    self._publish(interval, before, reading, exits.take(), total_kib)
                    before = reading.processes
                    self._progress()
        finally:
            self.publisher.flush(min(self.settings.agent.delivery_timeout_s, CLOSE_TIMEOUT_S))
            self.publisher.close()
        report = self.report(done=True)
        if self._on_progress is not None:
            self._on_progress(report)
        return report

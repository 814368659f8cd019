"""The agent's outbox: intervals waiting for Kafka, bounded, oldest dropped first (pure).

Every interval becomes a few messages (one JSON array of rows per stream, in chunks).
A message is *queued* until it is handed to the Kafka client, *in flight* until the
broker acknowledges it (or the client gives up, which queues it again), then done. The
outbox keeps at most ``max_intervals`` intervals that are not done; when one more
arrives, the oldest is dropped: its queued records are counted as dropped at once, its
in-flight records only if the client later fails them (they cannot be called back).
So a broker that stays away costs a bounded amount of memory and an exact count of what
was lost.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Message:
    """One Kafka message of an interval."""

    topic: str
    key: bytes
    value: bytes
    records: int
    state: str = "queued"  # queued → in_flight → done


@dataclass
class Interval:
    """The messages of one sampled interval."""

    index: int
    messages: list[Message]
    dropped: bool = False

    @property
    def done(self) -> bool:
        return all(m.state == "done" for m in self.messages)


@dataclass
class OutboxCounts:
    """Records by fate, over the run."""

    acked: int = 0
    dropped: int = 0
    retried: int = 0
    dropped_intervals: int = 0


@dataclass
class Outbox:
    """Intervals not yet acknowledged; thread-safe (Kafka callbacks run on its I/O thread).

    Args:
        max_intervals: most intervals kept while the broker does not acknowledge them.
    """

    max_intervals: int
    counts: OutboxCounts = field(default_factory=OutboxCounts)
    _pending: deque[Interval] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.max_intervals < 1:
            raise ValueError("the outbox must hold at least one interval")

    def add(self, interval: Interval) -> None:
        """Keep ``interval``; drop the oldest one if that makes too many."""
        with self._lock:
            self._pending.append(interval)
            while len(self._pending) > self.max_intervals:
                oldest = self._pending.popleft()
                oldest.dropped = True
                self.counts.dropped_intervals += 1
                for message in oldest.messages:
                    if message.state == "queued":
                        message.state = "done"
                        self.counts.dropped += message.records

    def take_queued(self) -> list[tuple[Interval, Message]]:
        """Messages to hand to the client now, oldest interval first (marked in flight)."""
        with self._lock:
            ready = [(i, m) for i in self._pending for m in i.messages if m.state == "queued"]
            for _interval, message in ready:
                message.state = "in_flight"
        return ready

    def unsent(self, message: Message) -> None:
        """The client refused ``message`` before taking it: queue it again."""
        with self._lock:
            message.state = "queued"

    def acknowledged(self, interval: Interval, message: Message) -> None:
        """The broker acknowledged ``message`` (Kafka callback)."""
        with self._lock:
            message.state = "done"
            self.counts.acked += message.records
            self._forget_done()

    def failed(self, interval: Interval, message: Message) -> None:
        """The client gave up on ``message`` (Kafka errback): retry it, unless dropped."""
        with self._lock:
            if interval.dropped:
                message.state = "done"
                self.counts.dropped += message.records
            else:
                message.state = "queued"
                self.counts.retried += message.records
            self._forget_done()

    def _forget_done(self) -> None:
        self._pending = deque(i for i in self._pending if not i.done)

    @property
    def waiting_records(self) -> int:
        """Records neither acknowledged nor dropped yet."""
        with self._lock:
            return sum(m.records for i in self._pending for m in i.messages if m.state != "done")

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def intervals(self) -> list[Interval]:
        """The intervals kept now (oldest first)."""
        with self._lock:
            return list(self._pending)

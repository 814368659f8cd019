"""Helpers for tests on the embedded 3-node cluster: ports, leadership, progress gaps.

- :func:`free_port_block`: a run of free loopback ports for a cluster's nodes.
- :func:`lead_from`: make one node the leader of every partition of some topics (a
  replica order change and a preferred-leader election: no data moves).
- :class:`Progress`: when each watched counter last grew, so a test can say how long
  each part of the pipeline stood still around a fault (:func:`longest_gap`).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import pairwise

from kafka import KafkaAdminClient, TopicPartition

from pipelines import kafka_io
from pipelines.config import KafkaSettings

POLL_S = 0.2


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(size: int, attempts: int = 50) -> int:
    """The first of ``size`` consecutive loopback ports that are all free now."""
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + size < 65536 and all(_free(first + i) for i in range(size)):
            return first
    raise AssertionError(f"no {size} consecutive free ports found in {attempts} attempts")


def lead_from(kafka: KafkaSettings, topics: Sequence[str], node_id: int, timeout_s: float) -> None:
    """Make ``node_id`` the leader of every partition of ``topics`` (it must be a replica)."""
    states = kafka_io.partition_states(kafka, topics)
    moves = {
        TopicPartition(topic, partition): [node_id, *(r for r in s.replicas if r != node_id)]
        for (topic, partition), s in states.items()
        if s.leader != node_id
    }
    if not moves:
        return
    admin = KafkaAdminClient(**kafka_io.client_config(kafka))
    try:
        admin.alter_partition_reassignments(moves)
        deadline = time.monotonic() + timeout_s
        while True:
            now = kafka_io.partition_states(kafka, topics)
            if all(now[(tp.topic, tp.partition)].replicas[0] == node_id for tp in moves):
                break
            assert time.monotonic() < deadline, f"replica order of {list(moves)} not changed"
            time.sleep(POLL_S)
        admin.elect_leaders(0, {tp.topic: [tp.partition] for tp in moves})
    finally:
        admin.close()
    while any(s.leader != node_id for s in kafka_io.partition_states(kafka, topics).values()):
        assert time.monotonic() < deadline, f"node {node_id} did not become leader of {topics}"
        time.sleep(POLL_S)


def longest_gap(grew_at: Iterable[float], start: float, end: float) -> float:
    """The longest time between two successive growths within [start, end] (the
    counter's usual rhythm when the window holds no fault)."""
    times = sorted(t for t in grew_at if start <= t <= end)
    return max((b - a for a, b in pairwise(times)), default=0.0)


class Progress:
    """A thread that samples counters every :data:`POLL_S` and keeps, per counter, the
    times at which it grew.

    Args:
        counters: name → a callable returning the counter's current value (cheap, safe
            to call from another thread).
    """

    def __init__(self, counters: Mapping[str, Callable[[], int]]) -> None:
        self.counters = dict(counters)
        self.grew_at: dict[str, list[float]] = {name: [] for name in counters}
        self._last = dict.fromkeys(counters, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def start(self) -> Progress:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            for name, read in self.counters.items():
                value = read()
                if value > self._last[name]:
                    self.grew_at[name].append(now)
                    self._last[name] = value
            self._stop.wait(POLL_S)

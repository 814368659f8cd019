"""Draining the detector before it stops: what its queries read against what the topics hold.

A graceful stop (:meth:`pipelines.detector.lifecycle.RunningQueries.stop_gracefully`,
behind ``Detector.stop_gracefully``) waits, up to a
deadline, until every ingest query has committed a micro-batch that ends at its source
topic's end offsets, then until the monitoring queries (7a, 7b) have read the attack
topics to their end, and only then stops the queries: no micro-batch is cut short, and
what is left for the next start is counted rather than guessed.

The arithmetic on offsets and the stop sentence are pure (unit-tested with plain
values); reading a query's committed offsets from its checkpoint folder is the one
piece of I/O, and the checkpoint is what the next start resumes from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TopicPartition = tuple[str, int]
"""(topic, partition)."""


def offsets_behind(ends: Mapping[TopicPartition, int], read: Mapping[TopicPartition, int]) -> int:
    """How many offsets of ``ends`` a reader that reached ``read`` has not read yet.

    Args:
        ends: end offset (the next offset to be written) per partition.
        read: next offset to read per partition; a partition missing from it was never
            read, so all of its offsets count (from 0: records the broker deleted after
            retention are counted too, an over-estimate of at most the deleted ones).

    Returns:
        The sum over ``ends``'s partitions of what remains; a reader ahead of ``ends``
        (records produced after the end offsets were taken) counts 0, never negative.
    """
    return sum(max(0, end - read.get(place, 0)) for place, end in ends.items())


def caught_up(ends: Mapping[TopicPartition, int], read: Mapping[TopicPartition, int]) -> bool:
    """True when ``read`` is at or past every partition's end offset in ``ends``."""
    return offsets_behind(ends, read) == 0


def source_offsets(line: str) -> dict[TopicPartition, int]:
    """Offsets of one Kafka source as Spark writes them: ``{"topic": {"0": 42}}``.

    Anything else (another source's format, ``-`` for a source without offsets yet)
    gives an empty mapping.
    """
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    offsets: dict[TopicPartition, int] = {}
    for topic, partitions in value.items():
        if not isinstance(partitions, dict):
            return {}
        for partition, offset in partitions.items():
            offsets[(str(topic), int(partition))] = int(offset)
    return offsets


def committed_offsets(query_checkpoint: Path) -> dict[TopicPartition, int]:
    """Next offset per (topic, partition) after a query's last committed micro-batch.

    Read from its checkpoint: the highest id in ``commits/`` names the batch, and
    ``offsets/<id>`` holds a version line, the batch metadata, then one line per source.
    Empty before the first commit.
    """
    commits = query_checkpoint / "commits"
    try:
        ids = [int(p.name) for p in commits.iterdir() if p.name.isdigit()]
    except OSError:  # no batch committed yet (the folder is made with the first)
        return {}
    if not ids:
        return {}
    try:
        text = (query_checkpoint / "offsets" / str(max(ids))).read_text(encoding="utf-8")
    except OSError:
        return {}
    offsets: dict[TopicPartition, int] = {}
    for line in text.splitlines()[2:]:
        offsets.update(source_offsets(line))
    return offsets


@dataclass(frozen=True)
class DrainReport:
    """How a graceful stop went.

    Attributes:
        remaining: per stream, the source topic's records the ingest query had not
            committed when it stopped (what the next start reads first); None when the
            broker could not be asked.
        waited_s: seconds spent draining before the queries were stopped.
        timed_out: the deadline passed before every query had caught up.
    """

    remaining: Mapping[str, int] | None
    waited_s: float
    timed_out: bool

    @property
    def complete(self) -> bool:
        """Every record sent before the stop was read (scored or quarantined)."""
        return self.remaining is not None and not any(self.remaining.values())

    def sentence(self, subject: str) -> str:
        """``"<subject> stopped: …"``, saying what remains for the next start (pure).

        For example ``Pipeline stopped: every record sent was scored or quarantined.``
        or ``Pipeline stopped after 30 s of draining: 405 process and 621 memory
        records remain for the next start.`` (the drain's duration only when it ran
        out of time).
        """
        head = f"{subject} stopped"
        if self.timed_out:
            head += f" after {self.waited_s:.0f} s of draining"
        if self.remaining is None:
            return f"{head}: the records left for the next start could not be counted."
        if self.complete:
            return f"{head}: every record sent was scored or quarantined."
        parts = [f"{count} {stream}" for stream, count in self.remaining.items() if count]
        noun = "record remains" if sum(self.remaining.values()) == 1 else "records remain"
        return f"{head}: {' and '.join(parts)} {noun} for the next start."

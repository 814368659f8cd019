"""Helpers for tests that run ``stophacking detect`` as a child process.

- :func:`detect_command` / :func:`detect_env`: the command and its ``STOPHACKING_*``
  environment (topics, broker, home), so the child reads its settings like a user's run.
- Progress read from the checkpoints on disk (another process's queries cannot be asked):
  :func:`kafka_query_drained` (a query's last committed batch ends at the topics' end
  offsets).
- :func:`live_group_members`: processes of a process group that are not zombies, to
  prove that no JVM of a child survives it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from pipelines import kafka_io
from pipelines.config import KafkaSettings
from pipelines.detector.drain import caught_up, committed_offsets

POLL_S = 0.5


def detect_env(
    kafka: KafkaSettings, home: Path, topics: Mapping[str, str], jars_dir: Path
) -> dict[str, str]:
    """The child's environment: this one plus the settings of the run as ``STOPHACKING_*``.

    Args:
        kafka: the test broker's client settings.
        home: the child's state folder.
        topics: ``process``, ``memory``, ``window_counts``, ``alerts``, ``health``,
            ``process_attacks``, ``memory_attacks`` → topic name.
        jars_dir: the jar cache (so nothing is downloaded).
    """
    env = {
        **os.environ,
        "STOPHACKING_HOME": str(home),
        "STOPHACKING_JARS_CACHE": str(jars_dir),
        "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        # Several JVMs share the test machine; the tiny data needs little.
        "STOPHACKING_SPARK__DRIVER_MEMORY": "1g",
    }
    for name, topic in topics.items():
        if name.endswith("_attacks"):
            stream = name.removesuffix("_attacks")
            env[f"STOPHACKING_DETECTOR__ATTACK_TOPICS__{stream.upper()}"] = topic
        else:
            env[f"STOPHACKING_KAFKA__TOPICS__{name.upper()}"] = topic
    return env


def detect_command(models: Path, output_dir: Path, checkpoint_dir: Path, *extra: str) -> list[str]:
    """``python -m pipelines.cli detect`` with the provided models and the given folders."""
    return [
        sys.executable, "-m", "pipelines.cli", "detect",
        "--process-model", str(models / "process_pipeline_model"),
        "--memory-model", str(models / "memory_pipeline_model"),
        "--output-dir", str(output_dir), "--checkpoint-dir", str(checkpoint_dir),
        *extra,
    ]  # fmt: skip


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout_s``.

    Returns:
        Seconds waited.
    """
    started = time.monotonic()
    while not condition():
        waited = time.monotonic() - started
        assert waited < timeout_s, f"not within {timeout_s:.0f} s: {what}"
        time.sleep(POLL_S)
    return time.monotonic() - started


def _batch_ids(folder: Path) -> list[int]:
    """Batch ids of a metadata-log folder (``7``, ``9.compact``), ascending."""
    if not folder.is_dir():
        return []
    return sorted(int(p.name.split(".")[0]) for p in folder.iterdir() if p.name[0].isdigit())


def committed_batches(query_checkpoint: Path) -> list[int]:
    """Ids of the micro-batches a query committed, ascending."""
    return _batch_ids(query_checkpoint / "commits")


def kafka_query_drained(
    query_checkpoint: Path, kafka: KafkaSettings, topics: Iterable[str]
) -> bool:
    """The query committed a batch that ends at every partition's end offset."""
    ends = kafka_io.partition_end_offsets(kafka, topics)
    return caught_up(ends, committed_offsets(query_checkpoint))


def live_group_members(pgid: int) -> list[int]:
    """Pids of the processes of process group ``pgid`` that are not zombies (Linux /proc)."""
    members: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members

"""A memory stream that runs late: its event times 100 s behind the process stream's.

One detector run on the real broker and real Spark with the provided models, fed our
producers' records (simulated clock) in rounds while both streams flow. Each stream has
its own watermark (7a is aggregated per stream), so the late stream's rows are counted,
and the window-counts topic must end with the memory sink's values, those rows included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from pipelines import kafka_io
from pipelines.config import Settings
from pipelines.detector.job import Detector
from pipelines.detector.layout import DetectorTopics
from pipelines.replay.kafka_producer import Replayer
from pipelines.schema.columns import STREAMS, Stream
from tests.support.detector_outputs import topic_values

START_TS = 1_700_000_000
BEHIND_S = 100
"""The memory stream's delay: more than the 20 s watermark plus the 30 s pair bound, so
one watermark over both streams would drop its rows as late (in update mode)."""
ROUNDS = 8


@dataclass
class Run:
    detector: Detector
    topics: DetectorTopics


@pytest.fixture(scope="module")
def behind_run(
    broker_settings: Settings,
    provided_detector: Callable[..., Detector],
    tiny_files: dict[Stream, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("behind")
    topics = DetectorTopics.unique("test.behind")
    kafka_io.ensure_topics(broker_settings.kafka, [topics.process, topics.memory])
    detector = provided_detector(root, topics)

    def replay(stream: Stream, start_ts: float, cycles: int, tag: str) -> None:
        with Replayer(
            broker_settings, stream, file=tiny_files[stream], seed=5, max_rate=True,
            clock="simulated", start_ts=start_ts, topic=topics.source(stream),
            run_id=f"behind-{stream}-{tag}",
        ) as replayer:  # fmt: skip
            assert replayer.run(cycles=cycles).errors == 0

    detector.start()
    try:
        # Both streams flow together, the memory stream's event times BEHIND_S behind:
        # each round sends 10 s of process records and the memory records of 10 s that
        # ended BEHIND_S earlier, and the detector takes them in before the next round.
        for round_ in range(ROUNDS):
            replay("process", START_TS + 10 * round_, cycles=2, tag=str(round_))
            replay("memory", START_TS + 10 * round_ - BEHIND_S, cycles=1, tag=str(round_))
            detector.process_all_available()
        yield Run(detector, topics)
    finally:
        detector.stop()


def test_the_window_counts_topic_ends_with_the_memory_sink_values_of_a_late_stream(
    behind_run: Run, spark: SparkSession, broker_settings: Settings
) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for key, value in topic_values(
        spark, broker_settings.kafka.bootstrap_servers, behind_run.topics.window_counts
    ):
        latest[key] = value
    table = {
        (r["machine"], r["stream"], r["window_start"].strftime("%Y-%m-%dT%H:%M:%S")): r["count"]
        for r in spark.table(behind_run.detector.counts_table).collect()
    }
    published = {
        (v["machine"], v["stream"], v["window_start"][:19]): v["count"] for v in latest.values()
    }
    assert {stream for _, stream, _ in table} == set(STREAMS)
    # The late stream's earliest windows (before the process stream's first) are there.
    first_process = min(w for _, s, w in table if s == "process")
    assert any(s == "memory" and w < first_process for _, s, w in table)
    assert published == table

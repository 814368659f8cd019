"""Restarting the detector on its checkpoints: nothing lost, nothing written twice.

The crash that matters for the parquet outputs is the one after a micro-batch wrote
its outputs and before Spark committed it: Spark then runs the same batch id on the
same offsets again. The module reproduces exactly that state: a first detector run
drains the topics and stops; the commit of each ingest query's last batch is removed
from its checkpoint; more records are published; a second detector on the same
checkpoints must re-run that batch (overwriting its folders) and then read the new
records, with every record in the outputs exactly once.
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
from pipelines.detector.health import BatchStatus
from pipelines.detector.job import Detector
from pipelines.detector.layout import CLEANED_DIR, SCORED_DIR, DetectorTopics
from pipelines.replay.kafka_producer import Replayer
from pipelines.schema.columns import IDENTITY_COLUMNS, STREAMS, Stream

START_TS = 1_700_000_000.0


@dataclass
class Restart:
    first: Detector
    second: Detector
    topics: DetectorTopics
    first_statuses: list[BatchStatus]
    second_statuses: list[BatchStatus]
    uncommitted: dict[Stream, int]  # batch id whose commit was removed


def _replay(settings: Settings, files: dict[Stream, Path], topics: DetectorTopics, tag: str,
            start_ts: float) -> None:  # fmt: skip
    for stream in STREAMS:
        with Replayer(
            settings,
            stream,
            file=files[stream],
            seed=5,
            max_rate=True,
            clock="simulated",
            start_ts=start_ts,
            topic=topics.source(stream),
            run_id=f"{tag}-{stream}",
        ) as replayer:
            assert replayer.run(cycles=1).errors == 0


@pytest.fixture(scope="module")
def restart(
    broker_settings: Settings,
    provided_detector: Callable[..., Detector],
    tiny_files: dict[Stream, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Restart]:
    root = tmp_path_factory.mktemp("restart")
    topics = DetectorTopics.unique("test.restart")
    kafka_io.ensure_topics(broker_settings.kafka, [topics.process, topics.memory])
    statuses: tuple[list[BatchStatus], list[BatchStatus]] = ([], [])

    def detector(index: int) -> Detector:
        return provided_detector(
            root,
            topics,
            trigger_s=1.0,
            counts_table=f"attack_counts_restart_{index}",
            on_batch=statuses[index].append,
        )

    _replay(broker_settings, tiny_files, topics, "a", START_TS)
    first = detector(0)
    with first:
        first.start()
        first.process_all_available()
    uncommitted: dict[Stream, int] = {}
    for stream in STREAMS:
        commits = root / "checkpoints" / f"ingest_{stream}" / "commits"
        last = max(int(p.name) for p in commits.iterdir() if p.name.isdigit())
        (commits / str(last)).unlink()
        # The local file system keeps a checksum beside each file; it goes with it.
        (commits / f".{last}.crc").unlink(missing_ok=True)
        uncommitted[stream] = last
    _replay(broker_settings, tiny_files, topics, "b", START_TS + 60)
    second = detector(1)
    with second:
        second.start()
        second.process_all_available()
        yield Restart(first, second, topics, *statuses, uncommitted)


@pytest.mark.parametrize("stream", STREAMS)
def test_the_uncommitted_batch_runs_again_with_the_same_id(
    restart: Restart, stream: Stream
) -> None:
    again = [s for s in restart.second_statuses if s.stream == stream]
    before = [s for s in restart.first_statuses if s.stream == stream]
    assert again[0].batch_id == restart.uncommitted[stream]
    rerun = next(s for s in before if s.batch_id == restart.uncommitted[stream])
    assert again[0].records == rerun.records


@pytest.mark.parametrize("stream", STREAMS)
def test_every_record_is_in_the_outputs_exactly_once_after_the_restart(
    restart: Restart, spark: SparkSession, stream: Stream, topic_records: Callable[..., Any]
) -> None:
    produced = sorted(
        (r["run_id"], int(r["machine"]), int(r["pass"]), int(r["sequence"]))
        for _, _, r in topic_records(restart.second.settings.kafka, restart.topics.source(stream))
    )
    assert {p[0] for p in produced} == {f"a-{stream}", f"b-{stream}"}
    for folder in (CLEANED_DIR[stream], SCORED_DIR[stream]):
        rows = spark.read.parquet(str(restart.second.output_path(folder)))
        found = sorted(
            (r["run_id"], r["machine"], r["pass"], r["sequence"])
            for r in rows.select(*IDENTITY_COLUMNS).collect()
        )
        assert found == produced, folder

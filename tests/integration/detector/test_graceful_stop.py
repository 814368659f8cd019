"""A graceful stop (the workbench's Stop pipeline): every record sent is scored, the log
stays clean.

Records flow (both producers at three times real speed) while the detector runs; the
producers stop first, one more burst is sent so that the detector is surely behind when
the stop begins, then ``Detector.stop_gracefully`` drains and stops. Every record on the
source topics must then be in the outputs (parse-quarantined or cleaned; every cleaned
one scored or score-quarantined), the report must say nothing remains, and neither
Spark's log nor Python's logging may hold a stack trace of the stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines import kafka_io
from pipelines.config import Settings
from pipelines.detector import transforms
from pipelines.detector.drain import committed_offsets, offsets_behind
from pipelines.detector.layout import (
    CLEANED_DIR,
    COUNTS_CHECKPOINT,
    INGEST_QUERY,
    PAIRS_QUERY,
    QUARANTINE_DIR,
    SCORED_DIR,
    DetectorTopics,
)
from pipelines.replay.kafka_producer import Replayer
from pipelines.schema.columns import STREAMS, Stream
from pipelines.spark.session import spark_log_path
from tests.support.detector import wait_until
from tests.support.detector_outputs import kafka_places

DRAIN_TIMEOUT_S = 120.0
"""Far above what the drain takes (a few seconds): the test is about completeness."""
STACK_TRACE_MARKERS = ("\tat ", "Exception in thread", "StackOverflowError", "Aborting job")


def _send_at_once(
    settings: Settings,
    stream: Stream,
    file: Path,
    topic: str,
    *,
    seed: int,
    run_id: str,
    cycles: int,
) -> None:
    """Replay ``cycles`` cycles of ``file`` onto ``topic`` as fast as Kafka accepts."""
    with Replayer(
        settings,
        stream,
        file=file,
        seed=seed,
        max_rate=True,
        clock="simulated",
        start_ts=time.time(),
        topic=topic,
        run_id=run_id,
    ) as replayer:
        assert replayer.run(cycles=cycles).errors == 0


def _places(spark: SparkSession, out: Path, name: str, stage: str | None = None) -> list[Any]:
    root = out / name
    # Never written, or only a cut batch began (Spark skips ``_temporary`` and dot files).
    if not any(
        not any(part.startswith(("_", ".")) for part in path.relative_to(root).parts)
        for path in root.rglob("*.parquet")
    ):
        return []
    frame = spark.read.parquet(str(root))
    if stage is not None:
        frame = frame.filter(F.col(transforms.STAGE).isin(*stage.split(",")))
    return kafka_places(frame)


def test_a_graceful_stop_scores_every_record_sent_and_logs_no_stack_trace(
    broker_settings: Settings,
    spark: SparkSession,
    provided_detector: Callable[..., Any],
    tiny_files: dict[Stream, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topics = DetectorTopics.unique("test.stop")
    kafka_io.ensure_topics(broker_settings.kafka, [topics.process, topics.memory])
    detector = provided_detector(tmp_path, topics, trigger_s=0.5, monitor_trigger_s=1.0)
    ingest = {s: detector.checkpoint_dir / INGEST_QUERY[s] for s in STREAMS}
    flowing = threading.Event()
    replayers = [
        Replayer(broker_settings, s, file=tiny_files[s], seed=5, speed=3.0,
                 topic=topics.source(s), run_id=f"flow-{s}")
        for s in STREAMS
    ]  # fmt: skip
    threads = [threading.Thread(target=r.run, kwargs={"stop": flowing}) for r in replayers]
    detector.start()
    try:
        for thread in threads:
            thread.start()
        # Records flow while the detector scores: both ingest queries committed some.
        wait_until(lambda: all(committed_offsets(ingest[s]) for s in STREAMS), 180, "a batch")
        # The producers stop first and flush (run() returns once everything is acked) …
        flowing.set()
        for thread in threads:
            thread.join(timeout=60)
        for stream in STREAMS:
            # … then one last burst, so that the detector is surely behind at the stop.
            _send_at_once(
                broker_settings, stream, tiny_files[stream], topics.source(stream),
                seed=6, run_id=f"burst-{stream}", cycles=1,
            )  # fmt: skip
        ends = {
            s: kafka_io.partition_end_offsets(broker_settings.kafka, [topics.source(s)])
            for s in STREAMS
        }
        behind = {s: offsets_behind(ends[s], committed_offsets(ingest[s])) for s in STREAMS}
        assert all(behind.values()), f"nothing left to drain: {behind}"
        log_file = spark_log_path(broker_settings)
        log_start = log_file.stat().st_size
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            started = time.monotonic()
            report = detector.stop_gracefully(DRAIN_TIMEOUT_S)
            took_s = time.monotonic() - started
    finally:
        flowing.set()
        detector.stop()
        for replayer in replayers:
            replayer.close()
    print(f"behind at the stop {behind}, drained in {report.waited_s:.1f} s, stopped in "
          f"{took_s:.1f} s")  # fmt: skip

    assert report.remaining == {"process": 0, "memory": 0}
    assert not report.timed_out and report.complete
    assert report.sentence("Pipeline") == (
        "Pipeline stopped: every record sent was scored or quarantined."
    )
    out = detector.output_dir
    for stream in STREAMS:
        topic = topics.source(stream)
        produced = sum(ends[stream].values())
        assert kafka_io.topic_end_offsets(broker_settings.kafka, topic) == {0: produced}
        assert committed_offsets(ingest[stream]) == ends[stream]
        # Every message read: parse-quarantined or cleaned, once (by Kafka place).
        early = _places(
            spark, out, f"{QUARANTINE_DIR}/stream={stream}",
            f"{transforms.STAGE_DECODE},{transforms.STAGE_PARSE}",
        )  # fmt: skip
        cleaned = _places(spark, out, CLEANED_DIR[stream])
        assert sorted({offset for offset, _ in early + cleaned}) == list(range(produced))
        assert len(early) + len(cleaned) == len(set(early + cleaned))
        # Every cleaned record scored (or quarantined as unscorable), once.
        unscorable = _places(
            spark, out, f"{QUARANTINE_DIR}/stream={stream}", transforms.STAGE_SCORE
        )
        assert cleaned == sorted(unscorable + _places(spark, out, SCORED_DIR[stream]))
    # The monitoring queries (7a, 7b) read both attack topics to their end.
    attacks = kafka_io.partition_end_offsets(
        broker_settings.kafka, [topics.process_attacks, topics.memory_attacks]
    )
    for name in (COUNTS_CHECKPOINT, PAIRS_QUERY):
        assert offsets_behind(attacks, committed_offsets(detector.checkpoint_dir / name)) == 0

    with log_file.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(log_start)
        stop_lines = handle.read().splitlines()
    traces = [line for line in stop_lines if any(m in line for m in STACK_TRACE_MARKERS)]
    assert traces == [], f"{len(traces)} stack-trace lines, first: {traces[:3]}"
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def test_a_stop_that_cuts_a_batch_short_logs_no_stack_trace_and_counts_what_remains(
    broker_settings: Settings,
    spark: SparkSession,
    provided_detector: Callable[..., Any],
    tiny_files: dict[Stream, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The immediate stop (server shutdown, a failed query) interrupts a running
    micro-batch: Spark must see it as a stop (no StackOverflowError in its regex), and
    what the next start reads again is exactly what the checkpoints did not commit."""
    topics = DetectorTopics.unique("test.cut")
    kafka_io.ensure_topics(broker_settings.kafka, [topics.process, topics.memory])
    for stream in STREAMS:
        _send_at_once(
            broker_settings, stream, tiny_files[stream], topics.source(stream),
            seed=7, run_id=f"cut-{stream}", cycles=4,
        )  # fmt: skip
    # Small batches back to back: a stop lands inside one.
    detector = provided_detector(tmp_path, topics, trigger_s=0.2, max_offsets_per_trigger=40)
    query = INGEST_QUERY["process"]
    detector.start()
    try:
        wait_until(
            lambda: (
                committed_offsets(detector.checkpoint_dir / query)
                and detector.queries[query].status["isTriggerActive"]
            ),
            180,
            "a process batch running after a committed one",
        )
        log_file = spark_log_path(broker_settings)
        log_start = log_file.stat().st_size
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            detector.stop()
            remaining = detector.unread()
    finally:
        detector.stop()

    assert remaining is not None
    out = detector.output_dir
    for stream in STREAMS:
        produced = sum(
            kafka_io.topic_end_offsets(broker_settings.kafka, topics.source(stream)).values()
        )
        committed = committed_offsets(detector.checkpoint_dir / INGEST_QUERY[stream])
        next_offset = committed.get((topics.source(stream), 0), 0)
        assert remaining[stream] == produced - next_offset
        # Every committed batch is complete in the outputs (a cut one may have begun).
        early = _places(
            spark, out, f"{QUARANTINE_DIR}/stream={stream}",
            f"{transforms.STAGE_DECODE},{transforms.STAGE_PARSE}",
        )  # fmt: skip
        read = {o for o, _ in early + _places(spark, out, CLEANED_DIR[stream])}
        assert {o for o in read if o < next_offset} == set(range(next_offset))
    assert remaining["process"] > 0, "the stop came after everything was read"

    time.sleep(1.0)  # a dying stream thread prints its trace after stop() returned
    with log_file.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(log_start)
        stop_lines = handle.read().splitlines()
    # Without the short text of a cut foreachBatch, Spark's stream thread died here
    # with a StackOverflowError and ~1,000 java.util.regex frames (checked). The
    # "Aborting job" of the cut parquet write is Spark's own ERROR line, left as is.
    overflow = [line for line in stop_lines if "StackOverflowError" in line or "regex" in line]
    assert overflow == [], f"{len(overflow)} lines of Spark's regex overflow"
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []

"""The agent, this machine's processes, the real broker, the live views and the detector.

The agent runs a few intervals into fresh topics; the live pipelines count them; the
detector (default models, real Spark) cleans and scores them. Every record the agent
sent is cleaned or quarantined exactly once, and the agent's machine is in the live
counts with every record it sent. Nothing downstream was changed to accept the agent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines import kafka_io
from pipelines.agent.run import Agent, AgentReport
from pipelines.config import Settings, replace
from pipelines.detector import transforms
from pipelines.detector.job import Detector
from pipelines.detector.layout import CLEANED_DIR, QUARANTINE_DIR, SCORED_DIR, DetectorTopics
from pipelines.live.pipeline import LiveCounts
from pipelines.schema.columns import STREAMS, Stream
from tests.support.detector import wait_until

MACHINE = 4242
INTERVALS = 3


@dataclass
class AgentRun:
    report: AgentReport
    detector: Detector
    live: dict[Stream, LiveCounts]


@pytest.fixture(scope="module")
def agent_run(
    broker_settings: Settings, spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentRun]:
    root = tmp_path_factory.mktemp("agent-e2e")
    topics = DetectorTopics.unique("test.agent")
    settings = replace(
        broker_settings,
        {"kafka.topics.process": topics.process, "kafka.topics.memory": topics.memory},
    )
    kafka_io.ensure_topics(settings.kafka, [topics.process, topics.memory])
    live = {
        stream: LiveCounts(settings, stream, window_s=600, sample_s=1, from_beginning=True)
        for stream in STREAMS
    }
    for counts in live.values():
        counts.start(duration_s=120)
    report = Agent(settings, machine=MACHINE, interval_s=1.0).run(intervals=INTERVALS)
    detector = Detector(
        settings,  # the default models (settings.models_dir), as `stophacking detect`
        output_dir=root / "out",
        checkpoint_dir=root / "checkpoints",
        topics=topics,
        spark=spark,
        counts_table="counts_agent_e2e",
    )
    detector.start()
    try:
        detector.process_all_available()
        yield AgentRun(report, detector, live)
    finally:
        detector.stop()
        for counts in live.values():
            counts.stop()


def _read(spark: SparkSession, run: AgentRun, name: str) -> DataFrame:
    return spark.read.parquet(str(run.detector.output_path(name))).drop("batch")


def _quarantined(spark: SparkSession, run: AgentRun, stream: Stream, *stages: str) -> int:
    """Records of ``stream`` quarantined at ``stages`` (no folder: none was)."""
    if not run.detector.output_path(QUARANTINE_DIR).exists():
        return 0
    quarantine = _read(spark, run, QUARANTINE_DIR)
    return quarantine.filter(
        (F.col("stream") == stream) & F.col(transforms.STAGE).isin(*stages)
    ).count()


def test_the_agent_sent_every_row_it_sampled(agent_run: AgentRun) -> None:
    report = agent_run.report
    assert report.intervals == INTERVALS
    assert report.records["process"] == report.records["memory"] >= 10 * INTERVALS
    assert (report.acked, report.dropped, report.waiting) == (report.sampled, 0, 0)


@pytest.mark.parametrize("stream", STREAMS)
def test_every_agent_record_is_cleaned_or_quarantined_once(
    agent_run: AgentRun, spark: SparkSession, stream: Stream
) -> None:
    cleaned = _read(spark, agent_run, CLEANED_DIR[stream])
    early = _quarantined(spark, agent_run, stream, transforms.STAGE_DECODE, transforms.STAGE_PARSE)
    sent = agent_run.report.records[stream]
    assert cleaned.count() + early == sent
    identities = cleaned.select("run_id", "machine", "sequence").distinct()
    assert identities.count() == cleaned.count()
    assert {r["machine"] for r in cleaned.select("machine").distinct().collect()} == {MACHINE}
    sequences = sorted(r["sequence"] for r in cleaned.select("sequence").collect())
    assert sequences == list(range(1, sent + 1)) or early > 0


@pytest.mark.parametrize("stream", STREAMS)
def test_scored_records_are_the_cleaned_ones_the_models_could_score(
    agent_run: AgentRun, spark: SparkSession, stream: Stream
) -> None:
    cleaned = _read(spark, agent_run, CLEANED_DIR[stream]).count()
    scored = _read(spark, agent_run, SCORED_DIR[stream]).count()
    unscorable = _quarantined(spark, agent_run, stream, transforms.STAGE_SCORE)
    assert scored + unscorable == cleaned and scored > 0


@pytest.mark.parametrize("stream", STREAMS)
def test_the_agents_machine_is_in_the_live_counts_with_every_record(
    agent_run: AgentRun, stream: Stream
) -> None:
    live = agent_run.live[stream]
    sent = agent_run.report.records[stream]
    wait_until(
        lambda: live.snapshot().get(str(MACHINE)) == sent,
        60,
        f"the live {stream} counts to show machine {MACHINE} with {sent} records",
    )

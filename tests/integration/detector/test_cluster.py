"""``stophacking detect --master spark://…`` on a standalone cluster started on this machine.

A master and one worker (1 core, 1 GB) come from pyspark's installation via
:class:`~pipelines.spark.cluster.StandaloneCluster`. One replay cycle per stream is
published first; the detector runs on the cluster, bounded by ``--duration``, and is
stopped with Ctrl-C as soon as both ingest queries have read their topics to the end
(seen in the checkpoints). The outputs must account for every record, and the master
must list the application with an executor whose logs the worker kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines import kafka_io
from pipelines.config import PROJECT_ROOT, Settings
from pipelines.detector import transforms
from pipelines.detector.layout import CLEANED_DIR, QUARANTINE_DIR, SCORED_DIR, DetectorTopics
from pipelines.replay.kafka_producer import Replayer
from pipelines.schema.columns import STREAMS, Stream
from pipelines.spark.cluster import StandaloneCluster
from tests.support.detector import (
    detect_command,
    detect_env,
    kafka_query_drained,
    live_group_members,
    wait_until,
)
from tests.support.detector_outputs import kafka_places

APP_NAME = "stophacking-detector"
DURATION_S = 400.0
"""Bound of the detector run; the test stops it with Ctrl-C once it has drained."""
DRAIN_TIMEOUT_S = 420.0
EXIT_TIMEOUT_S = 120.0
CLUSTER_START_TIMEOUT_S = 240.0


@dataclass
class ClusterRun:
    topics: dict[str, str]
    output_dir: Path
    returncode: int
    log: str
    applications: list[dict[str, Any]]
    executor_logs: list[Path]
    left_running: list[int]


@pytest.fixture(scope="module")
def cluster_run(
    broker_settings: Settings,
    shared_dir: Path,
    tiny_files: dict[Stream, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ClusterRun]:
    root = tmp_path_factory.mktemp("cluster")
    topics = DetectorTopics.unique("test.cluster").names()
    kafka_io.ensure_topics(broker_settings.kafka, list(topics.values()))
    for stream in STREAMS:
        with Replayer(
            broker_settings, stream, file=tiny_files[stream], seed=7, max_rate=True,
            clock="simulated", start_ts=1_700_000_000.0, topic=topics[stream],
            run_id=f"cluster-{stream}",
        ) as replayer:  # fmt: skip
            assert replayer.run(cycles=1).errors == 0
    output_dir, checkpoints = root / "out", root / "checkpoints"
    cluster = StandaloneCluster(root / "spark", start_timeout_s=CLUSTER_START_TIMEOUT_S)
    with cluster:
        command = detect_command(
            shared_dir / "models" / "provided", output_dir, checkpoints,
            "--master", cluster.master_url, "--trigger", "2", "--duration", str(DURATION_S),
        )  # fmt: skip
        env = detect_env(broker_settings.kafka, root / "home", topics, broker_settings.jars_dir)
        with (root / "detect.log").open("w") as log:
            child = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env,
                start_new_session=True,
            )  # fmt: skip
        try:
            wait_until(
                lambda: (
                    child.poll() is not None
                    or all(
                        kafka_query_drained(
                            checkpoints / f"ingest_{s}", broker_settings.kafka, [topics[s]]
                        )
                        for s in STREAMS
                    )
                ),
                DRAIN_TIMEOUT_S,
                "the detector on the cluster reads both topics to the end",
            )
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
            returncode = child.wait(timeout=EXIT_TIMEOUT_S)
            wait_until(lambda: not live_group_members(child.pid), 30, "the detector's group ends")
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        # The master moves the application to "completed" once the driver has gone.
        wait_until(
            lambda: any(
                a.get("name") == APP_NAME and a.get("state") == "FINISHED"
                for a in cluster.applications()
            ),
            60,
            "the master lists the finished application",
        )
        applications = cluster.applications()
        executor_logs = sorted(cluster.worker_dir.glob("app-*/*/stderr"))
        groups = list(cluster.pids.values())
    yield ClusterRun(
        topics=topics,
        output_dir=output_dir,
        returncode=returncode,
        log=(root / "detect.log").read_text(),
        applications=applications,
        executor_logs=executor_logs,
        left_running=[pid for g in groups for pid in live_group_members(g)],
    )


def test_the_detector_ran_as_an_application_of_the_cluster(cluster_run: ClusterRun) -> None:
    assert cluster_run.returncode == 0, cluster_run.log[-3000:]
    ours = [a for a in cluster_run.applications if a.get("name") == APP_NAME]
    assert len(ours) == 1
    assert ours[0]["state"] == "FINISHED"
    # The executor ran tasks: the worker keeps its log under <app-id>/<executor-id>/.
    logs = [p for p in cluster_run.executor_logs if p.parent.parent.name == ours[0]["id"]]
    assert logs, f"no executor log of {ours[0]['id']}"
    assert "Running task" in logs[0].read_text(errors="replace")


def test_master_and_worker_are_gone_after_the_cluster_stops(cluster_run: ClusterRun) -> None:
    assert cluster_run.left_running == []


@pytest.mark.parametrize("stream", STREAMS)
def test_the_cluster_outputs_account_for_every_record(
    cluster_run: ClusterRun,
    spark: SparkSession,
    stream: Stream,
    broker_settings: Settings,
    topic_records: Callable[..., Any],
) -> None:
    produced = sorted(
        (offset, index)
        for offset, index, _ in topic_records(broker_settings.kafka, cluster_run.topics[stream])
    )
    out = cluster_run.output_dir
    quarantine_dir = out / QUARANTINE_DIR / f"stream={stream}"
    quarantine = spark.read.parquet(str(quarantine_dir)) if quarantine_dir.is_dir() else None
    stage = F.col(transforms.STAGE)
    unparsed = None if quarantine is None else quarantine.filter(stage != transforms.STAGE_SCORE)
    unscored = None if quarantine is None else quarantine.filter(stage == transforms.STAGE_SCORE)
    cleaned = kafka_places(spark.read.parquet(str(out / CLEANED_DIR[stream])))
    scored = kafka_places(spark.read.parquet(str(out / SCORED_DIR[stream])))
    assert sorted(cleaned + kafka_places(unparsed)) == produced
    assert sorted(scored + kafka_places(unscored)) == cleaned
    assert scored

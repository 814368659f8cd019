"""The leader of the source topics SIGKILLed on a 3-node cluster while everything runs.

One run for the module, on a private embedded 3-node KRaft cluster (each node a broker
and a controller voter) on loopback: every topic has 3 replicas and
``min.insync.replicas=2`` (the cluster's :attr:`EmbeddedCluster.kafka_settings`). Both
Replayers (idempotent, ``acks='all'``) send the tiny sample at twice real speed, both
live consumers (:class:`LiveCounts`) count it, and the detector runs. Once each ingest
query has committed batches with records, one node is made leader of both source topics'
partitions, then SIGKILLed (a crash: no controlled shutdown); after :data:`DOWN_S` it is
started again on the same ports and storage, the producers go on for :data:`AFTER_S`,
then stop, and the detector drains.

Checked: no query failed or restarted; every record identity sent is in the cleaned and
scored parquet exactly once; 7a and 7b equal their batch recomputation; both live views
counted every record, also after the kill, without being restarted. The pause each part
saw (the time its progress counter stood still across the kill) is printed (``-s``) for
docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from pipelines import kafka_io
from pipelines.broker import EmbeddedCluster
from pipelines.config import Settings, replace
from pipelines.detector import transforms
from pipelines.detector.health import BatchStatus
from pipelines.detector.job import Detector
from pipelines.detector.layout import DetectorTopics
from pipelines.errors import BrokerUnavailable
from pipelines.live.pipeline import LiveCounts
from pipelines.replay.kafka_producer import Replayer
from pipelines.replay.report import ReplayReport
from pipelines.schema.columns import STREAMS, Stream
from tests.support.cluster import Progress, free_port_block, lead_from, longest_gap
from tests.support.detector import wait_until
from tests.support.detector_outputs import (
    check_pairs_and_alerts,
    check_sent_exactly_once,
    same_rows,
    scored_outputs,
)

NODES = 3
DOWN_S = 10.0
"""How long the killed node stays down at least before it is started again."""
MOVE_BOUND_S = 90.0
"""Longest accepted wait for another node to lead the source partitions."""
AFTER_S = 10.0
"""How long the producers go on once the node answers again."""
SPEED = 2.0
"""Both producers at twice real speed (as in test_broker_outage.py: 7b pairs them)."""
BATCHES_BEFORE = 2
"""Ingest batches with records each stream commits before the kill."""
POLL_S = 0.5
COUNTS_TABLE = "attack_counts_failover"
HEAP_MB = 384
"""Each node's heap: three JVMs share the test machine with Spark."""


@dataclass
class Failover:
    """What the module's run through the leader's death produced and measured."""

    cluster: EmbeddedCluster
    detector: Detector
    settings: Settings
    topics: DetectorTopics
    statuses: list[BatchStatus]
    reports: dict[Stream, ReplayReport]
    live: dict[Stream, LiveCounts]
    live_at_kill: dict[Stream, int]
    live_after: dict[Stream, int]
    victim: int
    leaders_after_kill: dict[tuple[str, int], int | None]
    killed_at: float
    moved_at: float
    back_at: float
    in_sync_at: float
    sending_stopped_at: float
    failures: list[str | None]
    ids_before: dict[str, tuple[str, str]]
    ids_after: dict[str, tuple[str, str]]
    active_after: dict[str, bool]
    drained: bool
    progress: Progress
    started_at: float
    figures: dict[str, Any] = field(default_factory=dict)


def _ids(detector: Detector) -> dict[str, tuple[str, str]]:
    return {name: (str(q.id), str(q.runId)) for name, q in detector.queries.items()}


@pytest.fixture(scope="module")
def cluster(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedCluster]:
    """A private 3-node cluster for this module (the session's single broker stays up)."""
    first = free_port_block(2 * NODES)
    home = tmp_path_factory.mktemp("cluster") / "home"
    overrides = {
        "home": str(home),
        "jars_cache": str(settings.jars_dir),
        "broker.port": first,
        "broker.controller_port": first + 1,
        "broker.heap_mb": HEAP_MB,
    }
    embedded = EmbeddedCluster(replace(settings, overrides), NODES)
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture(scope="module")
def failover(
    cluster: EmbeddedCluster,
    spark: SparkSession,
    shared_dir: Path,
    tiny_files: dict[Stream, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Failover]:
    kafka = cluster.kafka_settings
    settings = replace(cluster.settings, {"kafka": kafka.model_dump()})
    root = tmp_path_factory.mktemp("failover")
    topics = DetectorTopics.unique("test.failover")
    kafka_io.ensure_topics(kafka, list(topics.names().values()))
    sources = [topics.source(s) for s in STREAMS]

    # One node leads both source topics' partitions, so one kill takes both leaders.
    # A topic just created may not list its partition's leader yet (seen once: KeyError),
    # and each node learns it at its own pace: a clean-clone CI run asked twice and got a
    # leader from one node, then none from another. So every node is asked directly
    # until all name the same leaders.
    agreed: list[int] = []

    def every_node_names_the_leaders() -> bool:
        try:
            views = [
                {place: state.leader for place, state in kafka_io.partition_states(
                    cluster.node_settings(node), sources).items()}
                for node in cluster.brokers
            ]  # fmt: skip
        except BrokerUnavailable:  # a node that does not know a topic yet
            return False
        first = views[0]
        leader = first.get((topics.source("process"), 0))
        if leader is None or len(first) != len(sources) or None in first.values():
            return False
        if any(view != first for view in views):
            return False
        agreed[:] = [leader]
        return True

    wait_until(every_node_names_the_leaders, 60, "every node names the source partitions' leaders")
    victim = agreed[0]
    lead_from(kafka, sources, victim, timeout_s=60)

    provided = shared_dir / "models" / "provided"
    statuses: list[BatchStatus] = []
    detector = Detector(
        settings,
        process_model=provided / "process_pipeline_model",
        memory_model=provided / "memory_pipeline_model",
        output_dir=root / "out",
        checkpoint_dir=root / "checkpoints",
        topics=topics,
        trigger_s=1.0,
        monitor_trigger_s=2.0,
        counts_table=COUNTS_TABLE,
        on_batch=statuses.append,
        spark=spark,
    )
    live = {s: LiveCounts(settings, s, topic=topics.source(s), sample_s=1.0) for s in STREAMS}
    sending = threading.Event()
    start_ts = float(int(time.time()))
    replayers = {
        s: Replayer(settings, s, file=tiny_files[s], seed=14, speed=SPEED, clock="simulated",
                    start_ts=start_ts, topic=topics.source(s), run_id=f"failover-{s}")
        for s in STREAMS
    }  # fmt: skip
    reports: dict[Stream, ReplayReport] = {}

    def produce(stream: Stream) -> None:
        with replayers[stream] as replayer:
            reports[stream] = replayer.run(stop=sending)

    def ingested(stream: Stream) -> int:
        return sum(s.records for s in list(statuses) if s.stream == stream)

    counters: dict[str, Callable[[], int]] = {}
    for s in STREAMS:
        counters[f"producer {s}"] = lambda s=s: replayers[s].report().total_acked
        counters[f"live {s}"] = lambda s=s: live[s].status().accepted
        counters[f"detector {s}"] = lambda s=s: ingested(s)
    progress = Progress(counters)
    threads = [threading.Thread(target=produce, args=(s,), name=f"send-{s}") for s in STREAMS]
    detector.start()
    try:
        for view in live.values():
            view.start()
        for stream, view in live.items():
            assert view.wait_ready(90), f"live {stream}: {view.status().message}"
        started_at = time.time()
        progress.start()
        for thread in threads:
            thread.start()

        def batches_with_records(stream: Stream) -> int:
            return sum(1 for s in list(statuses) if s.stream == stream and s.records > 0)

        wait_until(
            lambda: all(batches_with_records(s) >= BATCHES_BEFORE for s in STREAMS),
            240,
            f"{BATCHES_BEFORE} ingest batches with records per stream",
        )
        assert cluster.leaders(sources) == {(t, 0): victim for t in sources}
        ids_before = _ids(detector)
        live_at_kill = {s: live[s].status().accepted for s in STREAMS}
        killed_at = time.time()
        assert cluster.kill(victim)
        failures: list[str | None] = []
        leaders_after_kill: dict[tuple[str, int], int | None] = {}
        moved_at: float | None = None
        # The node stays dead at least DOWN_S, and until the controller has moved the
        # leadership (it fences a node after broker.session.timeout.ms, 9 s by default).
        while time.time() - killed_at < DOWN_S or moved_at is None:
            assert time.time() - killed_at < MOVE_BOUND_S, "no other node took the lead"
            failures.append(detector.failure())
            if moved_at is None:
                with contextlib.suppress(BrokerUnavailable):
                    leaders_after_kill = cluster.leaders(sources)
                    if all(n not in (None, victim) for n in leaders_after_kill.values()):
                        moved_at = time.time()
            time.sleep(POLL_S)
        cluster.start_node(victim)  # same ports and storage; returns once it answers
        back_at = time.time()

        def in_sync() -> bool:
            states = kafka_io.partition_states(kafka, sources)
            return all(len(state.in_sync) == NODES for state in states.values())

        wait_until(in_sync, 120, f"node {victim} back in sync on {sources}")
        in_sync_at = time.time()
        failures.append(detector.failure())
        time.sleep(AFTER_S)  # the producers go on after the node is back
        sending.set()
        sending_stopped_at = time.time()
        for thread in threads:
            thread.join(timeout=180)
        assert not any(t.is_alive() for t in threads), "a producer did not finish"
        drained = detector.drain(300)
        if drained:
            detector.process_all_available(timeout_s=120)
        for stream in STREAMS:
            total = reports[stream].total_acked
            wait_until(
                lambda stream=stream, total=total: live[stream].status().accepted >= total,
                60,
                f"live {stream} counting all {total} records",
            )
        progress.stop()
        live_after = {s: live[s].status().accepted for s in STREAMS}
        ids_after = _ids(detector)
        active_after = {name: q.isActive for name, q in detector.queries.items()}
        yield Failover(
            cluster, detector, settings, topics, statuses, reports, live, live_at_kill,
            live_after, victim, leaders_after_kill, killed_at, moved_at, back_at, in_sync_at,
            sending_stopped_at, failures, ids_before, ids_after, active_after, drained,
            progress, started_at,
        )  # fmt: skip
    finally:
        sending.set()
        progress.stop()
        for view in live.values():
            view.stop()
        detector.stop()


def test_the_topics_are_replicated_three_times_with_two_in_sync_required(
    failover: Failover,
) -> None:
    states = kafka_io.partition_states(failover.settings.kafka, failover.topics.names().values())
    assert len(states) == len(failover.topics.names())
    assert all(sorted(s.replicas) == [1, 2, 3] for s in states.values())
    assert failover.settings.kafka.min_insync_replicas == 2
    assert failover.settings.kafka.topic_configs() == {"min.insync.replicas": "2"}


def test_another_node_took_the_lead_while_the_leader_was_dead(failover: Failover) -> None:
    leaders = set(failover.leaders_after_kill.values())
    assert failover.victim not in leaders and None not in leaders, failover.leaders_after_kill


def test_the_detector_neither_fails_nor_restarts_a_query(failover: Failover) -> None:
    assert len(failover.failures) >= DOWN_S / POLL_S / 2, "the failover was not watched"
    assert [f for f in failover.failures if f is not None] == []
    assert failover.detector.failure() is None
    assert failover.drained, "the detector did not catch up after the failover"
    assert failover.ids_after == failover.ids_before  # same query ids and run ids
    assert all(failover.active_after.values())


def test_the_producers_sent_every_record_once(failover: Failover) -> None:
    for stream, report in failover.reports.items():
        assert report.errors == 0, (stream, report.last_error)
        assert report.total_acked == report.total_sent > 0


@pytest.mark.parametrize("stream", STREAMS)
def test_every_record_sent_is_cleaned_and_scored_exactly_once(
    failover: Failover, spark: SparkSession, stream: Stream, topic_records: Callable[..., Any]
) -> None:
    figures = check_sent_exactly_once(
        spark, failover.detector, stream,
        topic_records(failover.settings.kafka, failover.topics.source(stream)),
        failover.reports[stream].total_acked,
    )  # fmt: skip
    print(f"\n{stream} records through the failover: {figures}")


def test_attack_counts_equal_a_batch_recomputation(failover: Failover, spark: SparkSession) -> None:
    table = spark.table(COUNTS_TABLE)
    assert table.count() > 0
    same_rows(table, transforms.attack_counts(scored_outputs(spark, failover.detector)))


def test_pairs_and_alerts_equal_a_batch_recomputation(
    failover: Failover, spark: SparkSession
) -> None:
    check_pairs_and_alerts(
        spark, failover.detector, failover.settings.kafka, failover.topics.alerts
    )


def test_the_live_views_count_every_record_without_a_restart(failover: Failover) -> None:
    for stream, view in failover.live.items():
        assert view.running, f"live {stream} stopped"
        assert failover.live_after[stream] > failover.live_at_kill[stream] > 0
        assert failover.live_after[stream] == failover.reports[stream].total_acked
        assert view.status().state == "live", view.status().message


def test_each_part_resumes_after_the_kill(failover: Failover) -> None:
    """Every part progressed after the kill; the pause each saw is printed.

    A part's pause is the longest time its counter stood still from its last growth
    before the kill until the producers stopped (or its first growth after the kill, if
    later); its usual gap is the same before the
    kill (its rhythm without a fault: a producer cycle, a detector batch).
    """
    figures: dict[str, float] = {"cluster start_s": round(failover.cluster.startup_s or 0, 1)}
    for name, grew_at in failover.progress.grew_at.items():
        before = [t for t in grew_at if t <= failover.killed_at]
        after = [t for t in grew_at if t > failover.killed_at]
        assert before and after, f"{name} did not progress on both sides of the kill"
        pause = longest_gap(grew_at, before[-1], max(after[0], failover.sending_stopped_at))
        figures[f"{name} pause_s"] = round(pause, 1)
        usual = longest_gap(grew_at, failover.started_at, failover.killed_at)
        figures[f"{name} usual_gap_s"] = round(usual, 1)
        figures[f"{name} resumed_after_kill_s"] = round(after[0] - failover.killed_at, 1)
    figures["leader moved after_s"] = round(failover.moved_at - failover.killed_at, 1)
    figures["node down_s"] = round(failover.back_at - failover.killed_at, 1)
    figures["node back in sync_s"] = round(failover.in_sync_at - failover.back_at, 1)
    print(f"\nfailover figures (node {failover.victim} killed): {figures}")

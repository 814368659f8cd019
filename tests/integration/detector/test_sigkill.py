"""SIGKILL of ``stophacking detect`` at four points of a micro-batch, each followed by a restart.

Children (each its own process group: the Python driver and its JVM) run the detector
against the test broker on the same output and checkpoint folders while the real
Replayer keeps publishing both streams. Once the first child has committed ingest and
7b batches, the test watches the checkpoints, the outputs and the attack topics from
outside for each :class:`CrashPoint` in turn and sends the whole group SIGKILL there (no
shutdown hook runs), then starts a new child and waits until it commits the batch the
kill cut short:

1. an ingest batch has published its attack records but is not committed;
2. an ingest batch is writing its cleaned or scored parquet;
3. the 7b query has written the batch's join and de-duplication state, not its commit;
4. the 7b query is writing the batch's alerts.

A kill aimed from outside can land just after Spark's commit; then the point is aimed at
again with the restarted child (up to :data:`KILL_ATTEMPTS` per point). The last child
resumes while records still arrive; after the replay stops and every query has caught up
(read from the checkpoints), Ctrl-C stops it.

Checked per stream by Kafka place (topic, partition, offset, record_index): every
produced record is cleaned or quarantined exactly once, every cleaned one scored or
score-quarantined exactly once; the 7b pairs equal :func:`transforms.attack_pairs`
over the scored parquet, without a duplicate; one alert per key and window; and no
process of any child is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines import kafka_io
from pipelines.config import PROJECT_ROOT, KafkaSettings, Settings, replace
from pipelines.detector import transforms
from pipelines.detector.layout import (
    ALERTS_DIR,
    CLEANED_DIR,
    INGEST_QUERY,
    PAIRS_DIR,
    PAIRS_QUERY,
    QUARANTINE_DIR,
    SCORED_DIR,
    SUCCESS_MARKER,
    DetectorTopics,
)
from pipelines.replay.kafka_producer import Replayer
from pipelines.schema.columns import STREAMS, Stream
from tests.support.detector import (
    committed_batches,
    detect_command,
    detect_env,
    kafka_query_drained,
    live_group_members,
    wait_until,
)
from tests.support.detector_outputs import kafka_places

TRIGGER_S = 1.0
REPLAY_RULES = {
    "replay.process.rows_min": 2,
    "replay.process.rows_max": 5,
    "replay.memory.rows_min": 2,
    "replay.memory.rows_max": 6,
    "replay.memory.late_rows_max": 2,
}
"""Few rows per machine and cycle (cycles of 5 s and 10 s): about 3 records/s per stream,
so the data stays tiny however long the JVMs take to start on a loaded machine."""
REPLAY_BOUND_S = 3600.0
"""Upper bound of the replay; the fixture stops it long before (four kills and restarts
took 11 minutes on a heavily loaded machine: the replay must outlast them)."""
BATCHES_BEFORE_KILL = 1
KILL_ATTEMPTS = 3
"""Kills aimed at one crash point at most, until one lands inside it."""
CRASH_WINDOW_TIMEOUT_S = 240.0
"""How long to look for a batch between its attack publish and its commit before killing."""
CRASH_WINDOW_POLL_S = 0.05
START_TIMEOUT_S = 600.0
"""Upper bound for a fresh JVM, the models and the first batches (about 1 min on an idle
2-core machine; the first batch compiles the plans; seen above 4 min under heavy load)."""
DRAIN_TIMEOUT_S = 600.0
EXIT_TIMEOUT_S = 120.0
pytestmark = pytest.mark.timeout(
    (4 * KILL_ATTEMPTS + 1) * START_TIMEOUT_S
    + 2 * DRAIN_TIMEOUT_S
    + 4 * KILL_ATTEMPTS * CRASH_WINDOW_TIMEOUT_S
)
PlaceKey = tuple[int, int]
"""(offset, record_index) on a one-partition topic."""


@dataclass
class KilledRun:
    topics: dict[str, str]
    output_dir: Path
    first_returncode: int
    survivors_after_kill: list[int]
    survivors_after_stop: list[int]
    second_returncode: int
    ends_at_kill: dict[str, int]
    ends_final: dict[str, int]
    in_flight_at_kill: dict[str, bool] = field(default_factory=dict)
    crashed_stream: Stream | None = None
    """The stream killed between its attack publish and its commit (None: not caught)."""
    landed: dict[str, bool] = field(default_factory=dict)
    """Crash point → whether a kill landed there (its batch was left uncommitted)."""
    recovery_s: dict[str, float] = field(default_factory=dict)
    """Crash point → seconds from the restart to the commit of the batch it cut short."""
    children: int = 0


def _ends(settings: Settings, topics: dict[str, str]) -> dict[str, int]:
    return {s: sum(kafka_io.topic_end_offsets(settings.kafka, topics[s]).values()) for s in STREAMS}


def _replay(settings: Settings, files: dict[Stream, Path], topics: dict[str, str],
            stop: threading.Event) -> list[threading.Thread]:  # fmt: skip
    settings = replace(settings, REPLAY_RULES)

    def run(stream: Stream) -> None:
        with Replayer(
            settings, stream, file=files[stream], seed=11,
            topic=topics[stream], run_id=f"sigkill-{stream}",
        ) as replayer:  # fmt: skip
            assert replayer.run(duration_s=REPLAY_BOUND_S, stop=stop).errors == 0

    threads = [threading.Thread(target=run, args=(s,), name=f"replay-{s}") for s in STREAMS]
    for thread in threads:
        thread.start()
    return threads


class CrashPoint:
    """One moment of a micro-batch to SIGKILL the detector at, spotted from outside.

    Every point is inside a batch that Spark has planned (``offsets/<n>``) and not
    committed (no ``commits/<n>``): killed there, the batch runs again after the restart
    from the same offsets and state, and must neither lose nor repeat anything.

    Args:
        name: what the kill interrupts (the tests and the reliability table quote it).
        queries: the checkpoint folders of the queries whose in-flight batch is watched.
        inside: (query checkpoint, batch id, since) → whether that batch is at this point
            now, by evidence written after ``since`` (unix seconds: when the child being
            watched started; a killed child's leftovers do not count).
    """

    def __init__(
        self, name: str, queries: list[Path], inside: Callable[[Path, int, float], bool]
    ) -> None:
        self.name = name
        self.queries = queries
        self.inside = inside
        self.caught: tuple[Path, int] | None = None

    def in_flight(self) -> list[tuple[Path, int]]:
        found = []
        for query in self.queries:
            logged = [int(x.name) for x in (query / "offsets").glob("[0-9]*")]
            batch = max(logged, default=-1)
            if batch >= 0 and not (query / "commits" / str(batch)).exists():
                found.append((query, batch))
        return found

    def reached(self, since: float) -> bool:
        for query, batch in self.in_flight():
            if self.inside(query, batch, since):
                self.caught = (query, batch)
                return True
        return False

    def landed(self) -> bool:
        """After the kill: the batch it aimed at was left without its commit."""
        return (
            self.caught is not None
            and not (self.caught[0] / "commits" / str(self.caught[1])).exists()
        )


class AttacksPublished:
    """An ingest batch that published its attack records (the topic grew while it was in
    flight): the window the at-least-once attack topic exists for, since the re-run
    publishes them a second time."""

    def __init__(self, kafka: KafkaSettings, topics: dict[str, str]) -> None:
        self.consumer = KafkaConsumer(**kafka_io.client_config(kafka, enable_auto_commit=False))
        self.partitions = {
            INGEST_QUERY[s]: TopicPartition(topics[f"{s}_attacks"], 0) for s in STREAMS
        }  # one-partition test topics
        self.seen: dict[str, tuple[int, int]] = {}  # query → (batch in flight, topic end)

    def __call__(self, query: Path, batch: int, since: float) -> bool:
        tp = self.partitions[query.name]
        end = int(self.consumer.end_offsets([tp])[tp])
        known = self.seen.get(query.name)
        if known is None or known[0] != batch:
            self.seen[query.name] = (batch, end)
            return False
        return end > known[1]

    def close(self) -> None:
        self.consumer.close()


def _newer(path: Path, since: float) -> bool:
    try:
        return path.stat().st_mtime >= since
    except OSError:  # removed meanwhile (an overwrite starts by deleting the folder)
        return False


def _writing(folders: Callable[[Path], list[Path]]) -> Callable[[Path, int, float], bool]:
    """The batch's own ``batch=<id>`` folder in one of the outputs was made by this child
    and has no ``_SUCCESS`` yet: Spark is writing its parquet files."""

    def inside(query: Path, batch: int, since: float) -> bool:
        return any(
            _newer(root / f"batch={batch}", since)
            and not (root / f"batch={batch}" / SUCCESS_MARKER).exists()
            for root in folders(query)
        )

    return inside


def _state_written(query: Path, batch: int, since: float) -> bool:
    """The join and de-duplication state of the batch (version ``batch + 1``) was written
    by this child in some partition's store, and the batch is not committed."""
    return any(_newer(f, since) for f in (query / "state").glob(f"*/*/{batch + 1}.delta"))


def crash_points(
    kafka: KafkaSettings, topics: dict[str, str], output_dir: Path, checkpoints: Path
) -> list[CrashPoint]:
    """The four kills, in the order the run makes them."""
    ingest = [checkpoints / INGEST_QUERY[s] for s in STREAMS]
    pairs = [checkpoints / PAIRS_QUERY]
    stream_of = {INGEST_QUERY[s]: s for s in STREAMS}
    return [
        CrashPoint("after an ingest batch published its attacks, before its commit", ingest,
                   AttacksPublished(kafka, topics)),
        CrashPoint("during an ingest batch's parquet write", ingest, _writing(
            lambda q: [output_dir / CLEANED_DIR[stream_of[q.name]],
                       output_dir / SCORED_DIR[stream_of[q.name]]])),
        CrashPoint("during the 7b state commit", pairs, _state_written),
        CrashPoint("during the alerts batch (alerts being written)", pairs,
                   _writing(lambda _q: [output_dir / ALERTS_DIR])),
    ]  # fmt: skip


def _kill_at(child: subprocess.Popen[bytes], started: float, log: Path, point: CrashPoint) -> bool:
    """SIGKILL the child's group once the point is reached (or at the timeout).

    Args:
        started: when the child was started (unix seconds).

    Returns whether the kill landed there (checked afterwards: the batch it aimed at has
    no commit; Spark may commit in the milliseconds before the kill lands).
    """
    deadline = time.monotonic() + CRASH_WINDOW_TIMEOUT_S
    reached = False
    while not reached and time.monotonic() < deadline:
        assert child.poll() is None, log.read_text()[-3000:]
        reached = point.reached(started)
        if not reached:
            time.sleep(CRASH_WINDOW_POLL_S)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=EXIT_TIMEOUT_S)
    return reached and point.landed()


@pytest.fixture(scope="module")
def killed_run(
    broker_settings: Settings,
    shared_dir: Path,
    tiny_files: dict[Stream, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[KilledRun]:
    root = tmp_path_factory.mktemp("sigkill")
    topics = DetectorTopics.unique("test.sigkill").names()
    kafka_io.ensure_topics(broker_settings.kafka, list(topics.values()))
    output_dir, checkpoints = root / "out", root / "checkpoints"
    env = detect_env(broker_settings.kafka, root / "home", topics, broker_settings.jars_dir)
    command = detect_command(
        shared_dir / "models" / "provided", output_dir, checkpoints, "--trigger", str(TRIGGER_S)
    )

    def start(log_name: str) -> subprocess.Popen[bytes]:
        with (root / log_name).open("w") as log:
            return subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env,
                start_new_session=True,  # its own process group: Python and its JVM
            )  # fmt: skip

    def alive(child: subprocess.Popen[bytes], log_name: str) -> bool:
        """Fail at once, with the end of its log, if the child has exited."""
        assert child.poll() is None, (root / log_name).read_text()[-3000:]
        return True

    def ingest_commits(stream: Stream) -> int:
        return len(committed_batches(checkpoints / f"ingest_{stream}"))

    stop_replay = threading.Event()
    replay = _replay(broker_settings, tiny_files, topics, stop_replay)
    children: list[subprocess.Popen[bytes]] = []
    landed: dict[str, bool] = {}
    recovery_s: dict[str, float] = {}
    crashed_stream: Stream | None = None
    try:
        first, started_first = start("first.log"), time.time()
        children.append(first)
        wait_until(
            lambda: (
                alive(first, "first.log")
                and all(ingest_commits(s) >= BATCHES_BEFORE_KILL for s in STREAMS)
                and bool(committed_batches(checkpoints / "attack_pairs"))
            ),
            START_TIMEOUT_S,
            "the first detector commits ingest and 7b batches",
        )
        # Each point in turn: kill there, restart on the same folders, wait until the new
        # child has committed the batch the kill cut short (the time to recover). A kill
        # aimed from outside can land just after Spark's commit; then the same point is
        # aimed at again with the restarted child (each attempt checks the commit log).
        points = crash_points(broker_settings.kafka, topics, output_dir, checkpoints)
        killed, log_name, started = first, "first.log", started_first
        for point in points:
            for attempt in range(1, KILL_ATTEMPTS + 1):
                point.caught = None
                landed[point.name] = _kill_at(killed, started, root / log_name, point)
                wait_until(
                    lambda pid=killed.pid: not live_group_members(pid),  # type: ignore[misc]
                    30,
                    "the killed group is gone",
                )
                if point is points[-1] and (landed[point.name] or attempt == KILL_ATTEMPTS):
                    break
                log_name = f"child{len(children) + 1}.log"
                killed, started = start(log_name), time.time()
                children.append(killed)
                if point.caught is not None:
                    query, batch = point.caught
                    recovery_s[point.name] = wait_until(
                        lambda child=killed, log=log_name, q=query, b=batch: (  # type: ignore[misc]
                            alive(child, log) and (q / "commits" / str(b)).exists()
                        ),
                        START_TIMEOUT_S,
                        f"the restarted detector commits {query.name} batch {batch}",
                    )
                if landed[point.name]:
                    break
        if isinstance(points[0].inside, AttacksPublished):
            points[0].inside.close()
            if landed[points[0].name] and points[0].caught is not None:
                crashed_stream = next(
                    s for s in STREAMS if INGEST_QUERY[s] == points[0].caught[0].name
                )
        ends_at_kill = _ends(broker_settings, topics)
        first_returncode = killed.wait(timeout=EXIT_TIMEOUT_S)
        wait_until(lambda: not live_group_members(killed.pid), 30, "the killed group is gone")
        survivors_after_kill = live_group_members(killed.pid)
        in_flight = {
            s: len(list((checkpoints / f"ingest_{s}" / "offsets").glob("[0-9]*")))
            > ingest_commits(s)
            for s in STREAMS
        }
        commits_at_kill = {s: ingest_commits(s) for s in STREAMS}

        second = start("second.log")
        children.append(second)
        if points[-1].caught is not None:
            query, batch = points[-1].caught
            recovery_s[points[-1].name] = wait_until(
                lambda: alive(second, "second.log") and (query / "commits" / str(batch)).exists(),
                START_TIMEOUT_S,
                f"the last detector commits {query.name} batch {batch}",
            )
        wait_until(
            lambda: (
                alive(second, "second.log")
                and all(ingest_commits(s) > commits_at_kill[s] for s in STREAMS)
            ),
            START_TIMEOUT_S,
            "the restarted detector commits new ingest batches",
        )
        stop_replay.set()
        for thread in replay:
            thread.join(timeout=EXIT_TIMEOUT_S)
        ends_final = _ends(broker_settings, topics)
        for stream in STREAMS:
            wait_until(
                lambda s=stream: kafka_query_drained(  # type: ignore[misc]
                    checkpoints / f"ingest_{s}", broker_settings.kafka, [topics[s]]
                ),
                DRAIN_TIMEOUT_S,
                f"ingest_{stream} reads its topic to the end",
            )
        wait_until(
            lambda: kafka_query_drained(
                checkpoints / "attack_pairs",
                broker_settings.kafka,
                [topics["process_attacks"], topics["memory_attacks"]],
            ),
            DRAIN_TIMEOUT_S,
            "the 7b query reads both attack topics to the end",
        )
        alive(second, "second.log")
        second.send_signal(signal.SIGINT)
        second_returncode = second.wait(timeout=EXIT_TIMEOUT_S)
        wait_until(lambda: not live_group_members(second.pid), 30, "the stopped group is gone")
        yield KilledRun(
            topics=topics,
            output_dir=output_dir,
            first_returncode=first_returncode,
            survivors_after_kill=survivors_after_kill,
            survivors_after_stop=live_group_members(second.pid),
            second_returncode=second_returncode,
            ends_at_kill=ends_at_kill,
            ends_final=ends_final,
            in_flight_at_kill=in_flight,
            crashed_stream=crashed_stream,
            landed=landed,
            recovery_s=recovery_s,
            children=len(children) + 1,
        )
    finally:
        stop_replay.set()
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def _read(spark: SparkSession, folder: Path) -> DataFrame | None:
    return spark.read.parquet(str(folder)) if folder.is_dir() else None


def test_the_first_detector_died_of_sigkill_while_records_kept_arriving(
    killed_run: KilledRun,
) -> None:
    assert killed_run.first_returncode == -signal.SIGKILL
    for stream in STREAMS:
        assert killed_run.ends_final[stream] > killed_run.ends_at_kill[stream], stream
    print(f"ingest batch in flight at the kill: {killed_run.in_flight_at_kill}")


def test_no_process_of_either_detector_remains(killed_run: KilledRun) -> None:
    assert killed_run.survivors_after_kill == []
    assert killed_run.survivors_after_stop == []
    assert killed_run.second_returncode == 0


@pytest.mark.parametrize("stream", STREAMS)
def test_every_record_is_cleaned_or_quarantined_and_scored_exactly_once(
    killed_run: KilledRun,
    spark: SparkSession,
    stream: Stream,
    topic_records: Callable[..., Any],
    broker_settings: Settings,
) -> None:
    produced = sorted(
        (offset, index)
        for offset, index, _ in topic_records(broker_settings.kafka, killed_run.topics[stream])
    )
    assert produced[-1][0] == killed_run.ends_final[stream] - 1
    out = killed_run.output_dir
    quarantine = _read(spark, out / QUARANTINE_DIR)
    if quarantine is not None:
        quarantine = quarantine.filter(F.col("stream") == stream)
    stage = F.col(transforms.STAGE)
    unparsed = None if quarantine is None else quarantine.filter(stage != transforms.STAGE_SCORE)
    unscored = None if quarantine is None else quarantine.filter(stage == transforms.STAGE_SCORE)
    cleaned = kafka_places(_read(spark, out / CLEANED_DIR[stream]))
    scored = kafka_places(_read(spark, out / SCORED_DIR[stream]))
    assert sorted(cleaned + kafka_places(unparsed)) == produced
    assert sorted(scored + kafka_places(unscored)) == cleaned
    assert len(set(scored)) == len(scored) > 0


@pytest.mark.parametrize("stream", STREAMS)
def test_the_attack_topic_holds_every_scored_attack_at_least_once(
    killed_run: KilledRun,
    spark: SparkSession,
    stream: Stream,
    topic_records: Callable[..., Any],
    broker_settings: Settings,
) -> None:
    published = Counter(
        (r["offset"], r["record_index"])
        for _, _, r in topic_records(broker_settings.kafka, killed_run.topics[f"{stream}_attacks"])
    )
    scored = _read(spark, killed_run.output_dir / SCORED_DIR[stream])
    assert scored is not None
    attacks = kafka_places(scored.filter(F.col("prediction") == 1.0))
    assert set(published) == set(attacks)
    repeated = sum(n - 1 for n in published.values())
    print(f"{stream}: {len(attacks)} attacks scored, {repeated} published twice by a re-run batch")
    if stream == killed_run.crashed_stream:
        # Killed after the publish, before the commit: the re-run published them again,
        # so the 7b checks below run on an attack topic with real duplicates.
        assert repeated > 0


def test_the_kill_landed_between_an_attack_publish_and_its_commit(killed_run: KilledRun) -> None:
    assert killed_run.crashed_stream in STREAMS, "no batch was caught in that window"


def test_a_kill_landed_at_every_crash_point_and_each_restart_recovered(
    killed_run: KilledRun,
) -> None:
    print(f"{killed_run.children} detector processes; seconds from restart to the commit "
          f"of the batch cut short: {killed_run.recovery_s}")  # fmt: skip
    assert len(killed_run.landed) == 4
    missed = [name for name, ok in killed_run.landed.items() if not ok]
    assert not missed, f"no kill landed {missed}"
    assert set(killed_run.recovery_s) == set(killed_run.landed)


def _pair_identity(pairs: DataFrame) -> list[tuple[int, ...]]:
    columns = [f"{side}_{c}" for side in ("process", "memory") for c in ("offset", "record_index")]
    return sorted(tuple(r) for r in pairs.select(*columns).collect())


def test_the_7b_pairs_equal_a_batch_recomputation_without_duplicates(
    killed_run: KilledRun, spark: SparkSession
) -> None:
    out = killed_run.output_dir
    scored = {s: spark.read.parquet(str(out / SCORED_DIR[s])).drop("batch") for s in STREAMS}
    expected = _pair_identity(transforms.attack_pairs(scored["process"], scored["memory"]))
    found = _pair_identity(spark.read.parquet(str(out / PAIRS_DIR)))
    assert expected, "the replay should give 7b pairs"
    assert len(set(found)) == len(found)
    assert found == expected


def test_one_alert_per_key_and_window_of_the_recomputed_pairs(
    killed_run: KilledRun, spark: SparkSession
) -> None:
    out = killed_run.output_dir
    scored = {s: spark.read.parquet(str(out / SCORED_DIR[s])).drop("batch") for s in STREAMS}
    groups = transforms.alert_groups(transforms.attack_pairs(scored["process"], scored["memory"]))
    expected = sorted(
        r["key"] for r in groups.select(transforms.alert_key(groups).alias("key")).collect()
    )
    alerts = spark.read.parquet(str(out / ALERTS_DIR))
    raised = [r["key"] for r in alerts.select(transforms.alert_key(alerts).alias("key")).collect()]
    assert sorted(raised) == expected

"""Detection quality end to end: generated data, the project's own models, one detector run.

The module generates a small seeded data set (four machines), replays both streams with
the real ``Replayer`` (simulated clock, memory rows held back as in production) onto
fresh topics, then runs one ``Detector`` with the default models of ``models/`` (trained
by ``make setup`` / ``stophacking setup`` on the generator's labelled files, which are
drawn independently of the streaming files) and drains every query.

Replay shape. Everything is published before the detector starts, so its monitoring
queries may see the two scored streams in any order. The replay therefore spans 20 s of
event time (five 5 s process cycles, three 10 s memory cycles): with a 20 s watermark no
row can be late whatever the micro-batch boundaries, so the streaming outputs must equal
their batch recomputations exactly. To have several attacks per machine inside those
20 s, each cycle sends about four times the default rows (the generator's streams stay
in step: both are scaled alike), and more memory rows are held back (10–40 instead of
0–5) so that late rows are plentiful. The run starts 5 s before a 2-minute window
boundary: the rows held back in the first memory cycle carry an event time in the first
window but arrive with the second cycle's rows, whose event time is in the next window.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines import kafka_io
from pipelines.config import Settings, replace
from pipelines.data.generator import GeneratedFiles, generate
from pipelines.detector import transforms
from pipelines.detector.job import Detector
from pipelines.detector.layout import PAIRS_DIR, SCORED_DIR, DetectorTopics
from pipelines.detector.quality import (
    DetectionQuality,
    evaluate_detection,
    format_quality,
    ground_truth_for,
    read_ground_truth,
)
from pipelines.replay.kafka_producer import Replayer
from pipelines.replay.plan import CyclePlanner
from pipelines.replay.rows import load_stream_rows
from pipelines.schema.columns import STREAMS, Stream
from tests.support.detector_outputs import (
    check_one_alert_per_recomputed_key,
    same_rows,
    topic_values,
)

SEED = 11
MACHINES = (4, 5, 7, 8)
ROWS_PER_MACHINE = 1000
WINDOW_BOUNDARY_TS = 1_700_000_040  # a multiple of the 120 s window
START_TS = WINDOW_BOUNDARY_TS - 5.0
CYCLES: dict[Stream, int] = {"process": 5, "memory": 3}
REPLAY_OVERRIDES = {
    "replay.process.rows_min": 80,
    "replay.process.rows_max": 160,
    "replay.memory.rows_min": 140,
    "replay.memory.rows_max": 280,
    "replay.memory.late_rows_min": 10,
    "replay.memory.late_rows_max": 40,
}
COUNTS_TABLE = "attack_counts_quality"
MIN_F1 = 0.7
COUNT_TOLERANCE = 0.10
COUNT_SLACK = 2

Identity = tuple[str, int, int, int]  # run_id, machine, pass, sequence


@dataclass
class QualityRun:
    """What the module's single run produced."""

    detector: Detector
    topics: DetectorTopics
    files: GeneratedFiles
    late_memory: set[Identity]  # the held-back memory rows, from the replay plan


def _late_rows(settings: Settings, files: GeneratedFiles, run_id: str) -> set[Identity]:
    """Identities of the memory rows the Replayer holds back, from its own planner."""
    rows = load_stream_rows(files.memory, "memory")
    rule = settings.replay.memory
    planner = CyclePlanner(rows.row_counts, rule, random.Random(SEED))
    late: set[Identity] = set()
    for cycle in range(CYCLES["memory"]):
        plan = planner.next_cycle(START_TS + cycle * rule.cycle_period_s)
        late |= {
            (run_id, p.machine, p.pass_, rows.machines[p.machine][p.index].sequence)
            for p in plan.held
        }
    return late


@pytest.fixture(scope="module")
def quality_run(
    broker_settings: Settings, spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[QualityRun]:
    root = tmp_path_factory.mktemp("quality")
    files = generate(
        root / "data", seed=SEED, machines=MACHINES, rows_per_machine=ROWS_PER_MACHINE,
        labelled_rows=40,
    )  # fmt: skip
    settings = replace(broker_settings, REPLAY_OVERRIDES)
    topics = DetectorTopics.unique("test.q")
    kafka_io.ensure_topics(settings.kafka, [topics.process, topics.memory])
    for stream in STREAMS:
        with Replayer(
            settings,
            stream,
            file=files.streaming(stream),
            seed=SEED,
            max_rate=True,
            clock="simulated",
            start_ts=START_TS,
            topic=topics.source(stream),
            run_id=f"quality-{stream}",
        ) as replayer:
            report = replayer.run(cycles=CYCLES[stream])
        assert report.errors == 0
    # The project's own models: settings.models_dir, trained by `make setup` when missing.
    detector = Detector(
        settings,
        output_dir=root / "out",
        checkpoint_dir=root / "checkpoints",
        trigger_s=1.0,
        topics=topics,
        counts_table=COUNTS_TABLE,
        spark=spark,
    )
    detector.start()
    try:
        detector.process_all_available()
        yield QualityRun(detector, topics, files, _late_rows(settings, files, "quality-memory"))
    finally:
        detector.stop()


@pytest.fixture(scope="module")
def quality(quality_run: QualityRun, spark: SparkSession) -> DetectionQuality:
    ground_truth = ground_truth_for(quality_run.files.process)
    assert ground_truth == quality_run.files.folder
    result = evaluate_detection(spark, quality_run.detector.output_dir, ground_truth)
    print("\n" + "\n".join(format_quality(result)))  # the figures, shown with pytest -s
    return result


def _scored(spark: SparkSession, run: QualityRun) -> dict[Stream, DataFrame]:
    out = run.detector.output_dir
    return {s: spark.read.parquet(str(out / SCORED_DIR[s])).drop("batch") for s in STREAMS}


def _labels(run: QualityRun, stream: Stream) -> dict[tuple[int, int], int]:
    rows = read_ground_truth(run.files.labels(stream))
    return {(machine, sequence): attack for machine, sequence, attack, _ in rows}


# -- 7a and 7b produce something ------------------------------------------------------------
def test_window_counts_and_attack_pairs_are_not_empty(
    quality_run: QualityRun, spark: SparkSession
) -> None:
    table = spark.table(COUNTS_TABLE)
    assert {r["stream"] for r in table.collect()} == set(STREAMS)
    assert table.filter(F.col(transforms.COUNT) > 0).count() > 0
    pairs = spark.read.parquet(str(quality_run.detector.output_path(PAIRS_DIR)))
    assert pairs.count() > 0


# -- detection quality ------------------------------------------------------------------------
@pytest.mark.parametrize("stream", STREAMS)
def test_per_record_quality_matches_a_plain_recount_and_f1_is_high(
    quality_run: QualityRun, quality: DetectionQuality, spark: SparkSession, stream: Stream
) -> None:
    labels = _labels(quality_run, stream)
    rows = _scored(spark, quality_run)[stream].select("machine", "sequence", "prediction")
    outcomes: dict[str, int] = defaultdict(int)
    for row in rows.collect():
        predicted, actual = row["prediction"] == 1.0, labels[(row["machine"], row["sequence"])]
        outcomes["tp"] += predicted and actual == 1
        outcomes["fp"] += predicted and actual == 0
        outcomes["fn"] += not predicted and actual == 1
    scores = quality.streams[stream]
    assert (scores.tp, scores.fp, scores.fn) == (outcomes["tp"], outcomes["fp"], outcomes["fn"])
    assert quality.evaluated[stream] == rows.count() and quality.unlabelled[stream] == 0
    assert scores.tp >= 20, "too few attacks replayed for a meaningful F1"
    assert scores.f1 >= MIN_F1, format_quality(quality)


def test_event_quality_matches_a_plain_recount(
    quality_run: QualityRun, quality: DetectionQuality, spark: SparkSession
) -> None:
    scored = _scored(spark, quality_run)
    attack_times: dict[Stream, dict[tuple[Any, ...], list[datetime]]] = {}
    for stream in STREAMS:
        labels = _labels(quality_run, stream)
        times: dict[tuple[Any, ...], list[datetime]] = defaultdict(list)
        for row in (
            scored[stream].select("machine", "sequence", "CMD", "PID", "event_time").collect()
        ):
            if labels[(row["machine"], row["sequence"])] == 1:
                times[(row["machine"], row["CMD"], row["PID"])].append(row["event_time"])
        attack_times[stream] = times
    true_keys = {
        key
        for key, process_times in attack_times["process"].items()
        if any(
            abs((p - m).total_seconds()) < transforms.PAIR_TOLERANCE_S
            for p in process_times
            for m in attack_times["memory"].get(key, [])
        )
    }
    pairs = spark.read.parquet(str(quality_run.detector.output_path(PAIRS_DIR)))
    predicted = {(r["machine"], r["CMD"], r["PID"]) for r in pairs.collect()}
    events = quality.events
    assert (events.tp, events.fp, events.fn) == (
        len(predicted & true_keys),
        len(predicted - true_keys),
        len(true_keys - predicted),
    )
    assert events.tp > 0


# -- 7a: counts, exactness, late rows -----------------------------------------------------------
def _exact_counts(scored: dict[Stream, DataFrame]) -> dict[tuple[int, datetime, str], int]:
    """Exact distinct CMD_PID per (machine, window start, stream) of attack predictions."""
    exact: dict[tuple[int, datetime, str], set[str]] = defaultdict(set)
    for stream, df in scored.items():
        for row in (
            df.filter(F.col("prediction") == 1.0)
            .select("machine", transforms.CMD_PID, "event_time")
            .collect()
        ):
            exact[(row["machine"], _window_start(row["event_time"]), stream)].add(
                row[transforms.CMD_PID]
            )
    return {key: len(programs) for key, programs in exact.items()}


def _window_start(event_time: datetime) -> datetime:
    seconds = int(event_time.replace(tzinfo=UTC).timestamp())
    start = seconds - seconds % transforms.WINDOW_S
    return datetime.fromtimestamp(start, tz=UTC).replace(tzinfo=None)


def _close(approximate: int, exact: int) -> bool:
    """Within 10 % or ±2 of the exact distinct count (HyperLogLog++ at 5 % error)."""
    return abs(approximate - exact) <= max(COUNT_SLACK, COUNT_TOLERANCE * exact)


def _table(spark: SparkSession) -> dict[tuple[int, datetime, str], int]:
    return {
        (r["machine"], r[transforms.WINDOW_START], r["stream"]): r[transforms.COUNT]
        for r in spark.table(COUNTS_TABLE).collect()
    }


def test_counts_equal_a_batch_recomputation_and_are_close_to_exact(
    quality_run: QualityRun, spark: SparkSession
) -> None:
    scored = _scored(spark, quality_run)
    same_rows(spark.table(COUNTS_TABLE), transforms.attack_counts(scored))
    table, exact = _table(spark), _exact_counts(scored)
    assert set(table) == set(exact)
    for key, count in table.items():
        assert _close(count, exact[key]), key


def test_late_memory_rows_are_counted_in_their_own_window(
    quality_run: QualityRun, spark: SparkSession
) -> None:
    memory = _scored(spark, quality_run)["memory"]
    key = ["run_id", "machine", "pass", "sequence"]
    held = spark.createDataFrame(
        sorted(quality_run.late_memory), "run_id string, machine long, pass long, sequence long"
    )
    late_rows = memory.join(held, on=key, how="left_semi")
    on_time = memory.join(held, on=key, how="left_anti")
    assert late_rows.count() == len(quality_run.late_memory), "every held-back row was scored"
    late = late_rows.filter(F.col("prediction") == 1.0).collect()
    assert late, "no held-back memory row was predicted as attack: nothing to check"
    boundary = datetime.fromtimestamp(WINDOW_BOUNDARY_TS, tz=UTC).replace(tzinfo=None)
    # Held back in the first cycle (event time before the boundary), sent with the second.
    assert any(r["event_time"] < boundary for r in late)

    table = _table(spark)
    with_late = _exact_counts({"memory": memory})
    without_late = _exact_counts({"memory": on_time})
    windows = {(r["machine"], _window_start(r["event_time"]), "memory") for r in late}
    for key in windows:
        # The row of the late rows' own event-time window counts them ...
        assert key in table
        assert abs(table[key] - with_late[key]) <= max(
            COUNT_SLACK, COUNT_TOLERANCE * with_late[key]
        )
    # ... and in some window the late rows add programs no on-time row had: proof that
    # the streaming count included them (it equals the recomputation with them, above).
    assert any(with_late[k] > without_late.get(k, 0) for k in windows)
    streamed = spark.table(COUNTS_TABLE).filter(F.col("stream") == "memory")
    same_rows(streamed, transforms.attack_counts({"memory": memory}))


# -- 7b and alerts ---------------------------------------------------------------------------
def test_pairs_equal_a_batch_recomputation_and_alerts_are_one_per_key(
    quality_run: QualityRun, spark: SparkSession
) -> None:
    scored = _scored(spark, quality_run)
    streamed = spark.read.parquet(str(quality_run.detector.output_path(PAIRS_DIR)))
    batch = transforms.attack_pairs(scored["process"], scored["memory"]).drop(transforms.PAIRED_AT)
    same_rows(streamed.drop(transforms.PAIRED_AT, "batch"), batch)
    alerts = topic_values(
        spark, quality_run.detector.settings.kafka.bootstrap_servers, quality_run.topics.alerts
    )
    check_one_alert_per_recomputed_key(alerts, scored)

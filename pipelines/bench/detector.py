"""Detector throughput: time the streaming detector draining a replayed backlog.

``stophacking bench detector`` (SPEC §5 "Real time", §8). Each run:

1. publishes a warm-up backlog per stream to fresh topics (the real
   :class:`~pipelines.replay.kafka_producer.Replayer`, max rate, simulated clock) and
   lets a :class:`~pipelines.detector.job.Detector` drain it: the JVM compiles and
   optimises its code during that first batch, which is not timed as the drain (its
   own rate is reported: in the first run it is the cold JVM's). The first run's
   warm-up is as large as the measured backlog: after a 20,000-record one, the JIT
   compiler still took 15–19 % of the JVM's CPU during the next two runs' drains
   (async-profiler, docs/detector.md), which a detector running for hours is past;
2. stops the detector, publishes the measured backlog (``--records`` per stream), and
   starts it again on the same checkpoints with no cap on the batch size: the time from
   the first ingest batch's start to the last one's end, for both streams together,
   gives the drain rate with every output on (cleaned, scored, quarantine parquet, the
   attack topics, 7a, 7b, alerts, health);
3. beside it, in the same JVM, the ceiling: one streaming query per stream doing only
   Kafka → JSON parse → the same model → parquet, on the same topics (run twice; the
   second run is timed).
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pipelines import kafka_io
from pipelines.config import CycleSettings, Settings
from pipelines.detector.ceiling import time_ceiling
from pipelines.detector.health import BatchStatus
from pipelines.detector.job import Detector
from pipelines.detector.layout import DetectorTopics
from pipelines.errors import ConfigError
from pipelines.replay.kafka_producer import Replayer
from pipelines.replay.message import MessageLayout
from pipelines.replay.rows import load_stream_rows
from pipelines.schema.columns import STREAMING_FILE_NAMES, STREAMS, Stream

DEFAULT_RECORDS_PER_STREAM: Final = 100_000
DEFAULT_WARMUP_RECORDS: Final = 20_000
"""Warm-up backlog per stream of the second and later runs (the JVM is warm by then)."""
DEFAULT_RUNS: Final = 3
DEFAULT_TIMEOUT_S: Final = 900.0
POLL_S: Final = 0.05
START_TS: Final = 1_700_000_000.0
"""First event time of the simulated clock (any fixed value: runs are independent)."""


@dataclass(frozen=True)
class DrainRun:
    """One timed drain of a backlog.

    Attributes:
        records: records drained per stream.
        drain_s: seconds from the first ingest batch's start to the last one's end.
        batches: ingest micro-batches per stream.
        batch_s: ingest micro-batch durations per stream, seconds.
        ceiling_per_s: records/s of the ceiling queries on the same topics.
        warmup_per_s: records/s of the run's warm-up drain, timed the same way (the
            first run's is the cold JVM's).
    """

    records: Mapping[Stream, int]
    drain_s: float
    batches: Mapping[Stream, int]
    batch_s: Mapping[Stream, tuple[float, ...]]
    ceiling_per_s: float
    warmup_per_s: float

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def records_per_s(self) -> float:
        """Records of both streams per second of draining."""
        return self.total_records / self.drain_s if self.drain_s > 0 else 0.0


@dataclass(frozen=True)
class DetectorBenchmark:
    """The runs of one benchmark."""

    runs: tuple[DrainRun, ...]
    layout: MessageLayout

    @property
    def median_per_s(self) -> float:
        return statistics.median(run.records_per_s for run in self.runs)

    @property
    def median_ceiling_per_s(self) -> float:
        return statistics.median(run.ceiling_per_s for run in self.runs)

    @property
    def cold_per_s(self) -> float:
        """The first run's warm-up drain: the detector's rate in a cold JVM."""
        return self.runs[0].warmup_per_s

    @property
    def median_ratio(self) -> float:
        """Median over runs of drain rate / ceiling of the same run."""
        return statistics.median(
            run.records_per_s / run.ceiling_per_s if run.ceiling_per_s else 0.0 for run in self.runs
        )

    def summary_lines(self) -> list[str]:
        """Printable lines: each run, then the medians."""
        lines = []
        for i, run in enumerate(self.runs, 1):
            per_stream = ", ".join(
                f"{s} {run.records[s]:,} rec in {run.batches[s]} batch(es) "
                f"({', '.join(f'{d:.1f}' for d in run.batch_s[s])} s)"
                for s in STREAMS
            )
            lines.append(
                f"run {i}: {run.total_records:,} records drained in {run.drain_s:.1f} s = "
                f"{run.records_per_s:,.0f} rec/s; ceiling {run.ceiling_per_s:,.0f} rec/s "
                f"(ratio {run.records_per_s / run.ceiling_per_s:.2f}); {per_stream}; "
                f"its warm-up drained at {run.warmup_per_s:,.0f} rec/s"
            )
        lines.append(
            f"detector: median {self.median_per_s:,.0f} rec/s over {len(self.runs)} run(s), "
            f"{self.layout} messages, no cap, warm JVM; ceiling (Kafka → JSON → model → "
            f"parquet) median {self.median_ceiling_per_s:,.0f} rec/s; ratio "
            f"{self.median_ratio:.2f}; cold JVM (the first warm-up) "
            f"{self.cold_per_s:,.0f} rec/s"
        )
        return lines


def cycles_for(records: int, rule: CycleSettings, machines: int) -> int:
    """Cycles a replay needs to send about ``records`` records (at least one)."""
    per_cycle = machines * (
        (rule.rows_min + rule.rows_max) / 2 + (rule.late_rows_min + rule.late_rows_max) / 2
    )
    if per_cycle <= 0:
        raise ConfigError("the cycle rule sends no rows")
    return max(1, math.ceil(records / per_cycle))


def publish_backlog(
    settings: Settings,
    topics: DetectorTopics,
    files: Mapping[Stream, Path],
    records: int,
    *,
    layout: MessageLayout = "record",
    start_ts: float = START_TS,
    run_id: str | None = None,
) -> dict[Stream, int]:
    """Replay about ``records`` records per stream onto the topics; return the counts sent.

    Raises:
        ConfigError: a record was not acknowledged.
    """
    sent: dict[Stream, int] = {}
    for stream in STREAMS:
        machines = len(load_stream_rows(files[stream], stream).machines)
        cycles = cycles_for(records, getattr(settings.replay, stream), machines)
        with Replayer(
            settings,
            stream,
            file=files[stream],
            seed=1,
            max_rate=True,
            clock="simulated",
            start_ts=start_ts,
            topic=topics.source(stream),
            run_id=run_id,
            layout=layout,
        ) as replayer:
            report = replayer.run(cycles=cycles)
        if report.errors:
            raise ConfigError(f"{report.errors} {stream} records were not delivered")
        sent[stream] = report.total_acked
    return sent


def fresh_topics(settings: Settings) -> DetectorTopics:
    """Unique topic names for one run (created), so runs never read each other's data."""
    topics = DetectorTopics.unique("bench")
    kafka_io.ensure_topics(settings.kafka, [topics.process, topics.memory])
    return topics


def drained_span_s(statuses: Sequence[BatchStatus]) -> float:
    """Seconds from the first ingest batch's start to the last one's end (pure)."""
    spans = [(s.ended_at - s.duration_s, s.ended_at) for s in statuses if s.ended_at]
    if not spans:
        return 0.0
    return max(end for _, end in spans) - min(start for start, _ in spans)


def _drain(
    detector: Detector, published: Mapping[Stream, int], timeout_s: float
) -> list[BatchStatus]:
    """Start ``detector`` and wait until its ingest has seen ``published`` records."""
    statuses: list[BatchStatus] = []
    detector.on_batch = statuses.append
    detector.start()
    deadline = time.monotonic() + timeout_s
    while any(detector.stats.per_stream[s].records < published[s] for s in STREAMS):
        failure = detector.failure()
        if failure is not None:
            raise ConfigError(failure)
        if time.monotonic() > deadline:
            raise ConfigError(f"the detector did not drain the backlog in {timeout_s:g} s")
        time.sleep(POLL_S)
    detector.process_all_available()
    detector.stop()
    return statuses


def measure_detector_rate(
    settings: Settings,
    *,
    data_dir: Path | None = None,
    records_per_stream: int = DEFAULT_RECORDS_PER_STREAM,
    warmup_records: int = DEFAULT_WARMUP_RECORDS,
    runs: int = DEFAULT_RUNS,
    layout: MessageLayout = "record",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    echo: Callable[[str], None] | None = None,
) -> DetectorBenchmark:
    """Time ``runs`` warm drains of ``records_per_stream`` records per stream (see above).

    Args:
        settings: product settings; the broker must be reachable.
        data_dir: folder with ``Streaming_Linux_{process,memory}.csv`` (default: the
            generated demo data, generated when missing).
        records_per_stream: the measured backlog per stream.
        warmup_records: the warm-up backlog per stream of the later runs (the first
            run's is ``max(warmup_records, records_per_stream)``; not timed as the drain).
        runs: number of runs (the report gives their median).
        layout: the producers' message layout.
        timeout_s: give up on a drain after this many seconds.
        echo: receives a line per finished run.
    """
    if runs < 1:
        raise ConfigError("at least one run is needed")
    if data_dir is None:
        from pipelines.data.demo_set import ensure_demo_data

        data_dir = ensure_demo_data(settings)
    files = {s: data_dir / STREAMING_FILE_NAMES[s] for s in STREAMS}
    drains: list[DrainRun] = []
    spark: Any = None  # the first run's session, shared by the later runs
    with tempfile.TemporaryDirectory(prefix="stophacking-bench-") as tmp:
        for i in range(runs):
            work = Path(tmp) / f"run-{i}"
            topics = fresh_topics(settings)
            warm_records = max(warmup_records, records_per_stream) if i == 0 else warmup_records
            warm = publish_backlog(settings, topics, files, warm_records, layout=layout)

            def detector(
                tag: str,
                work: Path = work,
                topics: DetectorTopics = topics,
                spark: Any = spark,
            ) -> Detector:
                return Detector(
                    settings,
                    output_dir=work / "out",
                    checkpoint_dir=work / "checkpoints",
                    starting_offsets="earliest",
                    topics=topics,
                    counts_table=f"bench_{tag}_{uuid.uuid4().hex[:8]}",
                    spark=spark,
                )

            first = detector("warm")
            warm_s = drained_span_s(_drain(first, warm, timeout_s))
            spark = first.spark
            measured = publish_backlog(
                settings,
                topics,
                files,
                records_per_stream,
                layout=layout,
                start_ts=START_TS + 10_000,
                run_id=f"bench-{i}",
            )
            second = detector("measured", spark=spark)
            statuses = _drain(second, measured, timeout_s)
            ceiling = time_ceiling(spark, settings, topics, second, work)
            run = DrainRun(
                records=measured,
                drain_s=drained_span_s(statuses),
                batches={s: sum(1 for x in statuses if x.stream == s) for s in STREAMS},
                batch_s={
                    s: tuple(x.duration_s for x in statuses if x.stream == s) for s in STREAMS
                },
                ceiling_per_s=ceiling,
                warmup_per_s=sum(warm.values()) / warm_s if warm_s > 0 else 0.0,
            )
            drains.append(run)
            if echo is not None:
                echo(
                    f"run {i + 1}/{runs}: {run.records_per_s:,.0f} rec/s "
                    f"(ceiling {ceiling:,.0f} rec/s)"
                )
    return DetectorBenchmark(tuple(drains), layout)

"""Detector throughput: time the streaming detector draining a replayed backlog.

Each run publishes ``records_per_stream`` generated records per stream to fresh topics
(the real :class:`~pipelines.replay.kafka_producer.Replayer`, max rate, simulated clock),
then starts a :class:`~pipelines.detector.job.Detector` on them with fresh outputs and
checkpoints and times how long its two ingest queries take to clean, score and write
every record (the moment its running totals reach the published counts). The monitoring
queries (7a, 7b, alerts) run meanwhile and compete for the same cores, as in production.

Beside it, in the same run and on the same session, the ceiling: one Spark batch job
that reads both topics and applies the same decode → clean → flag → score transforms,
writing nothing (``noop`` sink). The gap between the two is what the streaming
machinery and the outputs cost.

Run it with ``stophacking bench detector`` or ``python -m pipelines.bench.detector``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pyspark.sql import SparkSession

from pipelines import kafka_io
from pipelines.config import CycleSettings, Settings, load_settings
from pipelines.detector import transforms as T
from pipelines.detector.health import BatchStatus
from pipelines.detector.job import Detector, kafka_options
from pipelines.detector.layout import DetectorTopics
from pipelines.detector.scoring import score
from pipelines.errors import ConfigError
from pipelines.replay.kafka_producer import Replayer
from pipelines.replay.rows import load_stream_rows
from pipelines.schema.columns import STREAMING_FILE_NAMES, STREAMS, Stream

DEFAULT_RECORDS_PER_STREAM: Final = 3000
DEFAULT_RUNS: Final = 3
DEFAULT_TRIGGER_S: Final = 0.5
"""Short, so that micro-batches run back to back: the run measures capacity, not pacing."""
DEFAULT_MAX_OFFSETS_PER_TRIGGER: Final = 500
"""About what a 5 s trigger receives per stream at the producers' default cadence with
five machines (~200 process, ~175 memory records), with margin: realistic batch sizes."""
DEFAULT_TIMEOUT_S: Final = 900.0
POLL_S: Final = 0.1
START_TS: Final = 1_700_000_000.0
"""First event time of the simulated clock (any fixed value: runs are independent)."""


@dataclass(frozen=True)
class DrainRun:
    """One timed detector run.

    Attributes:
        records: records published per stream.
        drain_s: seconds from the queries' start until both ingest queries had written
            every record.
        settle_s: further seconds until the monitoring queries had caught up too.
        batches: ingest micro-batches per stream.
        median_batch_s: median ingest micro-batch duration per stream, seconds.
    """

    records: Mapping[Stream, int]
    drain_s: float
    settle_s: float
    batches: Mapping[Stream, int]
    median_batch_s: Mapping[Stream, float]

    @property
    def total_records(self) -> int:
        """Records of both streams."""
        return sum(self.records.values())

    @property
    def records_per_s(self) -> float:
        """Records of both streams per second of draining."""
        return self.total_records / self.drain_s if self.drain_s > 0 else 0.0


@dataclass(frozen=True)
class DetectorBenchmark:
    """The runs and the batch-job ceilings of one benchmark."""

    runs: tuple[DrainRun, ...]
    ceiling_per_s: tuple[float, ...]
    max_offsets_per_trigger: int | None

    @property
    def median_per_s(self) -> float:
        """Median records/s of the detector runs."""
        return statistics.median(run.records_per_s for run in self.runs)

    @property
    def median_ceiling_per_s(self) -> float:
        """Median records/s of the batch-job ceiling."""
        return statistics.median(self.ceiling_per_s)

    def summary_lines(self) -> list[str]:
        """Printable lines: each run, then the medians."""
        lines = []
        for i, run in enumerate(self.runs, 1):
            per_stream = ", ".join(
                f"{s} {run.records[s]} rec in {run.batches[s]} batches "
                f"(median {run.median_batch_s[s]:.2f} s/batch)"
                for s in STREAMS
            )
            lines.append(
                f"run {i}: {run.total_records} records drained in {run.drain_s:.1f} s = "
                f"{run.records_per_s:.1f} rec/s (monitors settled +{run.settle_s:.1f} s); "
                f"{per_stream}"
            )
        cap = self.max_offsets_per_trigger or "no cap"
        lines.append(
            f"detector: median {self.median_per_s:.1f} rec/s over {len(self.runs)} runs "
            f"(max offsets per trigger {cap}); batch-job ceiling: median "
            f"{self.median_ceiling_per_s:.1f} rec/s"
        )
        return lines


def cycles_for(records: int, rule: CycleSettings, machines: int) -> int:
    """Cycles a replay needs to send about ``records`` records (at least one).

    Args:
        records: records wanted.
        rule: the stream's cycle rule (mean X plus mean Y rows per machine per cycle).
        machines: machines in the file.
    """
    per_cycle = machines * (
        (rule.rows_min + rule.rows_max) / 2 + (rule.late_rows_min + rule.late_rows_max) / 2
    )
    if per_cycle <= 0:
        raise ConfigError("the cycle rule sends no rows")
    return max(1, math.ceil(records / per_cycle))


def publish_backlog(
    settings: Settings, topics: DetectorTopics, files: Mapping[Stream, Path], records: int
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
            start_ts=START_TS,
            topic=topics.source(stream),
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


def time_drain(
    settings: Settings,
    spark: SparkSession,
    topics: DetectorTopics,
    published: Mapping[Stream, int],
    work_dir: Path,
    *,
    trigger_s: float,
    max_offsets_per_trigger: int | None,
    timeout_s: float,
) -> DrainRun:
    """Start a detector on ``topics`` and time it until it has ingested ``published``.

    Raises:
        ConfigError: a query failed, or the records were not drained within ``timeout_s``.
    """
    statuses: list[BatchStatus] = []
    detector = Detector(
        settings,
        output_dir=work_dir / "out",
        checkpoint_dir=work_dir / "checkpoints",
        trigger_s=trigger_s,
        starting_offsets="earliest",
        max_offsets_per_trigger=max_offsets_per_trigger,
        topics=topics,
        counts_table=f"bench_counts_{uuid.uuid4().hex[:8]}",
        on_batch=statuses.append,
        spark=spark,
    )
    with detector:
        detector.start()
        # Timed from here: model loading and query start-up are not throughput.
        started = time.monotonic()
        deadline = started + timeout_s
        while any(detector.stats.per_stream[s].records < published[s] for s in STREAMS):
            failure = detector.failure()
            if failure is not None:
                raise ConfigError(failure)
            if time.monotonic() > deadline:
                raise ConfigError(f"the detector did not drain the backlog in {timeout_s} s")
            time.sleep(POLL_S)
        drained = time.monotonic()
        detector.process_all_available()
        settled = time.monotonic()
    by_stream = {s: [x.duration_s for x in statuses if x.stream == s] for s in STREAMS}
    return DrainRun(
        records=dict(published),
        drain_s=drained - started,
        settle_s=settled - drained,
        batches={s: len(d) for s, d in by_stream.items()},
        median_batch_s={s: statistics.median(d) if d else 0.0 for s, d in by_stream.items()},
    )


def time_ceiling(
    settings: Settings, spark: SparkSession, topics: DetectorTopics, detector: Detector
) -> float:
    """Records/s of one batch job doing the ingest transforms and scoring, writing nothing.

    Args:
        detector: a detector whose models are loaded (its transforms are reused).
    """
    elapsed = 0.0
    total = 0
    for stream in STREAMS:
        messages = (
            spark.read.format("kafka")
            .options(**kafka_options(settings))
            .option("subscribe", topics.source(stream))
            .option("startingOffsets", "earliest")
            .load()
        )
        total += messages.count()  # one record per message from the Replayer; not timed
        model = detector.models[stream]
        started = time.monotonic()
        decoded = T.decode_messages(messages, stream)
        records = T.flag_unscorable(T.clean_records(decoded, stream), model)
        score(T.scorable_view(records), model).write.format("noop").mode("overwrite").save()
        elapsed += time.monotonic() - started
    return total / elapsed


def measure_detector_rate(
    settings: Settings,
    *,
    data_dir: Path | None = None,
    records_per_stream: int = DEFAULT_RECORDS_PER_STREAM,
    runs: int = DEFAULT_RUNS,
    trigger_s: float = DEFAULT_TRIGGER_S,
    max_offsets_per_trigger: int | None = DEFAULT_MAX_OFFSETS_PER_TRIGGER,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    spark: SparkSession | None = None,
    echo: Callable[[str], None] | None = None,
) -> DetectorBenchmark:
    """Time ``runs`` detector runs, each draining a fresh backlog, and as many ceilings.

    Args:
        settings: product settings; the broker must be reachable.
        data_dir: folder with ``Streaming_Linux_{process,memory}.csv`` (default: the
            generated demo data, generated when missing).
        records_per_stream: about how many records each run publishes per stream.
        runs: number of runs (the report gives their median).
        trigger_s: micro-batch interval, seconds.
        max_offsets_per_trigger: ingest micro-batch size cap (None: the whole backlog in
            one micro-batch).
        timeout_s: give up on a run after this many seconds.
        spark: the session (default: the detector's own, made once for every run).
        echo: receives a line per finished run.

    Returns:
        The runs and the ceilings.
    """
    if runs < 1:
        raise ConfigError("at least one run is needed")
    if data_dir is None:
        from pipelines.data.demo import ensure_demo_data

        data_dir = ensure_demo_data(settings)
    files = {s: data_dir / STREAMING_FILE_NAMES[s] for s in STREAMS}
    drains: list[DrainRun] = []
    ceilings: list[float] = []
    with tempfile.TemporaryDirectory(prefix="stophacking-bench-") as tmp:
        probe = Detector(settings, checkpoint_dir=Path(tmp) / "probe", spark=spark)
        probe.load_models()
        session = probe.spark
        for i in range(runs):
            topics = fresh_topics(settings)
            published = publish_backlog(settings, topics, files, records_per_stream)
            run = time_drain(
                settings,
                session,
                topics,
                published,
                Path(tmp) / f"run-{i}",
                trigger_s=trigger_s,
                max_offsets_per_trigger=max_offsets_per_trigger,
                timeout_s=timeout_s,
            )
            drains.append(run)
            ceilings.append(time_ceiling(settings, session, topics, probe))
            if echo is not None:
                echo(
                    f"run {i + 1}/{runs}: {run.records_per_s:.1f} rec/s "
                    f"(ceiling {ceilings[-1]:.1f} rec/s)"
                )
    return DetectorBenchmark(tuple(drains), tuple(ceilings), max_offsets_per_trigger)


@dataclass(frozen=True)
class SustainedRun:
    """The detector fed by both producers at their own cadence (wall clock).

    Attributes:
        produced: records the producers had acknowledged per stream.
        duration_s: how long the producers ran, seconds.
        batches: ingest micro-batches per stream while they ran.
        median_batch_s: median ingest micro-batch duration per stream, seconds.
        max_batch_s: longest ingest micro-batch per stream, seconds.
        max_lag: the most messages a stream's source topic was ahead of the detector
            at the end of one of its micro-batches.
        catch_up_s: seconds after the producers stopped until every record was ingested.
    """

    produced: Mapping[Stream, int]
    duration_s: float
    batches: Mapping[Stream, int]
    median_batch_s: Mapping[Stream, float]
    max_batch_s: Mapping[Stream, float]
    max_lag: Mapping[Stream, int]
    catch_up_s: float

    def summary_lines(self, trigger_s: float) -> list[str]:
        """Printable lines: per stream, then whether the detector kept up."""
        total = sum(self.produced.values())
        lines = [
            f"sustained: producers ran {self.duration_s:.0f} s at their default cadence, "
            f"{total} records ({total / self.duration_s:.1f} rec/s); trigger {trigger_s:g} s"
        ]
        for s in STREAMS:
            lines.append(
                f"  {s}: {self.produced[s]} records, {self.batches[s]} batches, median "
                f"{self.median_batch_s[s]:.2f} s, longest {self.max_batch_s[s]:.2f} s, "
                f"largest lag {self.max_lag[s]} messages"
            )
        lines.append(f"  caught up {self.catch_up_s:.1f} s after the producers stopped")
        return lines


def measure_sustained(
    settings: Settings,
    *,
    data_dir: Path | None = None,
    duration_s: float = 180.0,
    trigger_s: float = 5.0,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    spark: SparkSession | None = None,
) -> SustainedRun:
    """Run both producers at their default cadence for ``duration_s`` beside a detector.

    The producers replay the streaming files with the wall clock (speed 1), as
    ``stophacking produce`` does; the detector runs with ``trigger_s``. Keeping up means
    each micro-batch takes less than the trigger and the lag stays near one trigger's
    worth of messages.

    Raises:
        ConfigError: a record was not delivered, a query failed, or the detector did not
            catch up within ``timeout_s`` after the producers stopped.
    """
    if data_dir is None:
        from pipelines.data.demo import ensure_demo_data

        data_dir = ensure_demo_data(settings)
    files = {s: data_dir / STREAMING_FILE_NAMES[s] for s in STREAMS}
    topics = fresh_topics(settings)
    statuses: list[BatchStatus] = []
    reports = {}
    with tempfile.TemporaryDirectory(prefix="stophacking-sustained-") as tmp:
        detector = Detector(
            settings,
            output_dir=Path(tmp) / "out",
            checkpoint_dir=Path(tmp) / "checkpoints",
            trigger_s=trigger_s,
            topics=topics,
            counts_table=f"bench_counts_{uuid.uuid4().hex[:8]}",
            on_batch=statuses.append,
            spark=spark,
        )
        with detector:
            detector.start()

            def replay(stream: Stream) -> None:
                with Replayer(
                    settings, stream, file=files[stream], seed=1, topic=topics.source(stream)
                ) as replayer:
                    reports[stream] = replayer.run(duration_s=duration_s)

            threads = [threading.Thread(target=replay, args=(s,)) for s in STREAMS]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stopped = time.monotonic()
            produced = {s: reports[s].total_acked for s in STREAMS}
            if any(reports[s].errors for s in STREAMS):
                raise ConfigError("the producers could not deliver every record")
            while any(detector.stats.per_stream[s].records < produced[s] for s in STREAMS):
                failure = detector.failure()
                if failure is not None:
                    raise ConfigError(failure)
                if time.monotonic() > stopped + timeout_s:
                    raise ConfigError(f"the detector did not catch up in {timeout_s} s")
                time.sleep(POLL_S)
            caught_up = time.monotonic()
    by_stream = {s: [x for x in statuses if x.stream == s] for s in STREAMS}
    return SustainedRun(
        produced=produced,
        duration_s=stopped - started,
        batches={s: len(b) for s, b in by_stream.items()},
        median_batch_s={
            s: statistics.median(x.duration_s for x in b) if b else 0.0
            for s, b in by_stream.items()
        },
        max_batch_s={s: max((x.duration_s for x in b), default=0.0) for s, b in by_stream.items()},
        max_lag={s: max((x.lag or 0 for x in b), default=0) for s, b in by_stream.items()},
        catch_up_s=caught_up - stopped,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m pipelines.bench.detector``: the benchmark with the settings from env."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, help="folder of the streaming CSV files")
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS_PER_STREAM)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--trigger", type=float, help="default 0.5; 5 with --sustained")
    parser.add_argument(
        "--max-offsets", type=int, default=DEFAULT_MAX_OFFSETS_PER_TRIGGER, help="0: no cap"
    )
    parser.add_argument(
        "--sustained",
        type=float,
        metavar="SECONDS",
        help="instead: run both producers at their cadence this long beside a detector",
    )
    args = parser.parse_args(argv)
    if args.sustained:
        trigger_s = args.trigger or 5.0
        sustained = measure_sustained(
            load_settings(), data_dir=args.data_dir, duration_s=args.sustained, trigger_s=trigger_s
        )
        for line in sustained.summary_lines(trigger_s):
            print(line)
        return 0
    result = measure_detector_rate(
        load_settings(),
        data_dir=args.data_dir,
        records_per_stream=args.records,
        runs=args.runs,
        trigger_s=args.trigger or DEFAULT_TRIGGER_S,
        max_offsets_per_trigger=args.max_offsets or None,
        echo=print,
    )
    for line in result.summary_lines():
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

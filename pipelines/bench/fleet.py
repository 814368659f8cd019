"""The fleet benchmark: N simulated hosts at the brief's cadence, the whole pipeline on
this machine (``stophacking bench fleet --machines N --duration S``).

What runs, each part in its own process so its CPU and memory are measured apart:

- the Kafka broker (the one in use; ``stophacking bench`` starts the embedded one for the
  run if none answers);
- two producers, one per stream, each serving all N hosts (``stophacking produce``,
  one JSON array of a machine's rows per cycle by default), at the brief's cadence:
  process X ∈ [10, 50] rows per host every 5 s, memory X ∈ [20, 80] plus Y ∈ [0, 5]
  late rows every 10 s (about 11 records/s per host);
- both live consumers (the streamz pipelines of SPEC §4, :mod:`pipelines.bench.live_probe`);
- the detector, in this process (its Spark driver JVM is this process's child).

The hosts are generated once per (N, seed) by the project's generator and cached. The
producers run a warm-up (not measured: the JVM compiles its code then) and then the
measured window. Afterwards the detector catches up, and latencies are recomputed from
its outputs (:mod:`pipelines.detector.latency`): send → scored, send → 7a count,
send → alert, for records sent in the measured window. A sampler records each part's
CPU and memory, and the lag of the ingest behind the topics every few seconds.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from kafka import KafkaConsumer, TopicPartition

from pipelines import kafka_io
from pipelines.bench.probes import PROC, UsageSampler, slope_per_min
from pipelines.config import PROJECT_ROOT, Settings
from pipelines.data.generator import generate
from pipelines.detector.job import Detector
from pipelines.detector.latency import (
    BatchProgress,
    alert_latencies,
    batch_progress,
    counts_latencies,
    scored_latencies,
    summarise,
)
from pipelines.detector.layout import INGEST_QUERY, PAIRS_QUERY, DetectorTopics
from pipelines.detector.streaming import kafka_options
from pipelines.errors import ConfigError
from pipelines.replay.message import MessageLayout
from pipelines.schema.columns import STREAMING_FILE_NAMES, STREAMS, Stream
from pipelines.spark.jvm import spark_jvm_pid
from pipelines.spark.progress import QueryProgressLog

FIRST_MACHINE_ID: Final = 4
"""Hosts are numbered from 4, so that the brief's five machines are 4–8."""
DEFAULT_ROWS_PER_MACHINE: Final = 600
"""Process rows generated per host (hosts wrap around, as the brief's short ones do)."""
DEFAULT_WARMUP_S: Final = 60.0
LAG_SAMPLE_S: Final = 5.0
DETECTOR_JVM: Final = "detector: Spark driver JVM"
DETECTOR_PYTHON: Final = "detector: Python driver"
CATCH_UP_TIMEOUT_S: Final = 600.0
PRODUCER_EXIT_TIMEOUT_S: Final = 180.0


@dataclass(frozen=True)
class FleetOptions:
    """One fleet run.

    Attributes:
        machines: simulated hosts.
        duration_s: the measured window, seconds (after the warm-up).
        warmup_s: seconds of load before the measured window.
        layout: the producers' message layout (``array``: one message per host and cycle).
        seed: seed of the generated hosts and of the producers' draws.
        rows_per_machine: process rows generated per host.
        progress_out: where to write every query progress of the run as JSON lines
            (Spark's own report, for profiling a query batch by batch), or None.
    """

    machines: int = 500
    duration_s: float = 300.0
    warmup_s: float = DEFAULT_WARMUP_S
    layout: MessageLayout = "array"
    seed: int = 7
    rows_per_machine: int = DEFAULT_ROWS_PER_MACHINE
    progress_out: Path | None = None


@dataclass
class FleetResult:
    """What one fleet run measured (every figure of :mod:`docs/benchmarks.md`)."""

    options: dict[str, Any]
    produced: dict[Stream, int]
    offered_per_s: float
    achieved_per_s: float
    latency_s: dict[str, dict[str, float]]
    lag_messages: list[tuple[float, int]]
    lag_slope_per_min: float
    max_lag_messages: int
    catch_up_s: float
    cores_busy: dict[str, float]
    peak_rss_mb: dict[str, float]
    live: dict[Stream, dict[str, Any]]
    batches: dict[str, dict[str, float]] = field(default_factory=dict)
    producers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def lag_bounded(self) -> bool:
        """The ingest kept up: its lag did not grow over the measured window.

        "Not growing" allows for noise: less than one second's offered load per minute.
        """
        messages_per_s = self.offered_messages_per_s
        return self.lag_slope_per_min < max(1.0, messages_per_s)

    @property
    def offered_messages_per_s(self) -> float:
        return float(self.options.get("offered_messages_per_s", 0.0))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["lag_bounded"] = self.lag_bounded
        return data


def fleet_data(settings: Settings, machines: int, seed: int, rows_per_machine: int) -> Path:
    """The generated files of ``machines`` hosts (made once, then reused)."""
    folder = settings.data_dir / f"fleet-{machines}-seed{seed}-rows{rows_per_machine}"
    if not (folder / STREAMING_FILE_NAMES["memory"]).is_file():
        generate(
            folder,
            seed=seed,
            machines=range(FIRST_MACHINE_ID, FIRST_MACHINE_ID + machines),
            rows_per_machine=rows_per_machine,
            labelled_rows=10,
        )
    return folder


def _broker_pids(settings: Settings) -> list[int]:
    """The broker's process: the embedded one's pid file, else a java running kafka.Kafka."""
    pid_file = settings.broker_dir / "broker.pid"
    if pid_file.is_file():
        try:
            return [int(pid_file.read_text().strip())]
        except ValueError:
            pass
    found = []
    for entry in PROC.glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"java" in command and b"kafka.Kafka" in command:
            found.append(int(entry.name))
    return found


def _producer_command(
    settings: Settings, stream: Stream, file: Path, topic: str, options: FleetOptions
) -> list[str]:
    return [
        sys.executable, "-m", "pipelines.cli",
        "--bootstrap-servers", settings.kafka.bootstrap_servers,
        "produce", stream, "--file", str(file), "--topic", topic,
        "--layout", options.layout, "--seed", str(options.seed),
        "--duration", str(options.warmup_s + options.duration_s), "--progress", "json",
    ]  # fmt: skip


def _last_report(text: str) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for line in text.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and "total_acked" in data:
            report = data
    return report


class _LagSampler:
    """Messages on the source topics the ingest queries have not read yet, every few s."""

    def __init__(self, settings: Settings, topics: DetectorTopics, detector: Detector) -> None:
        self.settings = settings
        self.topics = topics
        self.detector = detector
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-sampler", daemon=True)
        self._started = 0.0

    def start(self) -> None:
        self._started = time.time()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(LAG_SAMPLE_S * 3)

    def _run(self) -> None:
        consumer = KafkaConsumer(**kafka_io.client_config(self.settings.kafka))
        try:
            while not self._stop.wait(LAG_SAMPLE_S):
                read: dict[tuple[str, int], int] = {}
                for stream in STREAMS:
                    query = self.detector.queries.get(INGEST_QUERY[stream])
                    progress = query.lastProgress if query is not None else None
                    if progress:
                        read.update(batch_progress(progress).ends())
                partitions = [
                    TopicPartition(self.topics.source(s), p)
                    for s in STREAMS
                    for p in (consumer.partitions_for_topic(self.topics.source(s)) or {0})
                ]
                ends = consumer.end_offsets(partitions)
                lag = sum(
                    max(0, int(ends[tp]) - read.get((tp.topic, tp.partition), 0))
                    for tp in partitions
                )
                self.samples.append((time.time() - self._started, lag))
        finally:
            consumer.close()


def measure_fleet(
    settings: Settings,
    options: FleetOptions,
    *,
    echo: Callable[[str], None] = print,
) -> FleetResult:
    """Run the fleet benchmark once (see the module doc).

    Raises:
        ConfigError: a producer failed, a query failed, or the detector did not catch up.
    """
    data = fleet_data(settings, options.machines, options.seed, options.rows_per_machine)
    files = {s: data / STREAMING_FILE_NAMES[s] for s in STREAMS}
    topics = DetectorTopics.unique("bench.fleet")
    kafka_io.ensure_topics(settings.kafka, list(topics.names().values()))
    work = Path(tempfile.mkdtemp(prefix="stophacking-fleet-"))
    detector = Detector(
        settings,
        output_dir=work / "out",
        checkpoint_dir=work / "checkpoints",
        topics=topics,
        counts_table=f"fleet_counts_{uuid.uuid4().hex[:8]}",
    )
    log = QueryProgressLog()
    echo(
        f"fleet: {options.machines} hosts, layout {options.layout}, warm-up "
        f"{options.warmup_s:g} s + {options.duration_s:g} s measured; data {data}"
    )
    detector.start()
    for session in (detector.spark, detector.ingest_session):
        session.streams.addListener(log)
    live_out = {s: work / f"live-{s}.json" for s in STREAMS}
    total_s = options.warmup_s + options.duration_s
    live = {
        s: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipelines.bench.live_probe",
                s,
                "--topic",
                topics.source(s),
                "--bootstrap-servers",
                settings.kafka.bootstrap_servers,
                "--duration",
                str(total_s + 30),
                "--out",
                str(live_out[s]),
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for s in STREAMS
    }
    # Their progress lines go to files: a pipe nobody reads while the other producer
    # runs fills up and stalls the writer (it did: one producer sent 3 cycles of 18).
    producer_out = {s: work / f"producer-{s}.jsonl" for s in STREAMS}
    producer_err = {s: work / f"producer-{s}.log" for s in STREAMS}
    producers = {}
    for s in STREAMS:
        with producer_out[s].open("w") as out, producer_err[s].open("w") as err:
            producers[s] = subprocess.Popen(
                _producer_command(settings, s, files[s], topics.source(s), options),
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=err,
            )
    sampler = UsageSampler(
        {
            "producers": lambda: [p.pid for p in producers.values()],
            "live consumers": lambda: [p.pid for p in live.values()],
            DETECTOR_JVM: lambda: [spark_jvm_pid()],
            DETECTOR_PYTHON: lambda: [os.getpid()],
            "broker": lambda: _broker_pids(settings),
        },
        interval_s=2.0,
        # This process is also the parent of the producers and live consumers. The JVM's
        # only children are Hadoop's chmod/readlink, spawned for milliseconds: between
        # the spawn and the exec such a child shares the JVM's memory, and /proc shows
        # the JVM's whole resident size for it (a sample caught one at 1.6 GiB), so
        # counting them would count the JVM twice.
        alone=(DETECTOR_PYTHON, DETECTOR_JVM),
    )
    lag = _LagSampler(settings, topics, detector)
    started = time.time()
    measured_from = started + options.warmup_s
    sampler.start()
    lag.start()
    try:
        outputs = {}
        for stream, producer in producers.items():
            producer.wait(timeout=total_s + PRODUCER_EXIT_TIMEOUT_S)
            if producer.returncode != 0:
                error = producer_err[stream].read_text().strip()[-500:]
                raise ConfigError(f"the {stream} producer failed: {error}")
            outputs[stream] = _last_report(producer_out[stream].read_text())
        stopped = time.time()
        echo(f"fleet: producers done after {stopped - started:.0f} s; the detector catches up")
        produced = {s: int(outputs[s].get("total_acked", 0)) for s in STREAMS}
        while any(detector.stats.per_stream[s].records < produced[s] for s in STREAMS):
            failure = detector.failure()
            if failure is not None:
                raise ConfigError(failure)
            if time.time() > stopped + CATCH_UP_TIMEOUT_S:
                raise ConfigError("the detector did not catch up with the producers")
            time.sleep(0.2)
        caught_up = time.time()
        detector.process_all_available()
        lag.stop()
        usage = sampler.stop()
        for process in live.values():
            process.wait(timeout=120)
        live_counts = {
            s: json.loads(live_out[s].read_text()) if live_out[s].is_file() else {} for s in STREAMS
        }
        spark = detector.spark
        raw_progress = log.drain()
        if options.progress_out is not None:
            options.progress_out.write_text("".join(p.json + "\n" for p in raw_progress))
        progress = [batch_progress(p) for p in raw_progress]
        counts_batches = [b for b in progress if b.query == detector.counts_table]
        opts = kafka_options(settings)
        latency = {
            "send_to_scored": summarise(
                scored_latencies(spark, detector.output_dir, measured_from)
            ),
            "send_to_7a_count": summarise(
                counts_latencies(
                    spark,
                    [topics.process_attacks, topics.memory_attacks],
                    opts,
                    counts_batches,
                    measured_from,
                )
            ),
            "send_to_alert": summarise(
                alert_latencies(spark, detector.output_dir, topics.alerts, opts, measured_from)
            ),
        }
        batches = _batch_figures(progress, detector, measured_from)
    finally:
        for process in (*producers.values(), *live.values()):
            if process.poll() is None:
                process.kill()
        lag.stop()
        detector.stop()
        for session in (detector.spark, detector.ingest_session):
            session.streams.removeListener(log)
    measured_lag = [(t, n) for t, n in lag.samples if t >= options.warmup_s and t <= total_s]
    total = sum(produced.values())
    elapsed = stopped - started
    messages = sum(
        sum(kafka_io.topic_end_offsets(settings.kafka, topics.source(s)).values()) for s in STREAMS
    )
    return FleetResult(
        options={
            **asdict(options),
            "offered_messages_per_s": messages / elapsed if messages else 0.0,
        },
        produced=produced,
        offered_per_s=total / elapsed,
        achieved_per_s=total / (caught_up - started),
        latency_s=latency,
        lag_messages=lag.samples,
        lag_slope_per_min=slope_per_min(measured_lag),
        max_lag_messages=max((n for _, n in measured_lag), default=0),
        catch_up_s=caught_up - stopped,
        cores_busy={name: round(sampler.cores_busy(name), 2) for name in usage},
        peak_rss_mb={name: round(u.peak_rss_bytes / 2**20, 1) for name, u in usage.items()},
        live=live_counts,
        batches=batches,
        producers={
            s: {k: outputs[s].get(k) for k in ("cycles", "total_acked", "elapsed_s", "reason")}
            for s in STREAMS
        },
    )


def _batch_figures(
    progress: list[BatchProgress], detector: Detector, since_s: float
) -> dict[str, dict[str, float]]:
    """Per query: batches in the measured window, their median interval, rows and the
    median of each step Spark times (``durationMs``: planning, the batch's own work
    ``addBatch``, the offset and commit log writes, the whole trigger)."""
    names = {*INGEST_QUERY.values(), detector.counts_table, PAIRS_QUERY}
    figures: dict[str, dict[str, float]] = {}
    for name in sorted(names):
        ran = [b for b in progress if b.query == name and b.ended_s >= since_s and b.input_rows > 0]
        entry: dict[str, float] = {"batches": float(len(ran))}
        ends = sorted(b.ended_s for b in ran)
        if len(ends) > 1:
            entry["median_interval_s"] = round(
                statistics.median(b - a for a, b in itertools.pairwise(ends)), 2
            )
        if ran:
            entry["median_rows"] = float(statistics.median(b.input_rows for b in ran))
            for step in (
                "queryPlanning",
                "addBatch",
                "walCommit",
                "commitOffsets",
                "triggerExecution",
            ):
                values = [b.durations_ms[step] for b in ran if step in b.durations_ms]
                if values:
                    entry[f"median_{step}_s"] = round(statistics.median(values) / 1000, 2)
        figures[name] = entry
    return figures


def result_lines(result: FleetResult) -> list[str]:
    """Printable summary of a fleet run."""
    o = result.options
    lines = [
        f"fleet {o['machines']} hosts ({o['layout']} messages), {o['duration_s']:g} s measured "
        f"after {o['warmup_s']:g} s warm-up: offered {result.offered_per_s:,.0f} rec/s, "
        f"achieved {result.achieved_per_s:,.0f} rec/s; produced {result.produced}",
        "  producers: "
        + "; ".join(
            f"{s} {p.get('cycles')} cycles in {p.get('elapsed_s')} s ({p.get('reason')})"
            for s, p in result.producers.items()
        ),
    ]
    for name, figures in result.latency_s.items():
        if figures.get("count"):
            lines.append(
                f"  {name}: p50 {figures['p50']:.2f} s, p95 {figures['p95']:.2f} s, "
                f"p99 {figures['p99']:.2f} s, max {figures['max']:.2f} s "
                f"({figures['count']:,} measured)"
            )
        else:
            lines.append(f"  {name}: nothing measured")
    lines.append(
        f"  lag: max {result.max_lag_messages} messages, trend "
        f"{result.lag_slope_per_min:+.1f} messages/min "
        f"({'bounded' if result.lag_bounded else 'GROWING'}); caught up "
        f"{result.catch_up_s:.1f} s after the producers stopped"
    )
    lines.append(
        "  cores busy: "
        + ", ".join(f"{name} {cores:.2f}" for name, cores in result.cores_busy.items())
    )
    lines.append(
        "  peak RSS MiB: "
        + ", ".join(f"{name} {mb:,.0f}" for name, mb in result.peak_rss_mb.items())
    )
    for name, figures in result.batches.items():
        steps = ", ".join(
            f"{k.removeprefix('median_').removesuffix('_s')} {v:g} s"
            for k, v in figures.items()
            if k.startswith("median_") and k != "median_rows"
        )
        lines.append(
            f"  query {name}: {figures.get('batches', 0):.0f} batches with data, median "
            f"{figures.get('median_rows', 0):,.0f} rows; {steps}"
        )
    for stream, counted in result.live.items():
        lines.append(
            f"  live {stream}: {counted.get('records', 0):,} records counted of "
            f"{result.produced.get(stream, 0):,} produced, {counted.get('machines', 0)} machines"
        )
    return lines


def fleet_json(result: FleetResult) -> str:
    return json.dumps(result.to_json(), indent=2, default=str)

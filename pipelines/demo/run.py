"""The bounded end-to-end demo: broker, both producers, both live pipelines, the detector.

Pure orchestration of the real components (no Kafka or Spark code of its own):

1. **prepare**: the generated demo data (:func:`ensure_demo_data`), a broker
   (:func:`ensure_broker`: the configured one if it answers, else the embedded one, which
   this run then stops at the end), the detector's Spark session and the default models
   (:func:`ensure_models`, trained on the generated data when missing).
2. **run**: the :class:`Detector` starts first (reading from the earliest offsets of this
   run's fresh topics), then the two streamz :class:`LiveCounts` pipelines, then the two
   :class:`Replayer` producers, each in its own thread, for ``duration_s`` seconds.
3. **stop**, in order: the producers (they end at the duration, send their held-back rows
   and flush), the detector drains (``process_all_available``), its outputs are counted and
   detection quality evaluated, then the detector, the live pipelines, the Spark session,
   this run's topics and, if this run started it, the embedded broker.

Isolation from a running workbench: the run's state lives in its own folder (default
``<home>/demo``) and its topics carry the run id (``stophacking.demo-<run>.process.v1``
…), so it neither reads nor writes the workbench's topics, checkpoints or outputs, even on
the same broker. The data, models and jar cache are the product's own (read only).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pipelines.config import Settings, replace, without_console_progress
from pipelines.demo.summary import DemoSummary, DemoTimings, StreamSummary, accounting_problems
from pipelines.errors import ConfigError
from pipelines.schema.columns import STREAMING_FILE_NAMES, STREAMS, Stream

if TYPE_CHECKING:
    from pipelines.broker.embedded import BrokerChoice
    from pipelines.detector.job import Detector
    from pipelines.detector.outputs import OutputCounts
    from pipelines.live.pipeline import LiveCounts
    from pipelines.replay.kafka_producer import Replayer
    from pipelines.replay.report import ReplayReport

log = logging.getLogger(__name__)

DEFAULT_DURATION_S: Final = 120.0
DEFAULT_SPEED: Final = 1.0
"""The producers' own cadence (process every 5 s, memory every 10 s). The generated data
has attacks from its first rows, so a 120 s run at speed 1 raises attack events."""
DEFAULT_SEED: Final = 7
"""Seed of the producers' row counts: two runs of the same length send the same rows."""
DEMO_FOLDER: Final = "demo"
"""Sub-folder of the product's home that holds the demo's state by default."""
TOPIC_TEMPLATE: Final = "stophacking.demo-{run}.{role}.v1"
SPARK_LOG_LEVEL: Final = "ERROR"
"""Log level of the demo's own Spark session (the product's default is WARN)."""
PROGRESS_EVERY_S: Final = 15.0
"""A progress line this often while the producers run."""
POLL_S: Final = 0.5
LIVE_READY_TIMEOUT_S: Final = 60.0
LIVE_SAMPLE_MARGIN_S: Final = 2.0
"""Beyond one sample period, how long to wait for the live pipelines' next sample."""
PRODUCER_JOIN_MARGIN_S: Final = 180.0
"""How long past the duration a producer may take to send held-back rows and flush (its
Kafka client gives up on a record after ``replay.delivery_timeout_s`` = 120 s)."""


def demo_home(settings: Settings, home: Path | str | None = None) -> Path:
    """The demo's state folder: ``home`` if given, else ``<settings.home>/demo``."""
    return Path(home) if home is not None else settings.home / DEMO_FOLDER


def demo_topics(run_id: str) -> dict[str, str]:
    """This run's topic names by role (source, attacks, window counts, alerts, health)."""
    roles = (
        "process",
        "memory",
        "attacks.process",
        "attacks.memory",
        "window-counts",
        "alerts",
        "health",
    )
    return {role: TOPIC_TEMPLATE.format(run=run_id, role=role) for role in roles}


@dataclass(frozen=True)
class DemoOptions:
    """What to run.

    Attributes:
        duration_s: seconds the producers replay (wall time).
        speed: divides both producers' cycle periods (2: twice as fast).
        seed: seed of the producers' row counts (None: fresh).
        home: the demo's state folder (default ``<home>/demo``).
        trigger_s: the detector's ingest micro-batch interval, seconds (None: the
            settings' ``detector.trigger_s``).
        keep_topics: keep this run's topics on the broker at the end (default: delete).
    """

    duration_s: float = DEFAULT_DURATION_S
    speed: float = DEFAULT_SPEED
    seed: int | None = DEFAULT_SEED
    home: Path | None = None
    trigger_s: float | None = None
    keep_topics: bool = False

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ConfigError(f"the demo duration must be positive seconds, got {self.duration_s}")
        if self.speed <= 0:
            raise ConfigError(f"the replay speed must be positive, got {self.speed}")
        if self.trigger_s is not None and self.trigger_s <= 0:
            raise ConfigError(f"the trigger must be positive seconds, got {self.trigger_s}")


@dataclass
class _ProducerThread:
    replayer: Replayer
    thread: threading.Thread
    report: ReplayReport | None = None
    error: BaseException | None = None


@dataclass
class _Clock:
    started: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    def lap(self, name: str, since: float) -> float:
        self.marks[name] = time.monotonic() - since
        return time.monotonic()


class Demo:
    """One bounded demo run. ``with Demo(settings, options) as demo: demo.prepare();
    summary = demo.run(stop)``; leaving the block stops whatever still runs.

    Args:
        settings: the product settings (Kafka, Spark, data, models, jar cache).
        options: duration, speed, seed, state folder, trigger.
        echo: receives one progress line at a time.
        spark: a SparkSession to use (default: the detector makes one, and this run stops
            it at the end).
    """

    def __init__(
        self,
        settings: Settings,
        options: DemoOptions | None = None,
        *,
        echo: Callable[[str], None] = print,
        spark: Any = None,
    ) -> None:
        self.options = options or DemoOptions()
        self.base_settings = settings
        self.echo = echo
        self.run_id = uuid.uuid4().hex[:8]
        self.home = demo_home(settings, self.options.home)
        self.topics = demo_topics(self.run_id)
        self._given_spark = spark
        # Spark's progress bar would garble the progress lines.
        self.settings = replace(
            without_console_progress(settings),
            {
                "home": str(self.home),
                # The product's jar cache, not a new one under the demo's folder.
                "jars_cache": str(settings.jars_dir),
                "broker.data_dir": str(self.home / "broker"),
                "kafka.topics.process": self.topics["process"],
                "kafka.topics.memory": self.topics["memory"],
                "kafka.topics.window_counts": self.topics["window-counts"],
                "kafka.topics.alerts": self.topics["alerts"],
                "kafka.topics.health": self.topics["health"],
            },
        )
        self.data_dir: Path | None = None
        self.spark: Any = None
        self.broker: BrokerChoice | None = None
        self.detector: Detector | None = None
        self.live: dict[Stream, LiveCounts] = {}
        self.producers: dict[Stream, _ProducerThread] = {}
        self._clock = _Clock()
        self._stop = threading.Event()
        self._topics_created = False
        self._closed = False

    # -- phases ----------------------------------------------------------------------
    def prepare(self) -> None:
        """Data, broker, Spark session, models: everything before the clock starts.

        Raises:
            BrokerUnavailable: the configured external broker does not answer.
            BrokerStartError: the embedded broker could not start.
            ModelError: the models are missing and could not be trained.
        """
        from pipelines.broker.embedded import ensure_broker
        from pipelines.data.demo_set import ensure_demo_data
        from pipelines.detector.job import Detector
        from pipelines.detector.layout import DetectorTopics
        from pipelines.training.card import missing_models

        started = time.monotonic()
        self.data_dir = ensure_demo_data(self.base_settings)
        self.echo(f"demo {self.run_id}: data {self.data_dir}")
        self.broker = ensure_broker(self.settings)
        self.settings = replace(
            self.settings, {"kafka.bootstrap_servers": self.broker.kafka.bootstrap_servers}
        )
        self.echo(
            f"demo {self.run_id}: {self.broker.description}"
            + (" (started for this run)" if self.broker.started_now else "")
        )
        # Outputs and checkpoints of an earlier demo belong to its (deleted) topics.
        for stale in ("detector", "checkpoints"):
            shutil.rmtree(self.home / stale, ignore_errors=True)
        self.detector = Detector(
            self.settings,
            output_dir=self.home / "detector",
            checkpoint_dir=self.home / "checkpoints" / "detector",
            trigger_s=self.options.trigger_s,
            starting_offsets="earliest",
            topics=DetectorTopics(
                process=self.topics["process"],
                memory=self.topics["memory"],
                process_attacks=self.topics["attacks.process"],
                memory_attacks=self.topics["attacks.memory"],
                window_counts=self.topics["window-counts"],
                alerts=self.topics["alerts"],
                health=self.topics["health"],
            ),
            spark=self._given_spark,
        )
        # The session now, in the caller's thread: PySpark installs its SIGINT handler
        # when it makes one, and the console installs its own after this.
        spark = self.spark = self.detector.spark
        if self._given_spark is None:
            # The summary reports failures (a failed query is a PROBLEM line); Spark's
            # warnings on a busy machine ("batch is falling behind", …) would bury the
            # progress lines of a demo.
            spark.sparkContext.setLogLevel(SPARK_LOG_LEVEL)
        missing = missing_models(self.settings.models_dir)
        if missing:
            from pipelines.training.trainer import ensure_models

            self.echo(
                f"demo {self.run_id}: training the missing models ({', '.join(missing)}) "
                "on the generated data"
            )
            ensure_models(
                self.base_settings,
                spark=spark,
                progress=lambda message, fraction: self.echo(f"  [{fraction:4.0%}] {message}"),
            )
        self._clock.lap("prepare", started)

    def run(self, stop: threading.Event | None = None) -> DemoSummary:
        """Start everything, replay for the duration, stop in order, summarise.

        Args:
            stop: set it (Ctrl-C) to end the replay early; the run still drains and
                summarises.

        Returns:
            The summary (``summary.ok`` False when a component failed or records are
            missing).
        """
        from pipelines.live.pipeline import LiveCounts

        if self.detector is None:
            self.prepare()
        detector = self.detector
        assert detector is not None
        stop = self._stop = stop or threading.Event()
        problems: list[str] = []
        notes: list[str] = []

        started = time.monotonic()
        self.echo(f"demo {self.run_id}: starting the detector (trigger {detector.trigger_s:g} s)")
        detector.start()
        self._topics_created = True
        started = self._clock.lap("detector_start", started)

        for stream in STREAMS:
            live = LiveCounts(self.settings, stream, from_beginning=True)
            self.live[stream] = live.start()
        for stream, live in self.live.items():
            if not live.wait_ready(LIVE_READY_TIMEOUT_S):
                notes.append(
                    f"the {stream} live pipeline was not ready after {LIVE_READY_TIMEOUT_S:g} s"
                )

        periods: dict[str, float] = {
            stream: getattr(self.settings.replay, stream).cycle_period_s / self.options.speed
            for stream in STREAMS
        }
        self.echo(
            f"demo {self.run_id}: replaying for {self.options.duration_s:g} s at speed "
            f"{self.options.speed:g} ("
            + ", ".join(f"{s} every {p:g} s" for s, p in periods.items())
            + f"); topics {self.topics['process']}, {self.topics['memory']}"
        )
        replay_started, replay_started_at = time.monotonic(), time.time()
        self._start_producers(stop)
        first_alert = self._watch(stop, replay_started, problems)
        started = self._clock.lap("replay", replay_started)

        reports = self._join_producers(problems)
        # The live counts as the charts show them when the replay ends (their trailing
        # window empties afterwards): the first sample after the last record.
        ended = time.time()
        live_latest = {
            stream: self._latest(live, after=ended) for stream, live in self.live.items()
        }
        failure = detector.failure()
        if failure is None:
            self.echo(f"demo {self.run_id}: producers done; the detector drains what they sent")
            try:
                detector.process_all_available()
            except Exception as exc:  # a query failed while draining: report, still stop
                problems.append(detector.failure() or f"draining the detector failed: {exc}")
        else:
            problems.append(failure)
        started = self._clock.lap("drain", started)

        counts = self._count_outputs()
        if counts.first_alert_at is not None:
            # From the alerts' own raised_at: exact even when the first came while draining.
            first_alert = counts.first_alert_at - replay_started_at
        quality, quality_lines = self._quality(notes)
        live_records = {stream: live.status().accepted for stream, live in self.live.items()}
        self._clock.lap("summary", started)
        interrupted = stop.is_set()  # before close(), which sets it to stop the producers
        self.close()

        streams: dict[str, StreamSummary] = {}
        for stream in STREAMS:
            report = reports.get(stream)
            out = counts.streams[stream]
            streams[stream] = StreamSummary(
                produced=report.total_acked if report else 0,
                sent=report.total_sent if report else 0,
                producer_errors=report.errors if report else 0,
                cycles=report.cycles if report else 0,
                cleaned=out.cleaned,
                scored=out.scored,
                predicted_attacks=out.attacks,
                quarantined=dict(out.quarantined),
                live_records=live_records[stream],
                live_latest=live_latest[stream],
            )
        if not problems:
            problems += accounting_problems(streams)
        if counts.attack_events == 0:
            notes.append(
                "no attack events: run longer (--duration) or faster (--speed) so that both "
                "streams' attack rows arrive"
            )
        marks = self._clock.marks
        return DemoSummary(
            run_id=self.run_id,
            home=str(self.home),
            output_dir=str(detector.output_dir),
            broker=self.broker.description if self.broker else "?",
            broker_started=bool(self.broker and self.broker.started_now),
            topics=dict(self.topics),
            duration_s=self.options.duration_s,
            speed=self.options.speed,
            cycle_periods_s=periods,
            trigger_s=detector.trigger_s,
            streams=streams,
            window_rows=counts.window_rows,
            attack_pairs=counts.attack_pairs,
            attack_events=counts.attack_events,
            first_alert_after_s=first_alert,
            quality_lines=quality_lines,
            quality=quality,
            timings=DemoTimings(
                prepare_s=marks.get("prepare", 0.0),
                detector_start_s=marks.get("detector_start", 0.0),
                replay_s=marks.get("replay", 0.0),
                drain_s=marks.get("drain", 0.0),
                summary_s=marks.get("summary", 0.0),
                total_s=time.monotonic() - self._clock.started,
            ),
            interrupted=interrupted,
            problems=problems,
            notes=notes,
        )

    # -- producers -------------------------------------------------------------------
    def _start_producers(self, stop: threading.Event) -> None:
        from pipelines.replay.kafka_producer import Replayer

        assert self.data_dir is not None
        for stream in STREAMS:
            replayer = Replayer(
                self.settings,
                stream,
                file=self.data_dir / STREAMING_FILE_NAMES[stream],
                seed=self.options.seed,
                speed=self.options.speed,
                clock="wall",
                run_id=f"demo-{self.run_id}-{stream}",
            )
            entry = _ProducerThread(replayer, threading.Thread())
            entry.thread = threading.Thread(
                target=self._produce, args=(entry, stop), name=f"demo-{stream}-producer"
            )
            self.producers[stream] = entry
        for entry in self.producers.values():
            entry.thread.start()

    def _produce(self, entry: _ProducerThread, stop: threading.Event) -> None:
        try:
            with entry.replayer as replayer:
                entry.report = replayer.run(duration_s=self.options.duration_s, stop=stop)
        except BaseException as exc:  # reported by _join_producers, in the main thread
            entry.error = exc

    def _watch(
        self, stop: threading.Event, replay_started: float, problems: list[str]
    ) -> float | None:
        """Wait for the producers, printing progress; return when the first alert came."""
        assert self.detector is not None
        first_alert: float | None = None
        next_progress = replay_started + PROGRESS_EVERY_S
        while any(entry.thread.is_alive() for entry in self.producers.values()):
            now = time.monotonic()
            if first_alert is None and self.detector.stats.alerts:
                first_alert = now - replay_started
            failure = self.detector.failure()
            if failure is not None and not stop.is_set():
                problems.append(failure)
                self.echo(f"demo {self.run_id}: {failure}; stopping")
                stop.set()
            if now >= next_progress:
                next_progress += PROGRESS_EVERY_S
                self.echo(self._progress_line(now - replay_started))
            stop.wait(POLL_S)
            # After a stop request, wait for the producers without spinning.
            if stop.is_set():
                for entry in self.producers.values():
                    entry.thread.join(POLL_S)
        return first_alert

    def _progress_line(self, elapsed_s: float) -> str:
        assert self.detector is not None
        stats = self.detector.stats
        parts = []
        for stream, entry in self.producers.items():
            totals = stats.per_stream[stream]
            parts.append(
                f"{stream} produced {entry.replayer.report().total_acked}, "
                f"scored {totals.scored} ({totals.attacks} attack)"
            )
        return f"  {elapsed_s:4.0f} s: " + "; ".join(parts) + f"; alerts {stats.alerts}"

    def _join_producers(self, problems: list[str]) -> dict[Stream, ReplayReport]:
        reports: dict[Stream, ReplayReport] = {}
        for stream, entry in self.producers.items():
            entry.thread.join(PRODUCER_JOIN_MARGIN_S)
            if entry.thread.is_alive():
                problems.append(f"the {stream} producer did not finish flushing")
            elif entry.error is not None:
                problems.append(f"the {stream} producer failed: {entry.error}")
            if entry.report is not None:
                reports[stream] = entry.report
                if entry.report.errors:
                    problems.append(
                        f"the {stream} producer lost {entry.report.errors} record(s): "
                        f"{entry.report.last_error}"
                    )
            else:
                reports[stream] = entry.replayer.report(done=True)
        return reports

    # -- figures ---------------------------------------------------------------------
    def _count_outputs(self) -> OutputCounts:
        from pipelines.detector.outputs import count_outputs

        assert self.detector is not None
        return count_outputs(
            self.detector.spark, self.detector.output_dir, self.detector.counts_table
        )

    def _quality(self, notes: list[str]) -> tuple[dict[str, Any] | None, list[str]]:
        """Detection quality against the generated data's ground truth (when available)."""
        assert self.detector is not None and self.data_dir is not None
        try:
            from pipelines.detector.quality import (  # type: ignore[import-not-found,unused-ignore]
                evaluate_detection,
                format_quality,
                ground_truth_for,
            )
        except ImportError as exc:
            notes.append(f"detection quality not evaluated: {exc}")
            return None, []
        truth = ground_truth_for(self.data_dir / STREAMING_FILE_NAMES["process"])
        if truth is None:
            notes.append(f"detection quality not evaluated: no ground truth in {self.data_dir}")
            return None, []
        try:
            quality = evaluate_detection(self.detector.spark, self.detector.output_dir, truth)
        except Exception as exc:  # the demo's other figures stand on their own
            log.exception("evaluating detection quality failed")
            notes.append(f"detection quality could not be evaluated: {exc}")
            return None, []
        return _as_data(quality), list(format_quality(quality))

    @staticmethod
    def _latest(live: LiveCounts, *, after: float) -> dict[str, int]:
        """Counts per machine of the first sample after ``after`` (unix s), or the latest."""
        sample = live.wait_for_sample(after, timeout_s=live.sample_s + LIVE_SAMPLE_MARGIN_S)
        return {str(machine): int(n) for machine, n in sample.counts.items()} if sample else {}

    # -- teardown --------------------------------------------------------------------
    def close(self) -> None:
        """Stop whatever still runs, in order: producers, detector, live pipelines, the
        Spark session (if this run made it), this run's topics, the broker (if this run
        started it). Idempotent."""
        if self._closed:
            return
        self._closed = True
        # Producers still running here means the run was cut short (an error, a second
        # Ctrl-C): ask them to stop, then wait for their flush.
        self._stop.set()
        for entry in self.producers.values():
            if entry.thread.is_alive():
                entry.thread.join(PRODUCER_JOIN_MARGIN_S)
        steps: list[tuple[str, Callable[[], object]]] = []
        spark = self.spark
        if self.detector is not None:
            steps.append(("detector", self.detector.stop))
        steps += [(f"{stream} live pipeline", live.stop) for stream, live in self.live.items()]
        if spark is not None and self._given_spark is None:
            from pipelines.spark.jvm import stop_session_and_jvm

            # Its JVM too: it would otherwise outlive this process by a few seconds.
            steps.append(("Spark session", lambda: stop_session_and_jvm(spark)))
        if self._topics_created and not self.options.keep_topics and self.broker is not None:
            from pipelines import kafka_io

            kafka = self.settings.kafka
            steps.append(("topics", lambda: kafka_io.delete_topics(kafka, self.topics.values())))
        if self.broker is not None and self.broker.started_now and self.broker.embedded:
            steps.append(("embedded broker", self.broker.embedded.stop))
        for name, step in steps:
            try:
                step()
            except Exception:  # stopping the rest matters more than this one's error
                log.exception("stopping the %s failed", name)

    def __enter__(self) -> Demo:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _as_data(value: Any) -> dict[str, Any] | None:
    """A dataclass or pydantic object as plain JSON-ready data."""
    import dataclasses
    import json

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = dataclasses.asdict(value)
    elif hasattr(value, "model_dump"):
        data = value.model_dump(mode="json")
    else:
        return None
    # Keys such as stream names may be non-strings in a dataclass; JSON wants strings.
    result: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return result


def run_demo(
    settings: Settings,
    options: DemoOptions | None = None,
    *,
    stop: threading.Event | None = None,
    echo: Callable[[str], None] = print,
) -> DemoSummary:
    """Prepare, run and stop a bounded demo; return its summary.

    Args:
        settings: the product settings.
        options: duration, speed, seed, state folder, trigger.
        stop: set it to end the replay early (the run still drains and summarises).
        echo: receives the progress lines.
    """
    with Demo(settings, options, echo=echo) as demo:
        demo.prepare()
        return demo.run(stop)

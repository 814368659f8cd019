"""The streaming detector: :class:`Detector` checks, starts and stops its queries.

``Detector(settings).start()`` runs the checks at start (:mod:`~pipelines.detector.
start_checks`, :func:`~pipelines.detector.models.load_models`), then starts four queries
on one SparkSession, each wired in a module of its own (see docs/detector.md):
``ingest_process`` and ``ingest_memory`` (:mod:`~pipelines.detector.ingest`),
``attack_counts`` (7a, :mod:`~pipelines.detector.counts`) and ``attack_pairs`` (7b,
:mod:`~pipelines.detector.alerts`). A :class:`~pipelines.detector.monitor.DetectorMonitor`
thread turns finished batches into health records, totals and ``on_batch`` calls. The
running queries are :class:`~pipelines.detector.lifecycle.RunningQueries`, which drains
and stops them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipelines import kafka_io
from pipelines.config import Settings
from pipelines.detector import lifecycle, preflight
from pipelines.detector.alerts import start_pairs_query
from pipelines.detector.counts import start_counts_query
from pipelines.detector.drain import DrainReport
from pipelines.detector.health import BatchStatus
from pipelines.detector.ingest import IngestFigures, build_ingest_query, ingest_session
from pipelines.detector.layout import INGEST_QUERY, PAIRS_QUERY, DetectorTopics
from pipelines.detector.models import DetectorModels
from pipelines.detector.monitor import DetectorMonitor, watermark_of, watermark_seconds
from pipelines.detector.start_checks import StartChecks, current_settings
from pipelines.detector.stats import DetectorStats
from pipelines.detector.streaming import QueryWiring
from pipelines.errors import ConfigError
from pipelines.schema.columns import STREAMS, Stream
from pipelines.spark.session import build_spark_session

log = logging.getLogger(__name__)


class Detector:
    """The streaming detector of SPEC §5 on one SparkSession.

    Every keyword argument left at None takes its value from ``settings.detector``
    (:class:`~pipelines.config.DetectorSettings`) or ``settings.models_dir``.

    Args:
        settings: Kafka, Spark, folder and detector settings.
        process_model, memory_model: the model folders (default
            ``<models_dir>/process_pipeline_model``, ``…/memory_pipeline_model``).
        output_dir: root of the parquet outputs (default ``<home>/detector``).
        checkpoint_dir: root of the queries' checkpoints (default ``<home>/checkpoints/
            detector``); keep it to resume where the last run stopped.
        trigger_s: micro-batch interval of the ingest queries, seconds.
        monitor_trigger_s: micro-batch interval of the 7a and 7b queries, seconds.
        starting_offsets: ``earliest`` or ``latest``, used on the first start only
            (afterwards the checkpoints decide).
        max_offsets_per_trigger: cap of Kafka offsets per ingest micro-batch (None: all).
        topics: the topics (default: from settings).
        counts_table: name of the 7a memory sink (the Spark SQL table).
        on_batch: called after every ingest micro-batch with its :class:`BatchStatus`
            (on the detector's monitor thread; keep it short).
        spark: the session to use (default :func:`build_spark_session`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        process_model: Path | str | None = None,
        memory_model: Path | str | None = None,
        output_dir: Path | str | None = None,
        checkpoint_dir: Path | str | None = None,
        trigger_s: float | None = None,
        monitor_trigger_s: float | None = None,
        starting_offsets: str | None = None,
        max_offsets_per_trigger: int | None = None,
        topics: DetectorTopics | None = None,
        counts_table: str | None = None,
        on_batch: Callable[[BatchStatus], None] | None = None,
        spark: SparkSession | None = None,
    ) -> None:
        defaults = settings.detector
        trigger_s = defaults.trigger_s if trigger_s is None else trigger_s
        if monitor_trigger_s is None:
            monitor_trigger_s = defaults.monitor_trigger_s
        starting_offsets = starting_offsets or defaults.starting_offsets
        if max_offsets_per_trigger is None:
            max_offsets_per_trigger = defaults.max_offsets_per_trigger
        if trigger_s <= 0 or monitor_trigger_s <= 0:
            raise ConfigError(
                f"triggers must be positive seconds, got {trigger_s} and {monitor_trigger_s}"
            )
        if starting_offsets not in ("earliest", "latest"):
            raise ConfigError(f"starting offsets must be earliest or latest: {starting_offsets!r}")
        self.settings = settings
        models_dir = settings.models_dir
        self.model_paths: dict[Stream, Path] = {
            "process": Path(process_model or models_dir / "process_pipeline_model"),
            "memory": Path(memory_model or models_dir / "memory_pipeline_model"),
        }
        self.output_dir = Path(output_dir or settings.detector_output_dir)
        self.checkpoint_dir = Path(checkpoint_dir or settings.detector_checkpoint_dir)
        self.trigger_s = trigger_s
        self.monitor_trigger_s = monitor_trigger_s
        self.starting_offsets = starting_offsets
        self.max_offsets_per_trigger = max_offsets_per_trigger
        self.topics = topics or DetectorTopics.from_settings(settings)
        self.counts_table = counts_table or defaults.counts_table
        self.on_batch = on_batch
        self._spark = spark
        self._ingest_spark: SparkSession | None = None
        self.loaded = DetectorModels()
        self.checks = StartChecks(
            settings.kafka, self.model_paths, self.output_dir, self.checkpoint_dir
        )
        self._queries = lifecycle.RunningQueries(settings, self.topics, self.checkpoint_dir)
        self._lock = threading.Lock()
        self.stats = DetectorStats()

    # -- set-up ----------------------------------------------------------------------
    @property
    def spark(self) -> SparkSession:
        """The session (made on first use, with this detector's checkpoint root)."""
        if self._spark is None:
            self._spark = build_spark_session(
                self.settings, app_name="stophacking-detector", checkpoint_dir=self.checkpoint_dir
            )
        return self._spark

    @property
    def ingest_session(self) -> SparkSession:
        """The session of the ingest queries (:func:`~pipelines.detector.ingest.ingest_session`)."""
        if self._ingest_spark is None:
            self._ingest_spark = ingest_session(self.spark)
        return self._ingest_spark

    @property
    def models(self) -> dict[Stream, PipelineModel]:
        """The loaded models by stream (empty before :meth:`start`)."""
        return dict(self.loaded.models)

    def output_path(self, name: str) -> Path:
        """Folder of one output: ``process.parquet``, ``quarantine.parquet``, …"""
        return self.output_dir / name

    # -- checked at start (docs/detector.md, "Checked at start"; :attr:`checks`) ---------
    def check_checkpoint_settings(self) -> dict[str, preflight.SettingValue] | None:
        """This detector's settings against the checkpoints' record (starts the session;
        :meth:`StartChecks.check_settings`): what to record, or None when it matches."""
        return self.checks.check_settings(current_settings(self.spark, self.topics))

    def preflight(self) -> None:
        """Every check at start, before any query starts (:meth:`StartChecks.run`); loads
        the models; afterwards the settings record and the alerts folder exist."""
        self.loaded = self.checks.run(lambda: self.spark, self.topics)

    # -- queries ---------------------------------------------------------------------
    @property
    def queries(self) -> dict[str, StreamingQuery]:
        """The running queries by name (``ingest_process``, ``attack_counts`` …; the 7a
        query is named after its table)."""
        return self._queries.by_name()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called (until the next :meth:`start`)."""
        return self._queries.stopping.is_set()

    def start(self) -> None:
        """Check what can be checked (:meth:`preflight`), create the topics, start every
        query.

        Raises:
            ModelError: a model is missing, corrupt or incompatible.
            BrokerUnavailable: no broker answers.
            ConfigError: the detector is already running; a folder cannot be written;
                the checkpoints were made with other settings; the alerts and their
                checkpoint do not belong together. No query has started then.
        """
        if self._queries:
            raise ConfigError("the detector is already running")
        self._queries.stopping.clear()
        self.preflight()
        kafka_io.ensure_topics(self.settings.kafka, list(self.topics.names().values()))
        monitor = self._queries.monitor = DetectorMonitor(
            self.spark,
            self.settings.kafka,
            self.topics,
            counts_table=self.counts_table,
            on_status=self._on_status,
            alerts_total=lambda: self.stats.alerts,
        )
        monitor.start([self.spark, self.ingest_session])
        try:
            self._start_queries()
        except Exception:
            self.stop()
            raise

    def _start_queries(self) -> None:
        wiring = QueryWiring(
            self.settings, self.starting_offsets, self.checkpoint_dir, self._queries.stopping
        )
        loaded, topics = self.loaded, self.topics

        def attacks() -> dict[Stream, DataFrame]:  # each query reads the topics itself
            return {
                s: wiring.attack_stream(self.spark, topics.attacks(s), loaded.scored_schemas[s])
                for s in STREAMS
            }

        counts = start_counts_query(
            wiring, attacks(), table=self.counts_table, trigger_s=self.monitor_trigger_s
        )
        self._queries.add(self.counts_table, counts)
        pairs = start_pairs_query(
            wiring, attacks(), spark=self.spark, output_dir=self.output_dir,
            alerts_topic=topics.alerts, model_versions=loaded.versions,
            join_watermark_s=self._pairs_watermark_s, on_alerts=self._on_alerts,
            trigger_s=self.monitor_trigger_s,
        )  # fmt: skip
        self._queries.add(PAIRS_QUERY, pairs)
        # The ingest last: at a start with a backlog (a restart after downtime) its
        # first micro-batch is the largest, and it no longer shares the two cores with
        # the monitoring queries' start (building their plans over py4j, reading the
        # alert ledger). Both streams' plans are built before either query starts, so
        # the two first batches start together. Measured in docs/detector.md
        # ("Throughput and latency").
        ingest = []
        for stream in STREAMS:
            ingest.append(build_ingest_query(
                wiring, stream, session=self.ingest_session, model=loaded.models[stream],
                output_dir=self.output_dir,
                source_topic=topics.source(stream), attack_topic=topics.attacks(stream),
                max_offsets=self.max_offsets_per_trigger, trigger_s=self.trigger_s,
                on_figures=self._on_figures,
            ))  # fmt: skip
        for query in ingest:
            self._queries.add(INGEST_QUERY[query.stream], query.start())

    # -- what the queries report -------------------------------------------------------
    def watermark(self) -> str | None:
        """The 7a query's event-time watermark (ISO text), None before it has one."""
        return watermark_of(self._queries.last_progress(self.counts_table))

    def _pairs_watermark_s(self) -> float | None:
        return watermark_seconds(self._queries.last_progress(PAIRS_QUERY))

    def _on_status(self, status: BatchStatus) -> None:
        with self._lock:
            self.stats.add_status(status)
        if self.on_batch is not None:
            try:
                self.on_batch(status)
            except Exception:  # a display problem must not stop the detector
                log.exception("the on_batch callback failed")

    def _on_alerts(self, raised: int) -> None:
        with self._lock:
            self.stats.alerts += raised

    def _on_figures(self, figures: IngestFigures) -> None:
        with self._lock:
            self.stats.add_figures(figures)
        monitor = self._queries.monitor
        if monitor is not None:
            monitor.add_figures(figures)

    # -- running and stopping (:class:`~pipelines.detector.lifecycle.RunningQueries`) --
    def failure(self) -> str | None:
        """The first failed query's name and error, None while all are healthy."""
        return self._queries.failure()

    def process_all_available(self, timeout_s: float = 120.0) -> None:
        """Block until every query has processed what its sources hold now, and the
        health and window-count records of those batches were sent (tests)."""
        self._queries.process_all_available(timeout_s)

    def drain(self, timeout_s: float, *, poll_s: float = lifecycle.DRAIN_POLL_S) -> bool:
        """Wait (bounded) until the queries have read what the source topics hold now;
        False on timeout, a failed query or no broker (:meth:`RunningQueries.drain`)."""
        return self._queries.drain(timeout_s, poll_s=poll_s)

    def unread(self) -> dict[str, int] | None:
        """Per stream, the source topic's records the ingest query has not committed
        (what the next start reads first); None when the broker cannot be asked."""
        return self._queries.unread()

    def stop_gracefully(
        self, timeout_s: float | None = None, *, before_stop: Callable[[], None] | None = None
    ) -> DrainReport:
        """Drain, stop between two micro-batches, count what remains for the next start
        (:meth:`RunningQueries.stop_gracefully`)."""
        return self._queries.stop_gracefully(timeout_s, before_stop=before_stop)

    def stop(self, *, idle_wait_s: float = 0.0) -> None:
        """Stop every query, then the monitor (idempotent; :meth:`RunningQueries.stop`);
        the memory sink table stays queryable."""
        self._queries.stop(idle_wait_s=idle_wait_s)

    def run(
        self,
        *,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
        poll_s: float = 1.0,
    ) -> str | None:
        """Start, run until ``duration_s`` passes, ``stop`` is set or a query fails
        (:meth:`RunningQueries.wait`), stop; None after a clean stop, else the failure."""
        self.start()
        try:
            return self._queries.wait(duration_s=duration_s, stop=stop, poll_s=poll_s)
        finally:
            self.stop()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

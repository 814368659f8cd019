"""The streaming detector: the one module that starts and stops its queries.

``Detector(settings).start()`` starts four queries on one SparkSession (see
docs/detector.md):

- ``ingest_process``, ``ingest_memory``: the stream's topic → decode, clean, flag
  (:mod:`~pipelines.detector.transforms`, applied once when the query starts) →
  :class:`~pipelines.detector.ingest.IngestWriter`: cleaned, scored and quarantine
  parquet, and the records predicted as attack to the stream's attack topic. Each record
  is parsed and scored once.
- ``attack_counts`` (7a): both attack topics, each stream watermarked on its own →
  :func:`~pipelines.detector.transforms.attack_counts` → a memory sink in complete mode
  (the table ``settings.detector.counts_table``). The window-counts topic is published
  from that table (:mod:`~pipelines.detector.monitor`): one aggregation, two outputs.
- ``attack_pairs`` (7b): both attack topics, replayed copies dropped →
  :func:`~pipelines.detector.transforms.attack_pairs` →
  :class:`~pipelines.detector.alerts.PairsWriter`: pairs parquet, alerts parquet and the
  alerts topic.

A :class:`~pipelines.detector.monitor.DetectorMonitor` thread turns finished batches into
health records, totals and ``on_batch`` calls. Models are loaded and checked against
the cleaned schema before any query starts. :meth:`Detector.stop_gracefully` lets every
query catch up with its topics (bounded, :mod:`~pipelines.detector.drain`) before
stopping them; :meth:`Detector.stop` stops at once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from py4j.protocol import Py4JJavaError, Py4JNetworkError
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from pipelines import kafka_io
from pipelines.config import Settings
from pipelines.detector import preflight, transforms
from pipelines.detector.alerts import PairsWriter, seed_ledger
from pipelines.detector.drain import (
    DrainReport,
    TopicPartition,
    caught_up,
    committed_offsets,
    offsets_behind,
)
from pipelines.detector.health import BatchStatus
from pipelines.detector.ingest import IngestFigures, IngestWriter
from pipelines.detector.layout import (
    ALERTS_DIR,
    COUNTS_CHECKPOINT,
    INGEST_QUERY,
    PAIRS_QUERY,
    DetectorTopics,
    complete_batches,
)
from pipelines.detector.monitor import DetectorMonitor, watermark_of, watermark_seconds
from pipelines.detector.stats import DetectorStats
from pipelines.errors import BrokerRefused, BrokerUnavailable, ConfigError, ModelError
from pipelines.kafka_security import spark_kafka_options
from pipelines.schema.columns import STREAMS, Stream
from pipelines.spark.scoring import Scorer, load_pipeline_model, score
from pipelines.spark.session import build_spark_session

log = logging.getLogger(__name__)

PY4J_CALLBACK_LOGGER: Final = "py4j.clientserver"
"""The logger py4j writes a failed Python callback (a foreachBatch handler) to."""


CANCELLED_BATCH_MARKERS: Final = (
    "java.lang.InterruptedException",
    "SPARK_JOB_CANCELLED",
    "Cannot call methods on a stopped SparkContext",
)
"""What a micro-batch failure says when the JVM or the query is being stopped."""


INTERRUPTED_BATCH_TEXT: Final = (
    "py4j.protocol.Py4JJavaError: An error occurred while calling foreachBatch.\n"
    ": java.lang.InterruptedException: the detector stopped during this micro-batch"
)
"""What a ``foreachBatch`` handler cut short by a stop tells Spark, in a few words.

Spark recognises a stop that interrupted a Python ``foreachBatch`` by matching the
Python side's error text with ``py4j.protocol.Py4JJavaError: An error occurred while
calling((.|\r\n|\r|\n)*)(java.lang.InterruptedException|…)`` (``StreamExecution.
PROXY_ERROR``, SPARK-39218). That pattern recurses once per character: on the full text
(a Python traceback around a Java stack trace, several thousand characters) the stream
thread died with a ``StackOverflowError`` and printed ~1,000 ``java.util.regex`` frames
per query to Spark's log. A short text that still matches is recognised as a stop."""


class BatchInterrupted(RuntimeError):
    """A micro-batch cut short because the detector stops (Spark does not commit it)."""


class _StopAwareHandler:
    """A ``foreachBatch`` handler whose failure during a stop reaches Spark as
    :data:`INTERRUPTED_BATCH_TEXT` (not the long traceback Spark cannot parse)."""

    def __init__(self, handler: Callable[[DataFrame, int], None], stopping: threading.Event):
        self.handler = handler
        self.stopping = stopping

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        try:
            self.handler(batch, batch_id)
        except Exception:
            if not self.stopping.is_set():
                raise
            # ``from None``: py4j sends Spark the formatted traceback, chained causes too.
            raise BatchInterrupted(INTERRUPTED_BATCH_TEXT) from None


class _StopNoiseFilter(logging.Filter):
    """While the detector stops, drop py4j's tracebacks of the micro-batches it cancels.

    Stopping a query interrupts its running micro-batch, so the ``foreachBatch`` handler
    fails with a ``Py4JJavaError`` (an interrupted or cancelled job, or a stopped
    SparkContext when SIGTERM reached the JVM too), which py4j logs with a full traceback.
    Spark does not commit such a batch (the next start runs it again), so nothing is lost;
    the traceback would only alarm whoever pressed Ctrl-C.
    """

    def __init__(self, stopping: threading.Event) -> None:
        super().__init__()
        self.stopping = stopping

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BatchInterrupted):
            return False  # a micro-batch the stop cut short: Spark runs it again next start
        if isinstance(error, (Py4JNetworkError, ConnectionError)):
            return False  # the JVM is gone (SIGTERM reached it): not a fault of the batch
        if not isinstance(error, Py4JJavaError):
            return True
        if self.stopping.is_set():
            return False
        # SIGTERM reaches the JVM as well: it may cancel the batches before our stop runs.
        try:
            text = str(error)
        except Exception:  # py4j cannot describe an error once the JVM is gone
            return False
        return not any(marker in text for marker in CANCELLED_BATCH_MARKERS)


KAFKA_SOURCE_SCHEMA: Final = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
        StructField("timestampType", IntegerType()),
    ]
)
"""The columns Spark's Kafka source gives (used to derive output schemas up front)."""


DRAIN_POLL_S: Final = 0.25
"""How often a drain reads the queries' checkpoints."""
STOP_IDLE_WAIT_S: Final = 5.0
"""Longest a graceful stop waits for one query to finish its running trigger."""
IDLE_POLL_S: Final = 0.05

BROKER_CHECK_TIMEOUT_S: Final = 5.0
"""How long the check at start waits for the broker to answer a metadata request."""
WRITE_PROBE: Final = ".stophacking-write-probe"
"""A file the check at start writes and removes in each folder the detector writes to."""

SOURCE_FETCH_MAX_WAIT_MS: Final = 10
"""How long the broker may hold a fetch of Spark's Kafka source that found no new data.

Every streaming micro-batch reads its topic to the end, and the consumer's last fetch
then waits for data that is not there: the Java client's default, 500 ms, added half a
second to every micro-batch of every source (measured: a 300-record batch took 0.6 s to
read instead of 0.1 s). ``kafka.extra`` (``fetch_max_wait_ms``) overrides it."""


def kafka_options(settings: Settings) -> dict[str, str]:
    """Options of Spark's Kafka source/sink from the Kafka settings.

    ``kafka.extra`` holds kafka-python keys (``sasl_plain_password``, ``ssl_cafile``); the
    Java client that Spark passes ``kafka.*`` options to spells them its own way
    (``sasl.jaas.config``, a PEM truststore): :func:`spark_kafka_options` translates.
    """
    return spark_kafka_options(settings.kafka, {"fetch.max.wait.ms": str(SOURCE_FETCH_MAX_WAIT_MS)})


def model_version(path: Path) -> str:
    """A model's version text: folder name, stage uid, save time and Spark version.

    Read from the ``metadata`` file Spark ML writes with every saved pipeline, so it
    works for any model (the project's own or a foreign one).
    """
    for part in sorted((path / "metadata").glob("part-*")):
        try:
            meta = json.loads(part.read_text(encoding="utf-8").splitlines()[0])
        except (OSError, ValueError, IndexError):
            break
        saved = datetime.fromtimestamp(int(meta.get("timestamp", 0)) / 1000, tz=UTC)
        return (
            f"{path.name} uid={meta.get('uid')} saved={saved:%Y-%m-%dT%H:%M:%SZ} "
            f"spark={meta.get('sparkVersion')}"
        )
    return path.name


def last_logged_batch(log_folder: Path) -> int | None:
    """Highest batch id of a Spark metadata log (``offsets/``, ``commits/``), None if empty.

    Entries are files named ``<id>`` (or ``<id>.compact``); Spark's temporary files start
    with a dot.
    """
    try:
        names = [p.name.split(".")[0] for p in log_folder.iterdir()]
    except OSError:  # no such folder: no batch yet (or no checkpoint)
        return None
    ids = [int(name) for name in names if name.isdigit()]
    return max(ids) if ids else None


def probe_writable(folder: Path) -> str | None:
    """Create ``folder`` (and its parents) and write and remove a small file in it.

    Returns:
        None when that worked, else why not (one line: the error's class and text).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / WRITE_PROBE
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return None


class Detector:
    """The streaming detector of SPEC §5 on one SparkSession.

    Every keyword argument left at None takes its value from ``settings.detector``
    (:class:`~pipelines.config.DetectorSettings`) or ``settings.models_dir``.

    Args:
        settings: Kafka, Spark, folder and detector settings.
        process_model: process pipeline model folder (default
            ``<models_dir>/process_pipeline_model``).
        memory_model: memory pipeline model folder (default
            ``<models_dir>/memory_pipeline_model``).
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
        self.models: dict[Stream, PipelineModel] = {}
        self.scorers: dict[Stream, Scorer] = {}
        self.scored_schemas: dict[Stream, StructType] = {}
        self.model_versions: dict[str, str] = {}
        self._queries: dict[str, StreamingQuery] = {}
        self._lock = threading.Lock()
        self.stats = DetectorStats()
        self._monitor: DetectorMonitor | None = None
        self._stopping = threading.Event()
        logging.getLogger(PY4J_CALLBACK_LOGGER).addFilter(_StopNoiseFilter(self._stopping))

    # -- set-up ----------------------------------------------------------------------
    @property
    def spark(self) -> SparkSession:
        """The session (made on first use, with this detector's checkpoint root)."""
        if self._spark is None:
            self._spark = build_spark_session(
                self.settings, app_name="stophacking-detector", checkpoint_dir=self.checkpoint_dir
            )
        return self._spark

    def output_path(self, name: str) -> Path:
        """Folder of one output: ``process.parquet``, ``quarantine.parquet``, …"""
        return self.output_dir / name

    def check_model_folders(self) -> None:
        """Fail at once, before any JVM starts, when a model folder does not exist.

        Raises:
            ModelError: naming the missing folder and what to do.
        """
        for path in self.model_paths.values():
            if not path.is_dir():
                raise ModelError(f"no model folder at {path}: {preflight.MODEL_REMEDY}")

    # -- checked at start (docs/detector.md, "Checked at start") -----------------------
    @property
    def settings_record(self) -> Path:
        """The record of the settings the checkpoints were made with."""
        return self.checkpoint_dir / preflight.SETTINGS_FILE

    def check_before_spark(self) -> None:
        """The checks at start that need no JVM: model folders, broker, alerts against
        their checkpoint, writable folders (created here). Each fails with one line that
        names the thing and says what to do.

        Raises:
            ModelError: a model folder does not exist.
            BrokerUnavailable: no broker answers at the bootstrap servers.
            ConfigError: the alerts and their checkpoint do not belong together, or an
                output or checkpoint folder cannot be written.
        """
        self.check_model_folders()
        self.check_broker()
        self.check_alerts_checkpoint()
        self.check_writable()

    def check_broker(self) -> None:
        """Raises BrokerUnavailable (with what to do) when no broker answers in time."""
        servers = self.settings.kafka.bootstrap_servers
        try:
            kafka_io.list_topics(self.settings.kafka, timeout_s=BROKER_CHECK_TIMEOUT_S)
        except BrokerRefused:
            raise  # a broker is there; it refuses this client: the message says why
        except BrokerUnavailable as exc:
            raise BrokerUnavailable(
                f"no Kafka broker answers at {servers} within {BROKER_CHECK_TIMEOUT_S:g} s: "
                f"{preflight.BROKER_REMEDY}"
            ) from exc

    def check_alerts_checkpoint(self) -> None:
        """Raises ConfigError when the alerts folder and the 7b checkpoint disagree
        (:func:`~pipelines.detector.preflight.alerts_problem`)."""
        alerts_dir = self.output_path(ALERTS_DIR)
        pairs_checkpoint = self.checkpoint_dir / PAIRS_QUERY
        done = complete_batches(alerts_dir)
        problem = preflight.alerts_problem(
            alerts_dir=alerts_dir,
            pairs_checkpoint=pairs_checkpoint,
            alerts_dir_exists=alerts_dir.is_dir(),
            last_alert_batch=int(done[-1].name.removeprefix("batch=")) if done else None,
            last_planned_batch=last_logged_batch(pairs_checkpoint / "offsets"),
            recorded=self.settings_record.is_file(),
            checkpoint_dir=self.checkpoint_dir,
            output_dir=self.output_dir,
        )
        if problem is not None:
            raise ConfigError(problem)

    def check_writable(self) -> None:
        """Create the output and checkpoint roots; ConfigError when one cannot be written."""
        for role, folder, remedy in (
            ("output", self.output_dir, "--output-dir / STOPHACKING_DETECTOR__OUTPUT_DIR"),
            (
                "checkpoint",
                self.checkpoint_dir,
                "--checkpoint-dir / STOPHACKING_DETECTOR__CHECKPOINT_DIR",
            ),
        ):
            reason = probe_writable(folder)
            if reason is not None:
                raise ConfigError(
                    preflight.unwritable_message(
                        role,
                        folder,
                        reason,
                        f"give the detector write permission there, or choose another "
                        f"folder ({remedy})",
                    )
                )

    def current_checkpoint_settings(self) -> dict[str, preflight.SettingValue]:
        """What :attr:`settings_record` holds for this detector (starts the session)."""
        names = self.topics.names()
        return preflight.checkpoint_settings(
            shuffle_partitions=int(self.spark.conf.get("spark.sql.shuffle.partitions") or 0),
            read_topics={
                role: names[role]
                for role in ("process", "memory", "process_attacks", "memory_attacks")
            },
            watermark_s=transforms.WATERMARK_S,
            window_s=transforms.WINDOW_S,
            pair_tolerance_s=transforms.PAIR_TOLERANCE_S,
        )

    def check_checkpoint_settings(self) -> dict[str, preflight.SettingValue] | None:
        """Compare this detector's settings with the checkpoints' record.

        Returns:
            The settings to record (no record yet), or None (the record matches).

        Raises:
            ConfigError: the record differs (old → new listed) or cannot be read.
        """
        current = self.current_checkpoint_settings()
        record = self.settings_record
        try:
            text = record.read_text(encoding="utf-8")
        except FileNotFoundError:
            return current
        except OSError as exc:
            raise ConfigError(f"cannot read {record} ({exc.strerror or exc})") from exc
        try:
            recorded = preflight.decode_settings(text, record)
        except ValueError as exc:
            raise ConfigError(
                f"{exc}: restore it, or {preflight.afresh(self.checkpoint_dir, self.output_dir)}"
            ) from exc
        changes = preflight.changed_settings(recorded, current)
        if changes:
            raise ConfigError(
                preflight.settings_changed_message(
                    changes, record, self.checkpoint_dir, self.output_dir
                )
            )
        return None

    def preflight(self) -> None:
        """Every check at start, before any query starts (docs/detector.md, "Checked at
        start"); afterwards the settings record and the alerts folder exist.

        Raises:
            ModelError, BrokerUnavailable, ConfigError: see :meth:`check_before_spark`,
                :meth:`check_checkpoint_settings` and :meth:`load_models`.
        """
        self.check_before_spark()
        to_record = self.check_checkpoint_settings()
        self.load_models()
        # Both only once every check passed: a failed start leaves nothing behind that
        # the next start would take for a checkpoint's history.
        self.output_path(ALERTS_DIR).mkdir(exist_ok=True)
        if to_record is not None:
            self.settings_record.write_text(preflight.encode_settings(to_record), "utf-8")

    def load_models(self) -> None:
        """Load both models and check them against the cleaned records' schema.

        Raises:
            ModelError: a folder is missing (the message names it), unreadable or
                corrupt, or the model needs columns the cleaned records lack; the
                message says what to do.
        """
        self.check_model_folders()
        spark = self.spark  # loading a model needs an active session
        try:
            models = {stream: load_pipeline_model(self.model_paths[stream]) for stream in STREAMS}
            empty = spark.createDataFrame([], KAFKA_SOURCE_SCHEMA)
            for stream in STREAMS:
                # Building the plan on an empty frame runs every schema check (and gives
                # the scored schema the monitoring queries read back) without a job.
                records = self._records(empty, stream, models[stream])
                self.scored_schemas[stream] = score(
                    transforms.scorable_view(records), models[stream]
                ).schema
        except ModelError as exc:
            raise ModelError(f"{exc}: {preflight.MODEL_REMEDY}") from exc
        self.models = models
        self.scorers = {stream: Scorer(models[stream]) for stream in STREAMS}
        self.model_versions = {s: model_version(self.model_paths[s]) for s in STREAMS}

    @staticmethod
    def _records(messages: DataFrame, stream: Stream, model: PipelineModel) -> DataFrame:
        decoded = transforms.decode_messages(messages, stream)
        flagged = transforms.flag_unscorable(transforms.clean_records(decoded, stream), model)
        return transforms.keep_raw_value_for_quarantine(flagged)

    @property
    def ingest_session(self) -> SparkSession:
        """The session of the ingest queries: :attr:`spark` without whole-stage codegen.

        The cleaning expressions of a record's ~20 fields do not fit in one generated
        Java method (64 KB limit): with whole-stage codegen Spark compiled, failed, logged
        a stack trace and fell back on every micro-batch, which cost seconds per batch.
        A child session (same SparkContext and cache, own SQL settings) turns it off for
        the ingest only; the monitoring queries keep it.
        """
        if self._ingest_spark is None:
            session = self.spark.newSession()
            session.conf.set("spark.sql.codegen.wholeStage", "false")
            # A micro-batch is cached for a few seconds only: compressing its columns
            # cost more (a twelfth of the ingest's CPU) than the memory it saves.
            session.conf.set("spark.sql.inMemoryColumnarStorage.compressed", "false")
            self._ingest_spark = session
        return self._ingest_spark

    def _read_kafka(
        self,
        topic: str,
        *,
        max_offsets: int | None = None,
        min_partitions: int | None = None,
        session: SparkSession | None = None,
    ) -> DataFrame:
        spark = session or self.spark
        reader = spark.readStream.format("kafka").options(**kafka_options(self.settings))
        reader = reader.option("subscribe", topic).option("startingOffsets", self.starting_offsets)
        if max_offsets is not None:
            reader = reader.option("maxOffsetsPerTrigger", str(max_offsets))
        if min_partitions is not None:
            reader = reader.option("minPartitions", str(min_partitions))
        return reader.load()

    def _checkpoint(self, name: str) -> str:
        return str(self.checkpoint_dir / name)

    # -- what the queries report -------------------------------------------------------
    def watermark(self) -> str | None:
        """The 7a query's event-time watermark (ISO text), None before it has one."""
        query = self._queries.get(self.counts_table)
        return watermark_of(query.lastProgress if query is not None else None)

    def _pairs_watermark_s(self) -> float | None:
        query = self._queries.get(PAIRS_QUERY)
        return watermark_seconds(query.lastProgress if query is not None else None)

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
        monitor = self._monitor
        if monitor is not None:
            monitor.add_figures(figures)

    # -- queries ---------------------------------------------------------------------
    @property
    def queries(self) -> dict[str, StreamingQuery]:
        """The running queries by name (``ingest_process``, ``attack_counts`` …; the 7a
        query is named after its table)."""
        return dict(self._queries)

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called (until the next :meth:`start`)."""
        return self._stopping.is_set()

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
        self._stopping.clear()
        self.preflight()
        kafka_io.ensure_topics(self.settings.kafka, list(self.topics.names().values()))
        self._monitor = DetectorMonitor(
            self.spark,
            self.settings.kafka,
            self.topics,
            counts_table=self.counts_table,
            on_status=self._on_status,
            alerts_total=lambda: self.stats.alerts,
        )
        self._monitor.start([self.spark, self.ingest_session])
        try:
            for stream in STREAMS:
                self._start_ingest(stream)
            self._start_counts()
            self._start_pairs()
        except Exception:
            self.stop()
            raise

    def _start_ingest(self, stream: Stream) -> None:
        name = INGEST_QUERY[stream]
        messages = self._read_kafka(
            self.topics.source(stream),
            max_offsets=self.max_offsets_per_trigger,
            # A topic of one partition would otherwise be read, parsed and cleaned by
            # one task: Spark splits a batch's offset range into this many tasks, so
            # every core works on a large batch.
            min_partitions=self.spark.sparkContext.defaultParallelism,
            session=self.ingest_session,
        )
        # The transforms are applied to the stream once, here, not inside the handler:
        # building the cleaning expressions and analysing the plan took seconds, and
        # Spark now does it once per query instead of once per micro-batch.
        records = self._records(messages, stream, self.models[stream])
        writer = IngestWriter(
            stream,
            self.scorers[stream],
            output_dir=self.output_dir,
            kafka_options=kafka_options(self.settings),
            attack_topic=self.topics.attacks(stream),
            on_figures=self._on_figures,
        )
        self._queries[name] = (
            records.writeStream.queryName(name)
            .foreachBatch(_StopAwareHandler(writer, self._stopping))
            .option("checkpointLocation", self._checkpoint(name))
            .trigger(processingTime=f"{self.trigger_s} seconds")
            .start()
        )

    def attack_stream(self, stream: Stream) -> DataFrame:
        """The records of ``stream`` predicted as attack, read back from its attack topic."""
        return transforms.scored_from_kafka(
            self._read_kafka(self.topics.attacks(stream)), self.scored_schemas[stream]
        )

    def _start_counts(self) -> None:
        counts = transforms.attack_counts(
            {stream: self.attack_stream(stream) for stream in STREAMS}
        )
        self._queries[self.counts_table] = (
            counts.writeStream.queryName(self.counts_table)
            .outputMode("complete")
            .format("memory")
            .option("checkpointLocation", self._checkpoint(COUNTS_CHECKPOINT))
            .trigger(processingTime=f"{self.monitor_trigger_s} seconds")
            .start()
        )

    def _start_pairs(self) -> None:
        # A crash-replayed ingest batch publishes its attacks twice: pair each once.
        pairs = transforms.attack_pairs(
            *(transforms.drop_replayed_records(self.attack_stream(stream)) for stream in STREAMS)
        )
        writer = PairsWriter(
            output_dir=self.output_dir,
            ledger=seed_ledger(self.spark, self.output_dir),
            kafka_options=kafka_options(self.settings),
            alerts_topic=self.topics.alerts,
            model_versions=self.model_versions,
            join_watermark_s=self._pairs_watermark_s,
            on_alerts=self._on_alerts,
        )
        self._queries[PAIRS_QUERY] = (
            pairs.writeStream.queryName(PAIRS_QUERY)
            .outputMode("append")
            .foreachBatch(_StopAwareHandler(writer, self._stopping))
            .option("checkpointLocation", self._checkpoint(PAIRS_QUERY))
            .trigger(processingTime=f"{self.monitor_trigger_s} seconds")
            .start()
        )

    def process_all_available(self, timeout_s: float = 120.0) -> None:
        """Block until every query has processed what its sources hold now, and the
        health and window-count records of those batches were sent (tests).

        Ingest queries first, so the monitoring queries then see every attack record.

        Raises:
            StreamingQueryException: a query has failed.
        """
        for name in INGEST_QUERY.values():
            self._queries[name].processAllAvailable()
        for name, query in self._queries.items():
            if name not in INGEST_QUERY.values():
                query.processAllAvailable()
        latest: dict[str, int] = {}
        for name, query in self._queries.items():
            progress: Any = query.lastProgress
            if progress:
                # An idle trigger reports the id of the batch it did NOT run (and
                # listeners hear of it as idle, not as progress): wait for the one before.
                ran = "addBatch" in (progress.get("durationMs") or {})
                latest[name] = int(progress["batchId"]) - (0 if ran else 1)
        if self._monitor is not None and not self._monitor.wait_until_handled(latest, timeout_s):
            raise ConfigError(f"the detector's monitor did not catch up in {timeout_s} s")

    def failure(self) -> str | None:
        """The first failed query's name and error, or None while all are healthy."""
        for name, query in self._queries.items():
            if not query.isActive:
                error = query.exception()
                if error is not None:
                    return f"query {name} failed: {str(error).strip().splitlines()[0]}"
        return None

    def _end_offsets(self, topics: list[str]) -> dict[TopicPartition, int]:
        return kafka_io.partition_end_offsets(self.settings.kafka, topics)

    def _wait_until(self, condition: Callable[[], bool], deadline: float, poll_s: float) -> bool:
        """Poll ``condition`` until it holds (True), the deadline passes or a query fails."""
        while not condition():
            if time.monotonic() >= deadline or self.failure() is not None:
                return False
            time.sleep(poll_s)
        return True

    def drain(self, timeout_s: float, *, poll_s: float = DRAIN_POLL_S) -> bool:
        """Wait until the queries have read what the source topics hold now (bounded).

        First every ingest query, until it has committed a micro-batch ending at its
        source topic's end offsets as they are now; then the 7a and 7b queries, until
        each has read both attack topics to their end offsets as they are then (the
        ingest wrote its last attack records before committing). Progress is read from
        the checkpoints, which is also what the next start resumes from. Nothing is
        stopped; unlike ``processAllAvailable()`` this never waits past ``timeout_s``.

        Args:
            timeout_s: the longest wait, seconds.
            poll_s: how often to look, seconds.

        Returns:
            True when every query caught up in time; False on timeout, when a query
            failed, or when the broker could not be asked for the end offsets.
        """
        deadline = time.monotonic() + timeout_s
        ingest = {s: self.checkpoint_dir / INGEST_QUERY[s] for s in STREAMS}
        monitoring = [self.checkpoint_dir / COUNTS_CHECKPOINT, self.checkpoint_dir / PAIRS_QUERY]
        try:
            ends = {s: self._end_offsets([self.topics.source(s)]) for s in STREAMS}
        except Exception as exc:  # the broker is away: nothing to wait for
            log.warning("draining: the source topics' end offsets are unknown: %s", exc)
            return False

        def ingest_caught_up() -> bool:
            return all(caught_up(ends[s], committed_offsets(ingest[s])) for s in STREAMS)

        if not self._wait_until(ingest_caught_up, deadline, poll_s):
            return False
        try:
            attack_ends = self._end_offsets([self.topics.attacks(s) for s in STREAMS])
        except Exception as exc:
            log.warning("draining: the attack topics' end offsets are unknown: %s", exc)
            return False
        return self._wait_until(
            lambda: all(caught_up(attack_ends, committed_offsets(c)) for c in monitoring),
            deadline,
            poll_s,
        )

    def unread(self) -> dict[str, int] | None:
        """Per stream, the source topic's records the ingest query has not committed
        (what the next start reads first); None when the broker cannot be asked."""
        try:
            return {
                stream: offsets_behind(
                    self._end_offsets([self.topics.source(stream)]),
                    committed_offsets(self.checkpoint_dir / INGEST_QUERY[stream]),
                )
                for stream in STREAMS
            }
        except Exception as exc:
            log.warning("the records left for the next start could not be counted: %s", exc)
            return None

    def stop_gracefully(
        self,
        timeout_s: float | None = None,
        *,
        before_stop: Callable[[], None] | None = None,
    ) -> DrainReport:
        """Drain (:meth:`drain`, bounded), stop every query between two micro-batches,
        and count what remains for the next start.

        Stop the producers first: the end offsets are taken when this is called, so
        records sent afterwards are left for the next start (and counted as such).

        Args:
            timeout_s: the longest drain, seconds (default
                ``settings.detector.drain_timeout_s``; 0 stops at once).
            before_stop: called after the drain, before the queries stop (a last
                read-back of the memory sink, say); its failure is logged, not raised.
        """
        if timeout_s is None:
            timeout_s = self.settings.detector.drain_timeout_s
        started = time.monotonic()
        drained = self.drain(timeout_s) if self._queries and timeout_s > 0 else None
        waited_s = time.monotonic() - started
        if before_stop is not None:
            try:
                before_stop()
            except Exception:  # stopping matters more than what it wanted to show
                log.warning("the call before the stop failed", exc_info=True)
        self.stop(idle_wait_s=STOP_IDLE_WAIT_S)
        return DrainReport(remaining=self.unread(), waited_s=waited_s, timed_out=drained is False)

    @staticmethod
    def _wait_for_idle(query: StreamingQuery, timeout_s: float) -> None:
        """Wait (bounded) until ``query`` is between two triggers, so the stop interrupts
        no micro-batch. A trigger may still begin right after: that one is cut short."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if not query.isActive or not query.status["isTriggerActive"]:
                    return
            except Exception:  # the JVM is going away: stop at once
                return
            time.sleep(IDLE_POLL_S)

    def stop(self, *, idle_wait_s: float = 0.0) -> None:
        """Stop every query (idempotent); the memory sink table stays queryable.

        Args:
            idle_wait_s: wait up to this long, per query, for it to be between two
                triggers before stopping it (0: stop at once, cutting a batch short).
        """
        self._stopping.set()
        queries, self._queries = self._queries, {}
        for name, query in queries.items():
            try:
                if idle_wait_s > 0:
                    self._wait_for_idle(query, idle_wait_s)
                query.stop()
            except Exception as exc:  # stopping the others matters more than this one's error
                # Typically the JVM is already going down (SIGTERM reached it too).
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                log.warning("stopping query %s failed: %s", name, first_line)
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.stop(timeout_s=self.settings.kafka.request_timeout_s)

    def run(
        self,
        *,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
        poll_s: float = 1.0,
    ) -> str | None:
        """Start, run until ``duration_s`` passes, ``stop`` is set or a query fails; stop.

        Args:
            duration_s: seconds to run (None: until ``stop`` or a failure).
            stop: set it from another thread or a signal handler to end cleanly.
            poll_s: how often to check, seconds.

        Returns:
            None after a clean stop, else the failure text of :meth:`failure`.
        """
        stop = stop or threading.Event()
        self.start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            while not stop.is_set():
                failure = self.failure()
                if failure is not None:
                    return failure
                if deadline is not None and time.monotonic() >= deadline:
                    break
                wait = poll_s if deadline is None else min(poll_s, deadline - time.monotonic())
                stop.wait(max(0.0, wait))
            return None
        finally:
            self.stop()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

"""The detector's streaming queries: the one module that calls readStream/writeStream.

``Detector(settings).start()`` starts, on one SparkSession (see docs/detector.md):

- per stream (process, memory) ONE ingest query: Kafka source → :mod:`transforms`
  (decode, clean, flag unscorable) → ``foreachBatch`` that persists the micro-batch once
  and writes the cleaned, scored and quarantine parquet outputs to ``batch=<id>``
  folders (overwrite: idempotent when Spark re-runs a batch after a crash) and the
  scored records, as JSON, to an intermediate topic ``stophacking.scored.<stream>.v1``.
  Each record is thus parsed and scored once, whatever reads it afterwards.
- 7a: both scored topics → :func:`transforms.attack_counts` → a memory sink in complete
  mode (``attack_counts`` by default, queryable with Spark SQL) and, in update mode, the
  window-counts topic.
- 7b: both scored topics → :func:`transforms.attack_pairs` → ``process_memory_attack``
  parquet (file sink with checkpoint: exactly once).
- alerts: the committed 7b pairs read back as a file stream → one alert per (machine,
  CMD, PID, 2-minute window) → ``alerts/batch=<id>`` parquet and the alerts topic.

After each ingest micro-batch a :class:`~pipelines.detector.health.BatchStatus` goes to
the ``on_batch`` callback and a health record to the health topic.

Models are loaded and checked against the cleaned schema before any query starts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Final

from kafka import KafkaProducer
from kafka.errors import KafkaError
from py4j.protocol import Py4JJavaError, Py4JNetworkError
from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
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
from pipelines.config import DetectorSettings, Settings
from pipelines.detector import transforms as T
from pipelines.detector.alert_ledger import AlertLedger
from pipelines.detector.health import BatchStatus, health_record
from pipelines.detector.scoring import PREDICTION, load_pipeline_model, score
from pipelines.detector.session import build_spark_session
from pipelines.errors import ConfigError, ModelError
from pipelines.schema.columns import STREAMS, Stream

log = logging.getLogger(__name__)

PY4J_CALLBACK_LOGGER: Final = "py4j.clientserver"
"""The logger py4j writes a failed Python callback (a foreachBatch handler) to."""


CANCELLED_BATCH_MARKERS: Final = (
    "java.lang.InterruptedException",
    "SPARK_JOB_CANCELLED",
    "Cannot call methods on a stopped SparkContext",
)
"""What a micro-batch failure says when the JVM or the query is being stopped."""


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


DEFAULT_TRIGGER_S: Final = DetectorSettings().trigger_s
DEFAULT_COUNTS_TABLE: Final = DetectorSettings().counts_table

CLEANED_DIR: Final[dict[Stream, str]] = {"process": "process", "memory": "memory"}
SCORED_DIR: Final[dict[Stream, str]] = {"process": "process_scored", "memory": "memory_scored"}
QUARANTINE_DIR: Final = "quarantine"
PAIRS_DIR: Final = "process_memory_attack"
ALERTS_DIR: Final = "alerts"
SPARK_NO_WATERMARK: Final = "1970-01-01T00:00:00"
"""How a query's progress shows a watermark that is not set yet (the epoch)."""
SINK_READY_TIMEOUT_S: Final = 60.0
"""How long to wait for the 7b file sink's metadata log before reading it as a stream."""

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


@dataclass(frozen=True)
class DetectorTopics:
    """The Kafka topics the detector reads and writes."""

    process: str
    memory: str
    process_scored: str
    memory_scored: str
    window_counts: str
    alerts: str
    health: str

    _ROLES: ClassVar[tuple[str, ...]] = (
        "process", "memory", "process_scored", "memory_scored", "window_counts", "alerts",
        "health",
    )  # fmt: skip

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectorTopics:
        """The settings' topics, plus the detector's scored-record topics."""
        topics = settings.kafka.topics
        scored = settings.detector.scored_topics
        return cls(
            process=topics.process,
            memory=topics.memory,
            process_scored=scored.process,
            memory_scored=scored.memory,
            window_counts=topics.window_counts,
            alerts=topics.alerts,
            health=topics.health,
        )

    @classmethod
    def unique(cls, prefix: str) -> DetectorTopics:
        """Fresh topic names ``<prefix>.<role>.<8 hex>`` for one run (names only; nothing
        is created), so runs sharing a broker never read each other's records."""
        suffix = uuid.uuid4().hex[:8]
        return cls(**{role: f"{prefix}.{role.replace('_', '-')}.{suffix}" for role in cls._ROLES})

    def names(self) -> dict[str, str]:
        """Role (``process``, ``memory_scored``, ``window_counts`` …) → topic name."""
        return {role: getattr(self, role) for role in self._ROLES}

    def source(self, stream: Stream) -> str:
        """The topic the producers write ``stream`` to."""
        return self.process if stream == "process" else self.memory

    def scored(self, stream: Stream) -> str:
        """The intermediate topic of ``stream``'s scored records."""
        return self.process_scored if stream == "process" else self.memory_scored


@dataclass
class _Totals:
    batches: int = 0
    records: int = 0
    quarantined: int = 0
    scored: int = 0
    attacks: int = 0


@dataclass
class DetectorStats:
    """Totals since :meth:`Detector.start`, per stream (thread-safe snapshot via copy)."""

    per_stream: dict[str, _Totals] = field(default_factory=lambda: {s: _Totals() for s in STREAMS})
    last: dict[str, BatchStatus] = field(default_factory=dict)
    alerts: int = 0


def kafka_options(settings: Settings) -> dict[str, str]:
    """Options of Spark's Kafka source/sink from the Kafka settings.

    ``kafka.extra`` holds kafka-python keys (``security_protocol``); the Java client
    spells them with dots (``security.protocol``), which is what Spark passes on.
    """
    options = {"kafka.bootstrap.servers": settings.kafka.bootstrap_servers}
    for key, value in settings.kafka.extra.items():
        if isinstance(value, str | int | float | bool):
            options["kafka." + key.replace("_", ".")] = str(value)
    return options


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


def batch_folder(root: Path, batch_id: int) -> Path:
    """Where micro-batch ``batch_id`` of an output lives: ``<root>/batch=<id>``."""
    return root / f"batch={batch_id}"


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
        trigger_s: micro-batch interval, seconds (default 5).
        starting_offsets: ``earliest`` or ``latest``, used on the first start only
            (afterwards the checkpoints decide).
        max_offsets_per_trigger: cap of Kafka offsets per ingest micro-batch (default
            None: all).
        topics: the topics (default: from settings, scored topics
            ``stophacking.scored.<stream>.v1``).
        counts_table: name of the 7a memory sink (the Spark SQL table).
        on_batch: called after every ingest micro-batch with its :class:`BatchStatus`
            (on a Spark callback thread; keep it short).
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
        starting_offsets: str | None = None,
        max_offsets_per_trigger: int | None = None,
        topics: DetectorTopics | None = None,
        counts_table: str | None = None,
        on_batch: Callable[[BatchStatus], None] | None = None,
        spark: SparkSession | None = None,
    ) -> None:
        defaults = settings.detector
        trigger_s = defaults.trigger_s if trigger_s is None else trigger_s
        starting_offsets = starting_offsets or defaults.starting_offsets
        if max_offsets_per_trigger is None:
            max_offsets_per_trigger = defaults.max_offsets_per_trigger
        if trigger_s <= 0:
            raise ConfigError(f"trigger must be positive seconds, got {trigger_s}")
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
        self.starting_offsets = starting_offsets
        self.max_offsets_per_trigger = max_offsets_per_trigger
        self.topics = topics or DetectorTopics.from_settings(settings)
        self.counts_table = counts_table or defaults.counts_table
        self.on_batch = on_batch
        self._spark = spark
        self._ingest_spark: SparkSession | None = None
        self.models: dict[Stream, PipelineModel] = {}
        self.scored_schemas: dict[Stream, StructType] = {}
        self.model_versions: dict[str, str] = {}
        self._queries: dict[str, StreamingQuery] = {}
        self._lock = threading.Lock()
        self.stats = DetectorStats()
        self._next_offsets: dict[Stream, dict[int, int]] = {s: {} for s in STREAMS}
        self._health_producer: KafkaProducer | None = None
        self._stopping = threading.Event()
        logging.getLogger(PY4J_CALLBACK_LOGGER).addFilter(_StopNoiseFilter(self._stopping))
        self._alert_ledger = AlertLedger(pair_tolerance_s=T.PAIR_TOLERANCE_S)

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
        """Folder of one output: ``process``, ``memory_scored``, ``quarantine``, …"""
        return self.output_dir / name

    def check_model_folders(self) -> None:
        """Fail at once, before any JVM starts, when a model folder does not exist.

        Raises:
            ModelError: naming the missing folder.
        """
        for path in self.model_paths.values():
            if not path.is_dir():
                raise ModelError(f"no model folder at {path}")

    def load_models(self) -> None:
        """Load both models and check them against the cleaned records' schema.

        Raises:
            ModelError: a folder is missing (the message names it), unreadable, or the
                model needs columns the cleaned records lack.
        """
        self.check_model_folders()
        spark = self.spark  # loading a model needs an active session
        models = {stream: load_pipeline_model(self.model_paths[stream]) for stream in STREAMS}
        empty = spark.createDataFrame([], KAFKA_SOURCE_SCHEMA)
        for stream in STREAMS:
            # Building the plan on an empty frame runs every schema check (and gives the
            # scored schema the monitoring queries read back) without running a job.
            records = self._records(empty, stream, models[stream])
            self.scored_schemas[stream] = score(T.scorable_view(records), models[stream]).schema
        self.models = models
        self.model_versions = {s: model_version(self.model_paths[s]) for s in STREAMS}

    @staticmethod
    def _records(messages: DataFrame, stream: Stream, model: PipelineModel) -> DataFrame:
        decoded = T.decode_messages(messages, stream)
        return T.add_ingest_time(T.flag_unscorable(T.clean_records(decoded, stream), model))

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
            self._ingest_spark = session
        return self._ingest_spark

    def _read_kafka(
        self,
        topic: str,
        *,
        max_offsets: int | None = None,
        session: SparkSession | None = None,
    ) -> DataFrame:
        spark = session or self.spark
        reader = spark.readStream.format("kafka").options(**kafka_options(self.settings))
        reader = reader.option("subscribe", topic).option("startingOffsets", self.starting_offsets)
        if max_offsets is not None:
            reader = reader.option("maxOffsetsPerTrigger", str(max_offsets))
        return reader.load()

    def _checkpoint(self, name: str) -> str:
        return str(self.checkpoint_dir / name)

    # -- the ingest micro-batch ------------------------------------------------------
    def _write_parquet(self, df: DataFrame, root: Path, batch_id: int) -> None:
        # Overwrite the batch's own folder: a batch Spark re-runs after a crash reads the
        # same offsets and replaces whatever a failed attempt left there.
        df.write.mode("overwrite").parquet(str(batch_folder(root, batch_id)))

    def _ingest_batch(self, stream: Stream, records: DataFrame, batch_id: int) -> None:
        """Write one micro-batch of :meth:`_records` rows to every ingest output."""
        started = time.monotonic()
        model = self.models[stream]
        records = records.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            stage = F.col(T.STAGE)
            stages = (T.STAGE_DECODE, T.STAGE_PARSE, T.STAGE_SCORE)
            # One job for the batch's figures and each partition's last offset (every
            # Spark job costs a fixed scheduling overhead per micro-batch).
            per_partition = (
                records.groupBy("partition")
                .agg(
                    F.count(F.lit(1)).alias("records"),
                    F.count_distinct(F.col("offset")).alias("messages"),
                    F.max("offset").alias("last"),
                    *[F.count(F.when(stage == name, True)).alias(name) for name in stages],
                )
                .collect()
            )
            quarantined = {name: sum(int(row[name]) for row in per_partition) for name in stages}
            records_n = sum(int(row["records"]) for row in per_partition)
            messages_n = sum(int(row["messages"]) for row in per_partition)
            last_offsets = {int(row["partition"]): int(row["last"]) for row in per_partition}
            if sum(quarantined.values()):
                self._write_parquet(
                    T.quarantine_view(records),
                    self.output_path(QUARANTINE_DIR) / f"stream={stream}",
                    batch_id,
                )
            cleaned_n = records_n - quarantined[T.STAGE_DECODE] - quarantined[T.STAGE_PARSE]
            if cleaned_n:
                self._write_parquet(
                    T.cleaned_view(records), self.output_path(CLEANED_DIR[stream]), batch_id
                )
            scored_n = cleaned_n - quarantined[T.STAGE_SCORE]
            attacks = 0
            if scored_n:
                scored = score(T.scorable_view(records), model).persist(
                    StorageLevel.MEMORY_AND_DISK
                )
                try:
                    self._write_parquet(scored, self.output_path(SCORED_DIR[stream]), batch_id)
                    # Kafka last: a crash before it re-runs the batch, so the topic gets
                    # every scored record at least once (see docs/detector.md).
                    (
                        T.scored_to_kafka(scored)
                        .write.format("kafka")
                        .options(**kafka_options(self.settings))
                        .option("topic", self.topics.scored(stream))
                        .save()
                    )
                    attacks = scored.filter(F.col(PREDICTION) == 1.0).count()
                finally:
                    scored.unpersist()
        finally:
            records.unpersist()
        status = BatchStatus(
            stream=stream,
            batch_id=batch_id,
            messages=messages_n,
            records=records_n,
            quarantined=quarantined,
            scored=scored_n,
            attacks=attacks,
            duration_s=time.monotonic() - started,
            lag=self._lag(stream, last_offsets),
            watermark=self.watermark(),
        )
        self._record(status)
        self._publish_health(status)

    def _lag(self, stream: Stream, last_offsets: Mapping[int, int]) -> int | None:
        """Messages of the source topic after what this stream has read so far."""
        seen = self._next_offsets[stream]
        seen.update({partition: last + 1 for partition, last in last_offsets.items()})
        try:
            ends = kafka_io.topic_end_offsets(self.settings.kafka, self.topics.source(stream))
        except Exception:  # lag is informative; a broker hiccup must not fail the batch
            log.warning("could not read the end offsets of %s", self.topics.source(stream))
            return None
        return sum(max(0, end - seen.get(partition, end)) for partition, end in ends.items())

    def watermark(self) -> str | None:
        """The 7a query's event-time watermark (ISO text), None before it has one."""
        return self._query_watermark("attack_counts")

    def _query_watermark(self, name: str) -> str | None:
        query = self._queries.get(name)
        progress = query.lastProgress if query is not None else None
        if not progress:
            return None
        try:
            value = progress["eventTime"].get("watermark")
        except (KeyError, TypeError, AttributeError):
            return None
        # Spark reports the epoch until the query has seen event times.
        if not value or str(value).startswith(SPARK_NO_WATERMARK):
            return None
        return str(value)

    def _publish_health(self, status: BatchStatus) -> None:
        record = health_record(status, alerts_total=self.stats.alerts, at=datetime.now(UTC))
        try:
            if self._health_producer is None:
                self._health_producer = KafkaProducer(
                    **kafka_io.client_config(self.settings.kafka, acks="all")
                )
            self._health_producer.send(
                self.topics.health,
                key=status.stream.encode(),
                value=json.dumps(record).encode(),
            )
            self._health_producer.flush(timeout=self.settings.kafka.request_timeout_s)
        except KafkaError:  # health is best effort; the outputs must go on
            log.warning(
                "could not publish the health record of %s batch %d", status.stream, status.batch_id
            )

    def _record(self, status: BatchStatus) -> None:
        with self._lock:
            totals = self.stats.per_stream[status.stream]
            totals.batches += 1
            totals.records += status.records
            totals.quarantined += status.quarantined_total
            totals.scored += status.scored
            totals.attacks += status.attacks
            self.stats.last[status.stream] = status
        if self.on_batch is not None:
            try:
                self.on_batch(status)
            except Exception:  # a display problem must not stop the detector
                log.exception("the on_batch callback failed")

    # -- queries ---------------------------------------------------------------------
    @property
    def queries(self) -> dict[str, StreamingQuery]:
        """The running queries by name (``ingest_process``, ``attack_counts``, ``alerts`` …)."""
        return dict(self._queries)

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called (until the next :meth:`start`)."""
        return self._stopping.is_set()

    def start(self) -> None:
        """Load and check the models, create the topics, start every query.

        Raises:
            ModelError: a model is missing or incompatible (no query has started then).
            ConfigError: the detector is already running.
        """
        if self._queries:
            raise ConfigError("the detector is already running")
        self._stopping.clear()
        self.load_models()
        topics = self.topics
        kafka_io.ensure_topics(
            self.settings.kafka,
            [
                topics.process,
                topics.memory,
                topics.process_scored,
                topics.memory_scored,
                topics.window_counts,
                topics.alerts,
                topics.health,
            ],
        )
        trigger = f"{self.trigger_s} seconds"
        try:
            for stream in STREAMS:
                self._start_ingest(stream, trigger)
            self._start_monitors(trigger)
        except Exception:
            self.stop()
            raise

    def _start_ingest(self, stream: Stream, trigger: str) -> None:
        name = f"ingest_{stream}"
        messages = self._read_kafka(
            self.topics.source(stream),
            max_offsets=self.max_offsets_per_trigger,
            session=self.ingest_session,
        )
        # The transforms are applied to the stream once, here, not inside the handler:
        # building the cleaning expressions and analysing the plan took seconds, and
        # Spark now does it once per query instead of once per micro-batch.
        records = self._records(messages, stream, self.models[stream])

        def handle(batch: DataFrame, batch_id: int) -> None:
            self._ingest_batch(stream, batch, batch_id)

        self._queries[name] = (
            records.writeStream.queryName(name)
            .foreachBatch(handle)
            .option("checkpointLocation", self._checkpoint(name))
            .trigger(processingTime=trigger)
            .start()
        )

    def scored_stream(self, stream: Stream) -> DataFrame:
        """The scored records of ``stream`` read back from its intermediate topic."""
        return T.scored_from_kafka(
            self._read_kafka(self.topics.scored(stream)), self.scored_schemas[stream]
        )

    def _start_monitors(self, trigger: str) -> None:
        counts = T.attack_counts({stream: self.scored_stream(stream) for stream in STREAMS})
        self._queries["attack_counts"] = (
            counts.writeStream.queryName(self.counts_table)
            .outputMode("complete")
            .format("memory")
            .option("checkpointLocation", self._checkpoint("attack_counts"))
            .trigger(processingTime=trigger)
            .start()
        )
        count_updates = T.attack_counts_to_kafka(
            T.attack_counts({stream: self.scored_stream(stream) for stream in STREAMS})
        )
        self._queries["window_counts"] = (
            count_updates.writeStream.queryName("window_counts")
            .outputMode("update")
            .format("kafka")
            .options(**kafka_options(self.settings))
            .option("topic", self.topics.window_counts)
            .option("checkpointLocation", self._checkpoint("window_counts"))
            .trigger(processingTime=trigger)
            .start()
        )
        # A crash-replayed ingest batch publishes its scored records twice: pair each once.
        pairs = T.attack_pairs(
            *(T.drop_replayed_records(self.scored_stream(stream)) for stream in STREAMS)
        )
        self._queries["attack_pairs"] = (
            pairs.writeStream.queryName("attack_pairs")
            .outputMode("append")
            .format("parquet")
            .option("path", str(self.output_path(PAIRS_DIR)))
            .option("checkpointLocation", self._checkpoint("attack_pairs"))
            .trigger(processingTime=trigger)
            .start()
        )
        self._start_alerts(pairs.schema, trigger)

    def _start_alerts(self, pairs_schema: StructType, trigger: str) -> None:
        """Alerts read the committed 7b pairs back from their file sink, as a stream."""
        self._seed_alert_ledger()
        metadata = self.output_path(PAIRS_DIR) / "_spark_metadata"
        deadline = time.monotonic() + SINK_READY_TIMEOUT_S
        # The file source uses the sink's metadata log (committed files only) only if the
        # log exists when the source is created; the sink creates it when it starts.
        while not metadata.is_dir():
            if time.monotonic() > deadline:
                raise ConfigError(f"the 7b file sink did not create {metadata}")
            time.sleep(0.2)
        pairs = self.spark.readStream.schema(pairs_schema).parquet(str(self.output_path(PAIRS_DIR)))

        def handle(batch: DataFrame, batch_id: int) -> None:
            self._alerts_batch(batch, batch_id)

        self._queries["alerts"] = (
            pairs.writeStream.queryName("alerts")
            .foreachBatch(handle)
            .option("checkpointLocation", self._checkpoint("alerts"))
            .trigger(processingTime=trigger)
            .start()
        )

    def _seed_alert_ledger(self) -> None:
        """Load the keys earlier runs alerted (once per start; complete folders only).

        A folder without ``_SUCCESS`` belongs to an attempt that crashed before Spark
        committed its batch; that batch runs again and rewrites it.
        """
        root = self.output_path(ALERTS_DIR)
        done = [p.parent for p in root.glob("batch=*/_SUCCESS")]
        self._alert_ledger = AlertLedger(pair_tolerance_s=T.PAIR_TOLERANCE_S)
        if not done:
            return
        raised = self.spark.read.option("basePath", str(root)).parquet(*map(str, done))
        rows = raised.select(
            T.alert_key(raised).alias("key"),
            F.unix_seconds(F.col(T.WINDOW_END)).alias("end_s"),
            F.col("batch"),
        ).collect()
        self._alert_ledger.seed((r["key"], float(r["end_s"]), int(r["batch"])) for r in rows)

    def _alerts_batch(self, pairs: DataFrame, batch_id: int) -> None:
        groups = T.alert_groups(pairs).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            # One row per program and window: small enough to decide on the driver.
            candidates = {
                r["key"]: float(r["end_s"])
                for r in groups.select(
                    T.alert_key(groups).alias("key"),
                    F.unix_seconds(F.col(T.WINDOW_END)).alias("end_s"),
                ).collect()
            }
            fresh_keys = self._alert_ledger.fresh(candidates, batch_id)
            if fresh_keys:
                fresh = groups.filter(T.alert_key(groups).isin(list(fresh_keys)))
                # The batch's own folder, overwritten on a re-run: the record of which
                # keys were alerted, read back into the ledger when the detector starts.
                self._write_parquet(fresh, self.output_path(ALERTS_DIR), batch_id)
                (
                    T.alerts_to_kafka(fresh, self.model_versions)
                    .write.format("kafka")
                    .options(**kafka_options(self.settings))
                    .option("topic", self.topics.alerts)
                    .save()
                )
                self._alert_ledger.record(fresh_keys, batch_id)
                with self._lock:
                    self.stats.alerts += len(fresh_keys)
        finally:
            groups.unpersist()
        watermark = self._query_watermark("attack_pairs")
        self._alert_ledger.observe(
            None if watermark is None else datetime.fromisoformat(watermark).timestamp()
        )

    def process_all_available(self) -> None:
        """Block until every query has processed what its sources hold now (tests).

        Ingest queries first, so the monitoring queries then see every scored record.

        Raises:
            StreamingQueryException: a query has failed.
        """
        for name in ("ingest_process", "ingest_memory"):
            self._queries[name].processAllAvailable()
        for name, query in self._queries.items():
            if not name.startswith("ingest_"):
                query.processAllAvailable()

    def failure(self) -> str | None:
        """The first failed query's name and error, or None while all are healthy."""
        for name, query in self._queries.items():
            if not query.isActive:
                error = query.exception()
                if error is not None:
                    return f"query {name} failed: {str(error).strip().splitlines()[0]}"
        return None

    def stop(self) -> None:
        """Stop every query (idempotent); the memory sink table stays queryable."""
        self._stopping.set()
        queries, self._queries = self._queries, {}
        producer, self._health_producer = self._health_producer, None
        if producer is not None:
            producer.close(timeout=self.settings.kafka.request_timeout_s)
        for name, query in queries.items():
            try:
                query.stop()
            except Exception as exc:  # stopping the others matters more than this one's error
                # Typically the JVM is already going down (SIGTERM reached it too).
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                log.warning("stopping query %s failed: %s", name, first_line)

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

"""What every detector query is wired with: Spark's Kafka source, checkpoints, the stop.

The query starters (:func:`~pipelines.detector.ingest.build_ingest_query`,
:func:`~pipelines.detector.counts.start_counts_query`,
:func:`~pipelines.detector.alerts.start_pairs_query`) take a :class:`QueryWiring`: the
Kafka options, the starting offsets, the checkpoint root and the stop event one detector
run gives all its queries. Every ``readStream`` of the detector is here, and so is the
``writeStream`` of its ``foreachBatch`` queries.

A stop cuts a running micro-batch short; two pieces keep that quiet and safe: a handler
cut short by a stop tells Spark so in one short line that Spark recognises
(:class:`StopAwareHandler`, :data:`INTERRUPTED_BATCH_TEXT`), and the tracebacks py4j
logs for those batches are dropped (:class:`StopNoiseFilter`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from py4j.protocol import Py4JJavaError, Py4JNetworkError
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

from pipelines.config import Settings
from pipelines.detector import transforms
from pipelines.kafka_security import spark_kafka_options

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

SOURCE_FETCH_MAX_WAIT_MS: Final = 10
"""How long the broker may hold a fetch of Spark's Kafka source that found no new data.

Every streaming micro-batch reads its topic to the end, and the consumer's last fetch
then waits for data that is not there: the Java client's default, 500 ms, added half a
second to every micro-batch of every source (measured: a 300-record batch took 0.6 s to
read instead of 0.1 s). ``kafka.extra`` (``fetch_max_wait_ms``) overrides it."""


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


class StopAwareHandler:
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


class StopNoiseFilter(logging.Filter):
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


def kafka_options(settings: Settings) -> dict[str, str]:
    """Options of Spark's Kafka source/sink from the Kafka settings.

    ``kafka.extra`` holds kafka-python keys (``sasl_plain_password``, ``ssl_cafile``); the
    Java client that Spark passes ``kafka.*`` options to spells them its own way
    (``sasl.jaas.config``, a PEM truststore): :func:`spark_kafka_options` translates.
    """
    return spark_kafka_options(settings.kafka, {"fetch.max.wait.ms": str(SOURCE_FETCH_MAX_WAIT_MS)})


@dataclass(frozen=True)
class QueryWiring:
    """What one detector run gives each of its queries.

    Attributes:
        settings: the Kafka settings are read from it.
        starting_offsets: ``earliest`` or ``latest`` (first start only).
        checkpoint_dir: root of the queries' checkpoints (one folder per query).
        stopping: set while the detector stops (see
            :class:`StopAwareHandler`).
    """

    settings: Settings
    starting_offsets: str
    checkpoint_dir: Path
    stopping: threading.Event

    @property
    def kafka_options(self) -> dict[str, str]:
        """:func:`kafka_options` of :attr:`settings`."""
        return kafka_options(self.settings)

    def checkpoint(self, name: str) -> str:
        """The checkpoint folder of the query (or checkpoint) ``name``."""
        return str(self.checkpoint_dir / name)

    def read_kafka(
        self,
        spark: SparkSession,
        topic: str,
        *,
        max_offsets: int | None = None,
        min_partitions: int | None = None,
    ) -> DataFrame:
        """A stream of ``topic``'s messages (:data:`KAFKA_SOURCE_SCHEMA`).

        Args:
            spark: the session whose query reads it.
            topic: the topic.
            max_offsets: cap of offsets per micro-batch (None: all).
            min_partitions: split a batch's offset ranges into at least this many tasks.
        """
        reader = spark.readStream.format("kafka").options(**self.kafka_options)
        reader = reader.option("subscribe", topic).option("startingOffsets", self.starting_offsets)
        if max_offsets is not None:
            reader = reader.option("maxOffsetsPerTrigger", str(max_offsets))
        if min_partitions is not None:
            reader = reader.option("minPartitions", str(min_partitions))
        return reader.load()

    def attack_stream(self, spark: SparkSession, topic: str, schema: StructType) -> DataFrame:
        """The scored records (of ``schema``) predicted as attack, read back from ``topic``."""
        return transforms.scored_from_kafka(self.read_kafka(spark, topic), schema)

    def start_batches(
        self,
        frame: DataFrame,
        name: str,
        handler: Callable[[DataFrame, int], None],
        *,
        trigger_s: float,
        output_mode: str | None = None,
    ) -> StreamingQuery:
        """Start query ``name``: ``handler`` gets each micro-batch of ``frame`` every
        ``trigger_s`` seconds, checkpointed in the folder ``name``.

        The handler is wrapped in a :class:`StopAwareHandler`.
        """
        writer = frame.writeStream.queryName(name)
        if output_mode is not None:
            writer = writer.outputMode(output_mode)
        return (
            writer.foreachBatch(StopAwareHandler(handler, self.stopping))
            .option("checkpointLocation", self.checkpoint(name))
            .trigger(processingTime=f"{trigger_s} seconds")
            .start()
        )

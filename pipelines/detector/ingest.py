"""The ingest micro-batch of one stream: every record parsed and scored once, every
ingest output written from it (SPEC §5 steps 3–6).

The ingest query's streaming DataFrame already holds one row per record, decoded,
cleaned, flagged and scored (:mod:`pipelines.detector.transforms`, applied once when
the query starts: the model runs inside the query's own plan). :class:`IngestWriter`
is its ``foreachBatch`` handler. Per micro-batch:

1. the batch is computed once and stored (:func:`~pipelines.spark.frames.materialized`,
   the model's verdict with it);
2. first, the records predicted as attack are published to the stream's attack topic,
   which is all the monitoring queries (7a, 7b) read;
3. the scored records are written to ``<stream>_scored.parquet/batch=<id>``;
4. the cleaned records are written to ``<stream>.parquet/batch=<id>``; the batch's
   figures (records, messages, quarantined per stage, attacks) are observed during
   that same write, so they cost no job of their own;
5. quarantined records, if any, go to ``quarantine.parquet/stream=<s>/batch=<id>``.

The order follows what waits for what: 7a and 7b (and so the alerts) wait for the
attack topic, a reader of the scored output for its folder, and nobody for the cleaned
copy. Publishing before the parquet writes took a scored and a cleaned write off every
alert's path (measured in docs/detector.md, "Throughput and latency"); it changes no
guarantee, because a crash anywhere before Spark commits the batch runs all of it again.

Four or five Spark jobs per micro-batch (computing and storing the batch, the attack
topic, the scored and the cleaned writes, the quarantine when it has rows). Every write
overwrites its batch's own folder, so a batch Spark re-runs after a crash replaces
whatever a failed attempt left; the attack topic gets a re-run batch's records twice,
which 7b removes by record identity
(:func:`~pipelines.detector.transforms.drop_replayed_records`) and which leaves 7a's
distinct counts unchanged.

:func:`build_ingest_query` wires one stream's query: its source topic, read on the
ingest's own session (:func:`ingest_session`), through :func:`ingest_records` into an
:class:`IngestWriter`; :meth:`IngestQuery.start` starts it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from pipelines.detector import transforms
from pipelines.detector.layout import (
    CLEANED_DIR,
    INGEST_QUERY,
    QUARANTINE_DIR,
    SCORED_DIR,
    batch_folder,
)
from pipelines.detector.streaming import QueryWiring
from pipelines.schema.columns import Stream
from pipelines.spark.frames import materialized
from pipelines.spark.scoring import PREDICTION

QUARANTINE_STAGES = (transforms.STAGE_DECODE, transforms.STAGE_PARSE, transforms.STAGE_SCORE)


@dataclass(frozen=True)
class IngestFigures:
    """What one ingest micro-batch of one stream did (exact counts).

    Attributes:
        stream: ``process`` or ``memory``.
        batch_id: Spark's micro-batch id.
        messages: Kafka messages read.
        records: records in them (an array message holds several).
        quarantined: stage → records quarantined (every stage present, zeros included).
        scored: records scored.
        attacks: scored records predicted as attack.
        newest_event_s: the newest event time among the cleaned records (unix seconds),
            None when none was cleaned.
        oldest_event_s: the oldest one, likewise.
        duration_s: wall time of the handler, seconds.
        finished_at: unix time when the handler finished.
    """

    stream: Stream
    batch_id: int
    messages: int
    records: int
    quarantined: Mapping[str, int]
    scored: int
    attacks: int
    newest_event_s: float | None
    duration_s: float
    finished_at: float
    oldest_event_s: float | None = None

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())


def write_parquet(df: DataFrame, root: Path, batch_id: int) -> None:
    """Write ``df`` to the batch's own folder, replacing what a failed attempt left."""
    df.write.mode("overwrite").parquet(str(batch_folder(root, batch_id)))


class IngestWriter:
    """The ``foreachBatch`` handler of one stream's ingest query.

    Args:
        stream: ``process`` or ``memory``.
        output_dir: root of the detector's outputs.
        kafka_options: Spark Kafka sink options (bootstrap servers, security).
        attack_topic: where the records predicted as attack go.
        on_figures: called with each batch's :class:`IngestFigures` at the end of the
            handler (on Spark's callback thread: keep it short).
    """

    def __init__(
        self,
        stream: Stream,
        *,
        output_dir: Path,
        kafka_options: Mapping[str, str],
        attack_topic: str,
        on_figures: Callable[[IngestFigures], None],
    ) -> None:
        self.stream = stream
        self.cleaned_root = output_dir / CLEANED_DIR[stream]
        self.scored_root = output_dir / SCORED_DIR[stream]
        self.quarantine_root = output_dir / QUARANTINE_DIR / f"stream={stream}"
        self.kafka_options = dict(kafka_options)
        self.attack_topic = attack_topic
        self.on_figures = on_figures

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        """Write one micro-batch of decoded, cleaned, flagged and scored records."""
        started = time.monotonic()
        with materialized(batch) as records:
            scored = transforms.scored_view(records)
            # The attack topic first: the monitoring queries wait for it, nobody waits
            # for the parquet copies. A crash after it re-runs the whole batch, so the
            # topic gets every attack at least once (see docs/detector.md).
            (
                transforms.scored_to_kafka(scored.filter(F.col(PREDICTION) == 1.0))
                .write.format("kafka")
                .options(**self.kafka_options)
                .option("topic", self.attack_topic)
                .save()
            )
            write_parquet(scored, self.scored_root, batch_id)
            figures = Observation(f"ingest_{self.stream}")
            stage = F.col(transforms.STAGE)
            cleaned_event_us = F.when(
                stage.isNull() | (stage == transforms.STAGE_SCORE),
                F.unix_micros(F.col(transforms.EVENT_TIME)),
            )
            # Observed during the cleaned write, so the figures cost no job of their
            # own (an observation on the Kafka write would never be reported: that sink
            # runs its query inside a command of its own).
            observed = records.observe(
                figures,
                F.count(F.lit(1)).alias("records"),
                # Every message has exactly one record with index 0 (an empty one too).
                F.count(F.when(F.col(transforms.RECORD_INDEX) == 0, True)).alias("messages"),
                *[F.count(F.when(stage == name, True)).alias(name) for name in QUARANTINE_STAGES],
                F.count(F.when(F.col(PREDICTION) == 1.0, True)).alias("attacks"),
                F.max(cleaned_event_us).alias("newest_us"),
                F.min(cleaned_event_us).alias("oldest_us"),
            )
            write_parquet(transforms.cleaned_view(observed), self.cleaned_root, batch_id)
            counts = figures.get
            quarantined = {name: int(counts[name]) for name in QUARANTINE_STAGES}
            if sum(quarantined.values()):
                write_parquet(transforms.quarantine_view(records), self.quarantine_root, batch_id)
            records_n = int(counts["records"])
        newest, oldest = counts["newest_us"], counts["oldest_us"]
        self.on_figures(
            IngestFigures(
                stream=self.stream,
                batch_id=batch_id,
                messages=int(counts["messages"]),
                records=records_n,
                quarantined=quarantined,
                scored=records_n - sum(quarantined.values()),
                attacks=int(counts["attacks"]),
                newest_event_s=None if newest is None else newest / 1e6,
                oldest_event_s=None if oldest is None else oldest / 1e6,
                duration_s=time.monotonic() - started,
                finished_at=time.time(),
            )
        )


def ingest_records(messages: DataFrame, stream: Stream, model: PipelineModel) -> DataFrame:
    """Kafka messages → one row per record, decoded, cleaned, flagged and scored by
    ``model``, the raw value kept for the quarantine: what :class:`IngestWriter` gets."""
    decoded = transforms.decode_messages(messages, stream)
    flagged = transforms.flag_unscorable(transforms.clean_records(decoded, stream), model)
    return transforms.score_records(transforms.keep_raw_value_for_quarantine(flagged), model)


def ingest_session(spark: SparkSession) -> SparkSession:
    """The session of the ingest queries: ``spark`` without whole-stage codegen.

    The cleaning expressions of a record's ~20 fields do not fit in one generated
    Java method (64 KB limit): with whole-stage codegen Spark compiled, failed, logged
    a stack trace and fell back on every micro-batch, which cost seconds per batch.
    A child session (same SparkContext and cache, own SQL settings) turns it off for
    the ingest only; the monitoring queries keep it.
    """
    session = spark.newSession()
    session.conf.set("spark.sql.codegen.wholeStage", "false")
    return session


@dataclass(frozen=True)
class IngestQuery:
    """One stream's ingest query, built and ready to start (see :func:`build_ingest_query`).

    Attributes:
        stream: ``process`` or ``memory``.
        records: the streaming frame of decoded, cleaned, flagged and scored records.
        writer: its ``foreachBatch`` handler.
        wiring: the detector run's Kafka source, checkpoints and stop event.
        trigger_s: micro-batch interval, seconds.
    """

    stream: Stream
    records: DataFrame
    writer: IngestWriter
    wiring: QueryWiring
    trigger_s: float

    def start(self) -> StreamingQuery:
        """Start the query (named and checkpointed ``INGEST_QUERY[stream]``)."""
        return self.wiring.start_batches(
            self.records, INGEST_QUERY[self.stream], self.writer, trigger_s=self.trigger_s
        )


def build_ingest_query(
    wiring: QueryWiring,
    stream: Stream,
    *,
    session: SparkSession,
    model: PipelineModel,
    output_dir: Path,
    source_topic: str,
    attack_topic: str,
    max_offsets: int | None,
    trigger_s: float,
    on_figures: Callable[[IngestFigures], None],
) -> IngestQuery:
    """Build ``stream``'s ingest query; :meth:`IngestQuery.start` starts it.

    Building takes seconds (the plan of the transforms and the model, over py4j):
    a detector builds both streams' queries before starting either, so that neither
    stream's first micro-batch waits for, or shares the cores with, the other's build.

    Args:
        wiring: the detector run's Kafka source, checkpoints and stop event.
        stream: ``process`` or ``memory``.
        session: the ingest's session (:func:`ingest_session`).
        model: the stream's model (what its records are flagged against and scored by).
        output_dir: root of the detector's outputs.
        source_topic: the topic the producers write ``stream`` to.
        attack_topic: where the records predicted as attack go.
        max_offsets: cap of Kafka offsets per micro-batch (None: all).
        trigger_s: micro-batch interval, seconds.
        on_figures: called with each batch's :class:`IngestFigures`.
    """
    messages = wiring.read_kafka(
        session,
        source_topic,
        max_offsets=max_offsets,
        # A topic of one partition would otherwise be read, parsed and cleaned by
        # one task: Spark splits a batch's offset range into this many tasks, so
        # every core works on a large batch.
        min_partitions=session.sparkContext.defaultParallelism,
    )
    # The transforms are applied to the stream once, here, not inside the handler:
    # building the cleaning expressions and analysing the plan took seconds, and
    # Spark now does it once per query instead of once per micro-batch.
    records = ingest_records(messages, stream, model)
    writer = IngestWriter(
        stream,
        output_dir=output_dir,
        kafka_options=wiring.kafka_options,
        attack_topic=attack_topic,
        on_figures=on_figures,
    )
    return IngestQuery(stream, records, writer, wiring, trigger_s)

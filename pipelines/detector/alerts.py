"""7b's output: attack pairs and the alerts raised from them, in one micro-batch handler.

The 7b query joins the process and memory attack records
(:func:`~pipelines.detector.transforms.attack_pairs`, after
:func:`~pipelines.detector.transforms.drop_replayed_records`); :class:`PairsWriter` is
its ``foreachBatch`` handler. Per micro-batch that found pairs:

1. the pairs are grouped into one row per (machine, CMD, PID, 2-minute window)
   (:func:`~pipelines.detector.transforms.alert_groups`), collected to the driver;
2. keys no earlier batch alerted (:class:`~pipelines.detector.alert_ledger.AlertLedger`)
   are published to the alerts topic, then written to ``alerts.parquet/batch=<id>``;
3. the pairs are written to ``process_memory_attack.parquet/batch=<id>``.

The alerts go first because someone waits for them; the pairs' parquet copy is for
later reading. A crash anywhere before Spark commits the batch runs all of it again.

A batch Spark re-runs after a crash recomputes the same pairs from the same offsets and
join state, and overwrites its folders: each pair and each alert is written once. The
ledger is seeded from the complete alert folders when the detector starts
(:func:`seed_ledger`), so "one alert per key and window" also holds across restarts.
:func:`start_pairs_query` wires the query.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from pipelines.detector import transforms
from pipelines.detector.alert_ledger import AlertLedger
from pipelines.detector.ingest import write_parquet
from pipelines.detector.layout import ALERTS_DIR, PAIRS_DIR, PAIRS_QUERY, complete_batches
from pipelines.detector.streaming import QueryWiring
from pipelines.schema.columns import STREAMS, Stream


def seed_ledger(spark: SparkSession, output_dir: Path) -> AlertLedger:
    """A ledger holding the keys that the complete ``alerts.parquet`` batches raised."""
    ledger = AlertLedger(pair_tolerance_s=transforms.PAIR_TOLERANCE_S)
    root = output_dir / ALERTS_DIR
    done = complete_batches(root)
    if not done:
        return ledger
    raised = spark.read.option("basePath", str(root)).parquet(*map(str, done))
    rows = raised.select(
        transforms.alert_key(raised).alias("key"),
        F.unix_seconds(F.col(transforms.WINDOW_END)).alias("end_s"),
        F.col("batch"),
    ).collect()
    ledger.seed((r["key"], float(r["end_s"]), int(r["batch"])) for r in rows)
    return ledger


class PairsWriter:
    """The ``foreachBatch`` handler of the 7b query: alerts, then pairs.

    Args:
        output_dir: root of the detector's outputs.
        ledger: the keys alerted so far (see :func:`seed_ledger`).
        kafka_options: Spark Kafka sink options.
        alerts_topic: where alerts are published.
        model_versions: stream → model version text, carried by every alert.
        join_watermark_s: returns the 7b query's last reported watermark (epoch
            seconds), None before it has one.
        on_alerts: called with the number of alerts a batch raised (>0 only).
    """

    def __init__(
        self,
        *,
        output_dir: Path,
        ledger: AlertLedger,
        kafka_options: Mapping[str, str],
        alerts_topic: str,
        model_versions: Mapping[str, str],
        join_watermark_s: Callable[[], float | None],
        on_alerts: Callable[[int], None],
    ) -> None:
        self.pairs_root = output_dir / PAIRS_DIR
        self.alerts_root = output_dir / ALERTS_DIR
        self.ledger = ledger
        self.kafka_options = dict(kafka_options)
        self.alerts_topic = alerts_topic
        self.model_versions = dict(model_versions)
        self.join_watermark_s = join_watermark_s
        self.on_alerts = on_alerts
        self.last_batch_s: float = 0.0

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        """Write one micro-batch of pairs and raise the alerts they call for."""
        started = time.monotonic()
        # Read before the batch's own work: the watermark of the previous batch.
        watermark = self.join_watermark_s()
        pairs = batch.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            groups = transforms.alert_groups(pairs).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                # One row per program and window: small enough to decide on the driver.
                candidates = {
                    r["key"]: float(r["end_s"])
                    for r in groups.select(
                        transforms.alert_key(groups).alias("key"),
                        F.unix_seconds(F.col(transforms.WINDOW_END)).alias("end_s"),
                    ).collect()
                }
                if candidates:  # no group, no pair: nothing to write
                    self._raise(groups, candidates, batch_id)
                    write_parquet(pairs, self.pairs_root, batch_id)
            finally:
                groups.unpersist()
        finally:
            pairs.unpersist()
        self.ledger.observe(watermark)
        self.last_batch_s = time.monotonic() - started

    def _raise(self, groups: DataFrame, candidates: dict[str, float], batch_id: int) -> None:
        fresh_keys = self.ledger.fresh(candidates, batch_id)
        if not fresh_keys:
            return
        fresh = groups.filter(transforms.alert_key(groups).isin(list(fresh_keys)))
        (
            transforms.alerts_to_kafka(fresh, self.model_versions)
            .write.format("kafka")
            .options(**self.kafka_options)
            .option("topic", self.alerts_topic)
            .save()
        )
        # The batch's own folder, overwritten on a re-run: the record of which keys were
        # alerted, read back into the ledger when the detector starts.
        write_parquet(fresh, self.alerts_root, batch_id)
        self.ledger.record(fresh_keys, batch_id)
        self.on_alerts(len(fresh_keys))


def start_pairs_query(
    wiring: QueryWiring,
    attacks: Mapping[Stream, DataFrame],
    *,
    spark: SparkSession,
    output_dir: Path,
    alerts_topic: str,
    model_versions: Mapping[str, str],
    join_watermark_s: Callable[[], float | None],
    on_alerts: Callable[[int], None],
    trigger_s: float,
) -> StreamingQuery:
    """Start the 7b query (named and checkpointed :data:`~pipelines.detector.layout.PAIRS_QUERY`).

    Args:
        wiring: the detector run's Kafka options, checkpoints and stop event.
        attacks: per stream, its attack records (``QueryWiring.attack_stream``).
        spark: the session that reads the alerts raised so far (:func:`seed_ledger`).
        trigger_s: micro-batch interval, seconds.

    The other arguments are :class:`PairsWriter`'s.
    """
    # A crash-replayed ingest batch publishes its attacks twice: pair each once.
    pairs = transforms.attack_pairs(
        *(transforms.drop_replayed_records(attacks[stream]) for stream in STREAMS)
    )
    writer = PairsWriter(
        output_dir=output_dir,
        ledger=seed_ledger(spark, output_dir),
        kafka_options=wiring.kafka_options,
        alerts_topic=alerts_topic,
        model_versions=model_versions,
        join_watermark_s=join_watermark_s,
        on_alerts=on_alerts,
    )
    return wiring.start_batches(
        pairs, PAIRS_QUERY, writer, trigger_s=trigger_s, output_mode="append"
    )

"""The ceiling the drain benchmark compares the detector with: per stream one bare query,
Kafka → JSON parse → the same model → parquet, nothing else, in the detector's JVM."""

from __future__ import annotations

import time
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.config import Settings
from pipelines.detector.job import Detector
from pipelines.detector.layout import DetectorTopics
from pipelines.detector.streaming import kafka_options
from pipelines.schema.columns import STREAMS
from pipelines.spark.clean import typed_schema


def time_ceiling(
    spark: SparkSession, settings: Settings, topics: DetectorTopics, detector: Detector, work: Path
) -> float:
    """Records/s of the ceiling: per stream one query Kafka → JSON → model → parquet.

    Both streams run at once (as the detector's do), over everything on the topics; the
    first pass warms the code up, the second is timed.
    """
    rate = 0.0
    for attempt in range(2):
        queries = []
        started = time.monotonic()
        for stream in STREAMS:
            raw = (
                spark.readStream.format("kafka")
                .options(**kafka_options(settings))
                .option("subscribe", topics.source(stream))
                .option("startingOffsets", "earliest")
                .option("minPartitions", str(spark.sparkContext.defaultParallelism))
                .load()
            )
            records = raw.select(
                F.from_json(F.col("value").cast("string"), typed_schema(stream)).alias("r")
            ).select("r.*")
            scored = detector.models[stream].transform(records)
            queries.append(
                scored.select(*records.columns, "prediction")
                .writeStream.format("parquet")
                .option("path", str(work / f"ceiling-{attempt}-{stream}"))
                .option("checkpointLocation", str(work / f"ceiling-ck-{attempt}-{stream}"))
                .trigger(availableNow=True)
                .start()
            )
        for query in queries:
            query.awaitTermination()
        elapsed = time.monotonic() - started
        rows = sum(sum(p["numInputRows"] for p in q.recentProgress) for q in queries)
        rate = rows / elapsed if elapsed > 0 else 0.0
    return rate

"""Spark Structured Streaming reads from the embedded broker through the Kafka connector."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaProducer
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines import kafka_io
from pipelines.config import KafkaSettings

MESSAGES = 10_000


def test_ten_thousand_json_messages_round_trip(
    spark: SparkSession,
    kafka: KafkaSettings,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    topic = topic_factory("roundtrip", partitions=2)
    producer = KafkaProducer(**kafka_io.client_config(kafka, acks="all", linger_ms=5))
    for i in range(MESSAGES):
        producer.send(topic, key=str(i % 5).encode(), value=json.dumps({"i": i}).encode())
    producer.flush()
    producer.close()

    stream = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", kafka.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(F.get_json_object(F.col("value").cast("string"), "$.i").cast("int").alias("i"))
    )
    query = (
        stream.writeStream.format("memory")
        .queryName("roundtrip")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .start()
    )
    try:
        query.processAllAvailable()
        row = spark.sql(
            "SELECT count(*) AS n, count(DISTINCT i) AS d, min(i) AS lo, max(i) AS hi"
            " FROM roundtrip"
        ).first()
    finally:
        query.stop()
    assert row is not None
    assert (row.n, row.d, row.lo, row.hi) == (MESSAGES, MESSAGES, 0, MESSAGES - 1)

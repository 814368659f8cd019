"""materialized: the frame computed once, read as often as needed, released after."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.spark.frames import materialized


def stored_rdds(spark: SparkSession) -> int:
    return len(spark.sparkContext._jsc.sc().getRDDStorageInfo())


def test_the_rows_are_computed_once_and_released_after(spark: SparkSession) -> None:
    calls = spark.sparkContext.accumulator(0)

    def counted(value: int) -> int:
        calls.add(1)
        return value

    frame = spark.range(50, numPartitions=2).select(F.udf(counted, "long")(F.col("id")).alias("id"))
    before = stored_rdds(spark)
    with materialized(frame) as stored:
        assert stored.columns == ["id"]
        assert sorted(r["id"] for r in stored.collect()) == list(range(50))
        assert stored.filter(F.col("id") % 2 == 0).count() == 25
        assert stored_rdds(spark) == before + 1
    assert calls.value == 50  # three reads, one computation
    assert stored_rdds(spark) == before


def test_the_rows_are_released_when_the_block_fails(spark: SparkSession) -> None:
    before = stored_rdds(spark)
    with pytest.raises(RuntimeError, match="write failed"), materialized(spark.range(10)):
        raise RuntimeError("write failed")
    assert stored_rdds(spark) == before

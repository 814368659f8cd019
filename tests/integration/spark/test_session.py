"""The shared Spark session as the detector and training get it."""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession


def test_spark_python_workers_run_this_environments_interpreter(spark: SparkSession) -> None:
    # Not the first `python3` on PATH (the system one, without our packages).
    # Compared by prefix: the venv's python is a link to the base interpreter.
    worker = spark.sparkContext.parallelize([0], 1).map(lambda _: sys.prefix).collect()
    assert worker == [sys.prefix]

"""score_where: one pass of the model over every row, a verdict only on the scorable ones.

A model fitted here has the stages that drop or fail on a bad row: a ``StringIndexer``
that errors on an unseen value (on a string and on a numeric column) and an assembler
with ``handleInvalid="skip"``. Rows with a null, a NaN or an unseen value must come
out unchanged, with a null verdict, and the others exactly as :func:`score` scores them.
"""

from __future__ import annotations

import math

import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import DecisionTreeClassifier
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

from pipelines.errors import ModelError
from pipelines.spark.scoring import (
    ATTACK_PROBABILITY,
    PREDICTION,
    quarantine_reason,
    score,
    score_where,
    split_scorable,
)

SCHEMA = StructType(
    [
        StructField("id", IntegerType()),
        StructField("State", StringType()),
        StructField("NICE", IntegerType()),
        StructField("CPU", DoubleType()),
        StructField("note", StringType()),
    ]
)
TRAINING = [
    (i, "RSD"[i % 3], i % 2, i / 10, "x") for i in range(40)
]  # fmt: skip
ROWS = [
    (1, "R", 0, 0.5, "fine"),
    (2, "S", 1, 3.5, "fine"),
    (3, None, 1, 0.5, "null string"),
    (4, "R", None, 0.5, "null number"),
    (5, "R", 0, math.nan, "NaN"),
    (6, "Z", 0, 0.5, "unseen string"),
    (7, "D", 7, 0.5, "unseen number"),
    (8, "D", 1, 1.5, "fine"),
]


@pytest.fixture(scope="module")
def model(spark: SparkSession) -> PipelineModel:
    training = spark.createDataFrame(TRAINING, SCHEMA).withColumn(
        "label", (F.col("id") % 2).cast("double")
    )
    return Pipeline(
        stages=[
            StringIndexer(
                inputCols=["State", "NICE"], outputCols=["State_i", "NICE_i"], handleInvalid="error"
            ),
            VectorAssembler(
                inputCols=["State_i", "NICE_i", "CPU"], outputCol="features", handleInvalid="skip"
            ),
            DecisionTreeClassifier(labelCol="label", maxDepth=3),
        ]
    ).fit(training)


@pytest.fixture(scope="module")
def rows(spark: SparkSession, model: PipelineModel) -> DataFrame:
    frame = spark.createDataFrame(ROWS, SCHEMA)
    return frame.withColumn("ok", quarantine_reason(frame, model).isNull())


def test_every_row_comes_out_once_with_its_own_values(
    rows: DataFrame, model: PipelineModel
) -> None:
    # Why: the model alone drops the NaN row and fails on the unseen ones.
    assert model.transform(rows.filter(F.col("id") == 5)).count() == 0  # NaN: skipped
    with pytest.raises(Exception, match=r"(?i)unseen"):
        model.transform(rows.filter(F.col("id") == 6)).collect()
    out = score_where(rows, model, "ok")
    assert out.columns == [*rows.columns, PREDICTION, ATTACK_PROBABILITY]
    assert out.count() == len(ROWS)
    assert out.select(*rows.columns).exceptAll(rows).count() == 0
    assert rows.exceptAll(out.select(*rows.columns)).count() == 0


def test_the_verdict_is_null_exactly_where_the_row_is_not_scorable(
    rows: DataFrame, model: PipelineModel
) -> None:
    out = score_where(rows, model, "ok")
    unscored = {r["note"] for r in out.filter(F.col(PREDICTION).isNull()).collect()}
    assert unscored == {"null string", "null number", "NaN", "unseen string", "unseen number"}
    assert out.filter(F.col(ATTACK_PROBABILITY).isNull()).count() == 5


def test_scorable_rows_get_what_score_gives_them(rows: DataFrame, model: PipelineModel) -> None:
    scorable, _ = split_scorable(rows.drop("ok"), model)
    expected = score(scorable, model)
    got = score_where(rows, model, "ok").filter(F.col("ok")).drop("ok")
    assert got.count() == 3
    assert got.exceptAll(expected).count() == 0 and expected.exceptAll(got).count() == 0


def test_an_input_without_a_stand_in_is_refused_by_name(spark: SparkSession) -> None:
    from pyspark.ml.feature import VectorAssembler as Assembler
    from pyspark.ml.linalg import Vectors

    frame = spark.createDataFrame([(Vectors.dense([1.0]), 1.0, True)], ["v", "label", "ok"])
    fitted = Pipeline(
        stages=[
            Assembler(inputCols=["v"], outputCol="features"),
            DecisionTreeClassifier(labelCol="label"),
        ]
    ).fit(frame)
    with pytest.raises(ModelError, match="column v is vector"):
        score_where(frame, fitted, "ok")

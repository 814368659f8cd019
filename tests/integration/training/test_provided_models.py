"""The provided Spark 3.0 models score every cleaned row of the real sample (DATA.md).

Their assemblers use ``handleInvalid="skip"``: a row with a null feature would vanish
inside the model. Quarantining before scoring accounts for every row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.schema.columns import STREAMS, Stream
from pipelines.spark.clean import PARSE_ERROR, clean_columns, read_csv_strings
from pipelines.spark.scoring import (
    ATTACK_PROBABILITY,
    PREDICTION,
    QUARANTINE_REASON,
    load_pipeline_model,
    model_input_columns,
    score,
    split_scorable,
)

PROVIDED_INPUTS = {
    "process": [
        "POLI", "Status", "State", "CMD", "PID", "TRUN", "TSLPI", "TSLPU", "NICE", "PRI",
        "CPUNR", "EXC", "CPU",
    ],
    "memory": ["CMD", "PID", "MINFLT", "MAJFLT", "VSIZE", "VGROW", "RGROW", "MEM"],
}  # fmt: skip


def provided(shared_dir: Path, stream: Stream) -> Path:
    return shared_dir / "models" / "provided" / f"{stream}_pipeline_model"


def sample(shared_dir: Path, stream: Stream) -> Path:
    return shared_dir / "data" / "real" / f"Streaming_Linux_{stream}.sample.csv"


def data_rows(path: Path) -> int:
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


@pytest.fixture(scope="module")
def models(spark: SparkSession, shared_dir: Path) -> dict[Stream, PipelineModel]:
    del spark
    return {s: load_pipeline_model(provided(shared_dir, s)) for s in STREAMS}


@pytest.fixture(scope="module")
def cleaned(spark: SparkSession, shared_dir: Path) -> Iterator[dict[Stream, DataFrame]]:
    """Each real sample cleaned once (cached) for the whole module."""
    frames = {
        s: clean_columns(read_csv_strings(spark, sample(shared_dir, s)), s).cache() for s in STREAMS
    }
    yield frames
    for frame in frames.values():
        frame.unpersist()


@pytest.mark.parametrize("stream", STREAMS)
def test_provided_model_inputs_are_read_from_its_stages(
    models: dict[Stream, PipelineModel], stream: Stream
) -> None:
    assert model_input_columns(models[stream]) == PROVIDED_INPUTS[stream]


@pytest.mark.parametrize("stream", STREAMS)
def test_every_sample_row_is_scored_or_quarantined(
    models: dict[Stream, PipelineModel],
    cleaned: dict[Stream, DataFrame],
    shared_dir: Path,
    stream: Stream,
) -> None:
    model = models[stream]
    parse_failed = cleaned[stream].filter(F.col(PARSE_ERROR).isNotNull()).count()
    good = cleaned[stream].filter(F.col(PARSE_ERROR).isNull()).drop(PARSE_ERROR)
    scorable, quarantined = split_scorable(good, model)
    scored = score(scorable, model).cache()

    n_input = data_rows(sample(shared_dir, stream))
    n_scored, n_quarantined = scored.count(), quarantined.count()
    assert parse_failed + n_scored + n_quarantined == n_input
    assert n_scored + n_quarantined == good.count()
    assert n_scored > 0.9 * n_input
    # All original columns, unrenamed and in order, plus the two outputs.
    assert scored.columns == [*good.columns, PREDICTION, ATTACK_PROBABILITY]
    # The same records come out: identity and values unchanged.
    assert (
        scored.select(*good.columns)
        .union(quarantined.select(*good.columns))
        .exceptAll(good)
        .count()
        == 0
    )
    scored.unpersist()


def test_provided_process_model_flags_machines_by_status(
    models: dict[Stream, PipelineModel], cleaned: dict[Stream, DataFrame]
) -> None:
    """DATA.md: most rows of machines 5–8 are flagged (Status '0'); machine 4 ('-') is not."""
    model = models["process"]
    good = cleaned["process"].drop(PARSE_ERROR)
    shares = {
        row["machine"]: row["share"]
        for row in score(good, model)
        .groupBy("machine")
        .agg(F.avg(PREDICTION).alias("share"))
        .collect()
    }
    assert shares[4] < 0.1
    assert shares[5] > 0.5 and shares[7] > 0.5


def test_rows_with_missing_features_are_quarantined_not_lost(
    models: dict[Stream, PipelineModel], cleaned: dict[Stream, DataFrame]
) -> None:
    model = models["process"]
    good = cleaned["process"].drop(PARSE_ERROR)
    every_50th = F.col("sequence") % 50 == 0
    every_70th = F.col("sequence") % 70 == 0
    damaged = good.withColumn("PID", F.when(every_50th, None).otherwise(F.col("PID"))).withColumn(
        "CPU", F.when(every_70th, float("nan")).otherwise(F.col("CPU"))
    )
    # Why quarantine: the provided assembler (handleInvalid=skip) silently drops such rows.
    assert model.transform(damaged).count() < damaged.count()

    scorable, quarantined = split_scorable(damaged, model)
    n_damaged = damaged.filter(every_50th | every_70th).count()
    assert quarantined.count() == n_damaged > 0
    assert score(scorable, model).count() + n_damaged == damaged.count()
    reasons = {r[QUARANTINE_REASON] for r in quarantined.select(QUARANTINE_REASON).collect()}
    assert reasons == {"null in PID", "NaN in CPU", "null in PID; NaN in CPU"}


def test_rows_no_model_column_uses_are_left_alone(
    models: dict[Stream, PipelineModel], cleaned: dict[Stream, DataFrame]
) -> None:
    """RTPR and VSTEXT feed no provided model: a null there is no reason to quarantine."""
    unused_columns: dict[Stream, str] = {"process": "RTPR", "memory": "VSTEXT"}
    for stream, unused in unused_columns.items():
        model = models[stream]
        good = cleaned[stream].drop(PARSE_ERROR)
        blanked = good.withColumn(unused, F.lit(None).cast(good.schema[unused].dataType))
        _, quarantined = split_scorable(blanked, model)
        assert quarantined.count() == 0

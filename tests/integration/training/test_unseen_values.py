"""A model trained here scores CMD and Status values it never saw in training."""

from __future__ import annotations

import csv

from pyspark.ml.feature import StringIndexerModel

from pipelines.spark.clean import typed_schema
from pipelines.spark.scoring import (
    ATTACK_PROBABILITY,
    PREDICTION,
    load_pipeline_model,
    score,
    split_scorable,
)
from pipelines.training.card import MODEL_FOLDER_NAMES

NEW_CMD = "zq-never-seen:1"
NEW_STATUS = "QX"


def test_unseen_cmd_and_status_are_scored(trained, spark) -> None:  # type: ignore[no-untyped-def]
    with trained.data.labelled_process.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert NEW_CMD not in {r["CMD"] for r in rows}
    assert NEW_STATUS not in {r["Status"] for r in rows}

    model = load_pipeline_model(trained.out_dir / MODEL_FOLDER_NAMES["process"])
    indexer = next(s for s in model.stages if isinstance(s, StringIndexerModel))
    status_labels = indexer.labelsArray[indexer.getInputCols().index("Status")]
    assert NEW_STATUS not in status_labels

    schema = typed_schema("process", with_kafka_fields=False)
    values = {
        "sequence": 1, "machine": 9, "PID": 31337, "TRUN": 1, "TSLPI": 2, "TSLPU": 0,
        "POLI": "norm", "NICE": 0, "PRI": 120, "RTPR": 0, "CPUNR": 1, "Status": NEW_STATUS,
        "EXC": 0, "State": "R", "CPU": 0.42, "CMD": NEW_CMD,
    }  # fmt: skip
    row = spark.createDataFrame([tuple(values[f.name] for f in schema.fields)], schema)
    scorable, quarantined = split_scorable(row, model)
    assert quarantined.count() == 0
    out = score(scorable, model).collect()
    assert len(out) == 1
    result = out[0].asDict()
    assert {k: result[k] for k in values} == values
    assert result[PREDICTION] in (0.0, 1.0)
    assert 0.0 <= result[ATTACK_PROBABILITY] <= 1.0
    assert (result[ATTACK_PROBABILITY] > 0.5) == (result[PREDICTION] == 1.0)


def test_unseen_cmd_is_scored_by_the_memory_model(trained, spark) -> None:  # type: ignore[no-untyped-def]
    model = load_pipeline_model(trained.out_dir / MODEL_FOLDER_NAMES["memory"])
    schema = typed_schema("memory", with_kafka_fields=False)
    values = {
        "sequence": 1, "machine": 9, "PID": 31337, "MINFLT": 10.0, "MAJFLT": 0.0,
        "VSTEXT": 148.0, "VSIZE": 184.3, "RSIZE": 5668.0, "VGROW": 0.0, "RGROW": 0.0,
        "MEM": 0.01, "CMD": NEW_CMD,
    }  # fmt: skip
    row = spark.createDataFrame([tuple(values[f.name] for f in schema.fields)], schema)
    out = score(row, model).collect()
    assert len(out) == 1 and out[0][PREDICTION] in (0.0, 1.0)

"""A missing, corrupt or incompatible model folder fails early with its path named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pipelines.errors import ModelError
from pipelines.spark.clean import typed_schema
from pipelines.spark.scoring import check_compatible, load_pipeline_model, split_scorable

pytestmark = pytest.mark.usefixtures("spark")


def provided(shared_dir: Path, stream: str) -> Path:
    return shared_dir / "models" / "provided" / f"{stream}_pipeline_model"


def test_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(ModelError, match=f"no model folder at {missing}"):
        load_pipeline_model(missing)


def test_folder_without_metadata(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=f"{tmp_path / 'empty'} is not a Spark ML pipeline"):
        load_pipeline_model(tmp_path / "empty")


def test_folder_of_another_model_class(tmp_path: Path, shared_dir: Path) -> None:
    stage = next((provided(shared_dir, "memory") / "stages").glob("4_GBT*"))
    copy = tmp_path / "gbt_only"
    shutil.copytree(stage, copy)
    (copy / "stages").mkdir()
    with pytest.raises(ModelError, match=f"{copy} holds a .*GBTClassificationModel"):
        load_pipeline_model(copy)


def test_corrupt_stage(spark: SparkSession, tmp_path: Path, shared_dir: Path) -> None:
    del spark
    copy = tmp_path / "memory_pipeline_model"
    shutil.copytree(provided(shared_dir, "memory"), copy)
    shutil.rmtree(next((copy / "stages").glob("1_Word2Vec*")) / "data")
    with pytest.raises(ModelError, match=f"cannot load the pipeline model at {copy}"):
        load_pipeline_model(copy)


def test_garbled_metadata(spark: SparkSession, tmp_path: Path, shared_dir: Path) -> None:
    del spark
    copy = tmp_path / "process_pipeline_model"
    shutil.copytree(provided(shared_dir, "process"), copy)
    part = copy / "metadata" / "part-00000"
    meta = json.loads(part.read_text().splitlines()[0])
    meta["paramMap"]["stageUids"] = ["NoSuchStage_1"]
    part.write_text(json.dumps(meta) + "\n")
    (copy / "metadata" / ".part-00000.crc").unlink()
    with pytest.raises(ModelError, match=f"cannot load the pipeline model at {copy}"):
        load_pipeline_model(copy)


def test_data_lacking_a_model_column(spark: SparkSession, shared_dir: Path) -> None:
    model = load_pipeline_model(provided(shared_dir, "memory"))
    schema = typed_schema("memory", with_kafka_fields=False)
    frame = spark.createDataFrame([], schema).drop("VGROW")
    with pytest.raises(ModelError, match="needs column\\(s\\) VGROW"):
        split_scorable(frame, model)


def test_data_of_a_wrong_type(spark: SparkSession, shared_dir: Path) -> None:
    model = load_pipeline_model(provided(shared_dir, "memory"))
    schema = typed_schema("memory", with_kafka_fields=False)
    frame = spark.createDataFrame([], schema)
    frame = frame.withColumn("MEM", frame["MEM"].cast("string"))
    with pytest.raises(ModelError, match="column MEM is string, but the model's VectorAssembler"):
        check_compatible(frame.schema, model)

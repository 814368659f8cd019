"""The detector's two models: loaded, checked against the cleaned records, versioned.

:func:`load_models` is the last check at start (docs/detector.md, "Checked at start"):
each model is loaded and the ingest's plan is built on an empty frame, which runs every
schema check (a column the model needs that the cleaned records lack) without a job and
gives the scored schema the monitoring queries read back from the attack topics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from pipelines.detector import preflight, transforms
from pipelines.detector.ingest import ingest_records
from pipelines.detector.streaming import KAFKA_SOURCE_SCHEMA
from pipelines.errors import ModelError
from pipelines.schema.columns import STREAMS, Stream
from pipelines.spark.scoring import load_pipeline_model


def model_version(path: Path) -> str:
    """A model's version text: folder name, stage uid, save time and Spark version.

    Read from the ``metadata`` file Spark ML writes with every saved pipeline, so it
    works for any model (the project's own or a foreign one).
    """
    for part in sorted((path / "metadata").glob("part-*")):
        try:
            meta = json.loads(part.read_text(encoding="utf-8").splitlines()[0])
        except (OSError, ValueError, IndexError):
            break
        saved = datetime.fromtimestamp(int(meta.get("timestamp", 0)) / 1000, tz=UTC)
        return (
            f"{path.name} uid={meta.get('uid')} saved={saved:%Y-%m-%dT%H:%M:%SZ} "
            f"spark={meta.get('sparkVersion')}"
        )
    return path.name


def check_model_folders(paths: Mapping[Stream, Path]) -> None:
    """Fail at once, before any JVM starts, when a model folder does not exist.

    Raises:
        ModelError: naming the missing folder and what to do.
    """
    for path in paths.values():
        if not path.is_dir():
            raise ModelError(f"no model folder at {path}: {preflight.MODEL_REMEDY}")


@dataclass(frozen=True)
class DetectorModels:
    """Both streams' models and what the queries need of them (empty before loading).

    Attributes:
        models: stream → the loaded pipeline.
        scored_schemas: stream → the schema of its scored records (the attack topics').
        versions: stream → version text (:func:`model_version`), carried by every alert.
    """

    models: Mapping[Stream, PipelineModel] = field(default_factory=dict)
    scored_schemas: Mapping[Stream, StructType] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)


def load_models(spark: SparkSession, paths: Mapping[Stream, Path]) -> DetectorModels:
    """Load both models and check them against the cleaned records' schema.

    Args:
        spark: an active session (loading a model needs one).
        paths: stream → model folder.

    Raises:
        ModelError: a folder is missing (the message names it), unreadable or
            corrupt, or the model needs columns the cleaned records lack; the
            message says what to do.
    """
    check_model_folders(paths)
    scored_schemas: dict[Stream, StructType] = {}
    try:
        models = {stream: load_pipeline_model(paths[stream]) for stream in STREAMS}
        empty = spark.createDataFrame([], KAFKA_SOURCE_SCHEMA)
        for stream in STREAMS:
            # Building the plan on an empty frame runs every schema check (and gives
            # the scored schema the monitoring queries read back) without a job.
            records = ingest_records(empty, stream, models[stream])
            scored_schemas[stream] = transforms.scored_view(records).schema
    except ModelError as exc:
        raise ModelError(f"{exc}: {preflight.MODEL_REMEDY}") from exc
    return DetectorModels(
        models=models,
        scored_schemas=scored_schemas,
        versions={s: model_version(paths[s]) for s in STREAMS},
    )

"""Scoring with any compatible Spark ML ``PipelineModel`` (SPEC §5 step 6).

The detector loads a process and a memory pipeline model, which may be the project's own
(``stophacking train``) or a foreign one such as the provided Spark 3.0 models. Three rules
keep the accounting exact (cleaned = score-quarantined + scored):

1. The model's input columns are read from its stages (:func:`model_input_columns`), so no
   column list is hard-wired for a particular model.
2. Rows the model cannot score are routed to quarantine with a ``reason`` BEFORE the model
   sees them (:func:`split_scorable`): a null in any input column, a NaN in a floating input
   column (a ``VectorAssembler`` with ``handleInvalid="skip"`` silently drops both), and a
   value a ``StringIndexer`` without ``handleInvalid="keep"`` has never seen (it would drop
   or fail on it).
3. :func:`score` neither drops nor renames input columns: it returns every column it was
   given plus ``prediction`` and ``attack_probability``, and none of the model's
   intermediate columns (indices, token arrays, feature vectors).

Everything here is a DataFrame → DataFrame transform, so it works on batch and streaming
DataFrames alike; loading happens once, before any query starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pyspark.ml import PipelineModel, Transformer
from pyspark.ml.feature import StringIndexerModel, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DoubleType,
    FloatType,
    NumericType,
    StringType,
    StructType,
)

from pipelines.errors import ModelError

PREDICTION = "prediction"
"""Output column: the model's 0/1 decision (double, as Spark ML emits it)."""
ATTACK_PROBABILITY = "attack_probability"
"""Output column: probability of class 1 (attack), from the model's probability vector."""
QUARANTINE_REASON = "reason"
"""Column carried by rows the model cannot score: which input columns are at fault."""

# Params through which Spark ML stages name the columns they read and write. The plural
# form wins when set: a multi-column StringIndexer still has a default single outputCol.
_INPUT_PARAMS = (("inputCols", "inputCol"), ("featuresCol",))
_OUTPUT_PARAMS = (
    ("outputCols", "outputCol"),
    ("predictionCol",),
    ("rawPredictionCol",),
    ("probabilityCol",),
    ("leafCol",),
)


@dataclass(frozen=True)
class StageColumns:
    """The columns one (leaf) stage reads and writes."""

    stage: Transformer
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def load_pipeline_model(path: str | Path) -> PipelineModel:
    """Load a saved Spark ML ``PipelineModel`` (any Spark version PySpark can read).

    Args:
        path: the model folder (holding ``metadata/`` and ``stages/``).

    Returns:
        The loaded model.

    Raises:
        ModelError: the folder is missing, is not a pipeline model, or cannot be read; the
            message names the path. Call this before starting any streaming query.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ModelError(f"no model folder at {folder}")
    metadata = folder / "metadata"
    if not metadata.is_dir() or not (folder / "stages").is_dir():
        raise ModelError(
            f"{folder} is not a Spark ML pipeline model folder (expected metadata/ and stages/)"
        )
    kind = _metadata_class(metadata)
    if kind is not None and not kind.endswith("PipelineModel"):
        raise ModelError(f"{folder} holds a {kind}, not a PipelineModel")
    try:
        model = PipelineModel.load(str(folder))
    except Exception as exc:  # Py4J/JVM errors carry the useful line first
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load the pipeline model at {folder}: {first_line}") from exc
    if _classifier(model) is None:
        raise ModelError(f"the pipeline model at {folder} has no final prediction stage")
    return model


def _metadata_class(metadata: Path) -> str | None:
    """The ``class`` field of Spark's metadata file, or None when unreadable."""
    for part in sorted(metadata.glob("part-*")):
        try:
            first = part.read_text(encoding="utf-8").splitlines()[0]
            return str(json.loads(first)["class"])
        except (OSError, ValueError, IndexError, KeyError):
            return None
    return None


def _leaf_stages(model: PipelineModel) -> Iterator[Transformer]:
    for stage in model.stages:
        if isinstance(stage, PipelineModel):
            yield from _leaf_stages(stage)
        else:
            yield stage


def _param_columns(stage: Transformer, alternatives: Iterable[tuple[str, ...]]) -> list[str]:
    columns: list[str] = []
    for names in alternatives:
        for name in names:
            if not stage.hasParam(name):
                continue
            param = stage.getParam(name)
            # A plural param only counts when set; a singular one may rely on its default
            # (featuresCol="features", predictionCol="prediction").
            if name.endswith("Cols") and not stage.isSet(param):
                continue
            if not stage.isDefined(param):
                continue
            value = stage.getOrDefault(param)
            if not value:
                continue
            columns.extend([value] if isinstance(value, str) else list(value))
            break
    return columns


def stage_columns(model: PipelineModel) -> list[StageColumns]:
    """Each leaf stage of ``model`` (nested pipelines flattened) with its columns."""
    return [
        StageColumns(
            stage,
            tuple(_param_columns(stage, _INPUT_PARAMS)),
            tuple(_param_columns(stage, _OUTPUT_PARAMS)),
        )
        for stage in _leaf_stages(model)
    ]


def model_input_columns(model: PipelineModel) -> list[str]:
    """The columns ``model`` reads from its input: stage inputs no earlier stage produces.

    Args:
        model: a fitted pipeline model.

    Returns:
        Column names in the order the stages first use them.
    """
    produced: set[str] = set()
    inputs: list[str] = []
    for stage in stage_columns(model):
        for column in stage.inputs:
            if column not in produced and column not in inputs:
                inputs.append(column)
        produced.update(stage.outputs)
    return inputs


def model_output_columns(model: PipelineModel) -> list[str]:
    """Every column the stages of ``model`` add (intermediate and final)."""
    outputs: list[str] = []
    for stage in stage_columns(model):
        outputs.extend(c for c in stage.outputs if c not in outputs)
    return outputs


def _classifier(model: PipelineModel) -> Transformer | None:
    """The last stage that predicts (has a ``predictionCol``)."""
    last = None
    for stage in _leaf_stages(model):
        if stage.hasParam("predictionCol"):
            last = stage
    return last


def check_compatible(schema: StructType, model: PipelineModel) -> None:
    """Fail early when a DataFrame of ``schema`` cannot be fed to ``model``.

    Raises:
        ModelError: an input column is missing or of a type its stage cannot read, or an
            input column has the name of a column the model would add.
    """
    types = {field.name: field.dataType for field in schema.fields}
    missing = [c for c in model_input_columns(model) if c not in types]
    if missing:
        raise ModelError(
            f"the model needs column(s) {', '.join(missing)} that the data lacks "
            f"(data columns: {', '.join(types)})"
        )
    clashes = [c for c in model_output_columns(model) if c in types]
    if clashes:
        raise ModelError(
            f"the data already has column(s) {', '.join(clashes)} that the model would add"
        )
    produced: set[str] = set()
    for stage in stage_columns(model):
        for column in stage.inputs:
            if column in produced:
                continue
            problem = _type_problem(stage.stage, types[column])
            if problem:
                raise ModelError(
                    f"column {column} is {types[column].simpleString()}, but the model's "
                    f"{type(stage.stage).__name__} {problem}"
                )
        produced.update(stage.outputs)


def _type_problem(stage: Transformer, data_type: DataType) -> str | None:
    if isinstance(stage, VectorAssembler):
        if not isinstance(data_type, NumericType | BooleanType | VectorUDT):
            return "needs a numeric, boolean or vector column"
    elif type(stage).__name__ in {"RegexTokenizer", "Tokenizer"} and not isinstance(
        data_type, StringType
    ):
        return "needs a string column"
    return None


def quarantine_reason(df: DataFrame, model: PipelineModel) -> Column:
    """A string column naming why ``model`` cannot score a row, null when it can.

    Reasons: ``null in A, B`` (any input column), ``NaN in C`` (float/double inputs), and
    ``unseen value in D`` (inputs of a ``StringIndexer`` whose ``handleInvalid`` is
    not ``keep``, which would drop or fail on such a row).

    Args:
        df: the cleaned stream-shaped DataFrame (batch or streaming).
        model: the pipeline model about to score it.
    """
    check_compatible(df.schema, model)
    types = {field.name: field.dataType for field in df.schema.fields}
    inputs = model_input_columns(model)
    nulls = [F.when(F.col(c).isNull(), F.lit(c)) for c in inputs]
    nans = [
        F.when(F.isnan(F.col(c)), F.lit(c))
        for c in inputs
        if isinstance(types[c], DoubleType | FloatType)
    ]
    unseen = list(_unseen_value_checks(model, types))
    labelled: list[Column] = []
    for title, checks in (("null in ", nulls), ("NaN in ", nans), ("unseen value in ", unseen)):
        if not checks:
            continue
        named = F.concat_ws(", ", *checks)
        labelled.append(F.when(named != "", F.concat(F.lit(title), named)))
    combined = F.concat_ws("; ", *labelled)
    return F.when(combined != "", combined)


def _unseen_value_checks(model: PipelineModel, types: dict[str, DataType]) -> Iterator[Column]:
    for stage in stage_columns(model):
        indexer = stage.stage
        if not isinstance(indexer, StringIndexerModel):
            continue
        if indexer.getOrDefault("handleInvalid") == "keep":
            continue
        for column, labels in zip(stage.inputs, indexer.labelsArray, strict=False):
            if column not in types:
                continue
            # A StringIndexer reads any other type as its string form ("7", "0.5").
            text = F.col(column)
            if not isinstance(types[column], StringType):
                text = text.cast(StringType())
            yield F.when(~text.isin(list(labels)), F.lit(column))


def split_scorable(df: DataFrame, model: PipelineModel) -> tuple[DataFrame, DataFrame]:
    """Split ``df`` into rows ``model`` can score and rows it cannot.

    Args:
        df: the cleaned stream-shaped DataFrame (batch or streaming).
        model: the pipeline model about to score it.

    Returns:
        ``(scorable, quarantined)``: ``scorable`` has exactly the columns of ``df``;
        ``quarantined`` has them plus ``reason`` (e.g. ``"null in PID, CPU"``). Every row of
        ``df`` is in exactly one of the two.

    Raises:
        ModelError: ``df`` lacks a column the model needs (see :func:`check_compatible`).
    """
    if QUARANTINE_REASON in df.columns:
        raise ModelError(f"the data already has a column named {QUARANTINE_REASON!r}")
    flagged = df.withColumn(QUARANTINE_REASON, quarantine_reason(df, model))
    scorable = flagged.filter(F.col(QUARANTINE_REASON).isNull()).drop(QUARANTINE_REASON)
    quarantined = flagged.filter(F.col(QUARANTINE_REASON).isNotNull())
    return scorable, quarantined


def score(df: DataFrame, model: PipelineModel) -> DataFrame:
    """Apply ``model`` to ``df`` keeping every input column, unrenamed and in order.

    Call it on the ``scorable`` part of :func:`split_scorable`: rows with a null feature
    would otherwise be dropped by an assembler with ``handleInvalid="skip"``.

    Args:
        df: cleaned, scorable rows (batch or streaming).
        model: a fitted pipeline model ending in a classifier.

    Returns:
        The columns of ``df`` plus ``prediction`` (double, 0.0 or 1.0) and
        ``attack_probability`` (double, probability of class 1; equal to the prediction
        for a classifier without probabilities). The model's intermediate columns are left
        out.

    Raises:
        ModelError: the data does not fit the model (see :func:`check_compatible`).
    """
    check_compatible(df.schema, model)
    prediction, probability = _verdict(model)
    return model.transform(df).select(
        *[F.col(c) for c in df.columns],
        prediction.alias(PREDICTION),
        probability.alias(ATTACK_PROBABILITY),
    )


def _verdict(model: PipelineModel) -> tuple[Column, Column]:
    """The model's output as (prediction, probability of class 1), both doubles; the
    probability is the prediction for a classifier without probabilities.

    Raises:
        ModelError: the model has no final prediction stage.
    """
    classifier = _classifier(model)
    if classifier is None:
        raise ModelError("the pipeline model has no final prediction stage")
    prediction = F.col(classifier.getOrDefault("predictionCol")).cast("double")
    if classifier.hasParam("probabilityCol") and classifier.getOrDefault("probabilityCol"):
        return prediction, vector_to_array(F.col(classifier.getOrDefault("probabilityCol")))[1]
    return prediction, prediction


def stand_in_values(schema: StructType, model: PipelineModel) -> dict[str, Column]:
    """For each input column of ``model``, a value it can always score.

    A ``StringIndexer`` input gets the indexer's first label (a value it has seen); any
    other input gets ``0``, ``""`` or ``false`` by type. Used by
    :func:`score_where` in place of the values of rows that are not scored.

    Raises:
        ModelError: an input column is of a type without a stand-in (neither numeric,
            string nor boolean); the message names it.
    """
    types = {field.name: field.dataType for field in schema.fields}
    labels: dict[str, str] = {}
    for stage in stage_columns(model):
        if isinstance(stage.stage, StringIndexerModel):
            for column, column_labels in zip(stage.inputs, stage.stage.labelsArray, strict=False):
                if column_labels:
                    labels.setdefault(column, column_labels[0])
    values: dict[str, Column] = {}
    for column in model_input_columns(model):
        data_type = types[column]
        if column in labels and isinstance(data_type, StringType):
            value = F.lit(labels[column])
        elif column in labels and _is_number(labels[column]):
            value = F.lit(float(labels[column]))  # a numeric column's label: "3.0"
        elif isinstance(data_type, NumericType):
            value = F.lit(0)
        elif isinstance(data_type, StringType):
            value = F.lit("")
        elif isinstance(data_type, BooleanType):
            value = F.lit(False)
        else:
            raise ModelError(
                f"column {column} is {data_type.simpleString()}: the detector has no "
                "stand-in value for it (numeric, string and boolean inputs only)"
            )
        values[column] = value.cast(data_type)
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def score_where(df: DataFrame, model: PipelineModel, scorable: str) -> DataFrame:
    """Score the rows of ``df`` whose boolean column ``scorable`` is true, in one pass.

    Every row goes through ``model``, but a row that is not scorable does so with
    :func:`stand_in_values` in place of its inputs, so no stage drops or fails on it,
    and gets a null ``prediction`` and ``attack_probability``. Every column of ``df``
    keeps its own values. One plan for all rows lets a streaming query score inside
    its own plan (built once), instead of scoring a filtered copy of each micro-batch.

    Args:
        df: cleaned rows (batch or streaming), with a boolean column ``scorable``;
            true only on rows :func:`quarantine_reason` finds no fault with.
        model: a fitted pipeline model ending in a classifier; it must keep every row
            it is given (as every Spark ML feature stage and model does when its
            inputs are valid; a ``SQLTransformer`` with a ``WHERE`` would not).
        scorable: the name of the boolean column.

    Returns:
        The columns of ``df`` plus ``prediction`` and ``attack_probability`` (see
        :func:`score`), null where ``scorable`` is not true.

    Raises:
        ModelError: the data does not fit the model (see :func:`check_compatible`
            and :func:`stand_in_values`).
    """
    check_compatible(df.schema, model)
    prediction, probability = _verdict(model)
    stand_ins = stand_in_values(df.schema, model)
    # The model reads its inputs by name: they hold the stand-ins while the row's own
    # values wait under hidden names, restored after the model.
    hidden = {column: f"__scored_input_{i}" for i, column in enumerate(stand_ins)}
    is_scorable = F.coalesce(F.col(scorable), F.lit(False))
    prepared = df.withColumns({hidden[c]: F.col(c) for c in stand_ins}).withColumns(
        {c: F.when(is_scorable, F.col(c)).otherwise(value) for c, value in stand_ins.items()}
    )
    return model.transform(prepared).select(
        *[F.col(hidden.get(c, c)).alias(c) for c in df.columns],
        F.when(is_scorable, prediction).alias(PREDICTION),
        F.when(is_scorable, probability).alias(ATTACK_PROBABILITY),
    )

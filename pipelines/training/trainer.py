"""Train, compare, evaluate and save the process and memory models (SPEC §6, §5 step 6).

One run per stream:

1. read the labelled files (TON_IoT layout, SPEC §2.2) as strings and clean them with the
   schema module; rows it rejects are counted and left out, as are rows with a missing
   feature (the detector quarantines those before scoring too);
2. split the rows by a seeded hash of their feature values into train (70 %),
   validation (15 %) and test (15 %): identical rows always land in the same split, so
   the test measures rows the model has not seen verbatim, and the split does not depend
   on Spark's partitioning;
3. fit every model family on train and keep the one with the best validation AUC;
4. score the test split with :func:`pipelines.spark.scoring.score` (exactly what the
   detector runs) and compute AUC, precision, recall, F1, the confusion matrix, recall per
   attack type and the ROC/PR curves;
5. save the ``PipelineModel``, its card and the curve pictures into a temporary folder
   and swap it into place, so a reader never sees a half-written model.
"""

from __future__ import annotations

import csv
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.config import Settings
from pipelines.data.csvfile import layout_of_header
from pipelines.errors import ConfigError, ModelError, ParseError
from pipelines.schema.columns import (
    ATTACK_TYPE,
    ATTACK_TYPES,
    LABEL,
    NOT_FEATURES,
    STREAMS,
    Stream,
)
from pipelines.spark import scoring
from pipelines.spark.clean import PARSE_ERROR, clean_columns, read_csv_strings
from pipelines.training.card import (
    PR_PNG,
    ROC_PNG,
    FamilyResult,
    Features,
    ModelCard,
    TrainingData,
    default_model_path,
    describe_files,
    missing_models,
    write_card,
)
from pipelines.training.curves import precision_recall_curve, roc_curve, save_curve_png
from pipelines.training.metrics import Predictions, compute_metrics
from pipelines.training.pipeline import (
    CMD_NGRAM_HASH_FEATURES,
    DEFAULT_FAMILIES,
    FAMILIES,
    FEATURES,
    feature_spec,
    feature_stages,
)

DEFAULT_SEED: Final = 42
SPLIT_FRACTIONS: Final = (0.70, 0.15, 0.15)
"""Train, validation, test shares of the rows."""
SPLIT_BUCKETS: Final = 1000
DECISION_THRESHOLD: Final = 0.5
"""Spark ML classifiers predict attack when P(attack) > 0.5; the card reports that point."""
SPLIT_COLUMN: Final = "_split"

ProgressFn = Callable[[str, float], None]
"""``progress(message, fraction_done)``: fraction of the whole run, 0.0 to 1.0."""


def _no_progress(message: str, fraction: float) -> None:
    del message, fraction


@dataclass(frozen=True)
class LabelledRows:
    """Cleaned labelled rows of one stream and what was left out on the way."""

    rows: DataFrame
    rows_read: int
    rows_parse_errors: int
    rows_missing_features: int
    cached: DataFrame
    """The cached cleaned rows behind ``rows``: unpersist when done."""


def check_labelled_file(path: Path, stream: Stream) -> None:
    """Fail early, naming the file, when ``path`` is not a labelled ``stream`` file.

    Raises:
        ParseError: missing file, or a header that is not the labelled layout of ``stream``.
    """
    if not path.is_file():
        raise ParseError("no such file", source=str(path))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise ParseError("empty file: no header", source=str(path), line=1)
    layout_of_header(header, stream=stream, labelled=True, source=str(path))


def read_labelled(spark: SparkSession, stream: Stream, files: Sequence[Path]) -> LabelledRows:
    """Read and clean labelled files; keep rows with every feature present.

    Args:
        spark: the session.
        stream: ``"process"`` or ``"memory"``.
        files: labelled CSVs in the TON_IoT layout (``attack`` or ``label``).

    Returns:
        The usable rows (typed, without ``parse_error``) and the counts left out.
    """
    if not files:
        raise ParseError(f"no labelled {stream} file given")
    # Small files read as one partition; spreading the raw rows first lets every local
    # core run the (regex-heavy) cleaning.
    partitions = max(2, spark.sparkContext.defaultParallelism)
    cleaned: DataFrame | None = None
    for path in files:
        check_labelled_file(path, stream)
        raw = read_csv_strings(spark, path).repartition(partitions)
        frame = clean_columns(raw, stream, labelled=True, source=str(path))
        cleaned = frame if cleaned is None else cleaned.unionByName(frame)
    assert cleaned is not None
    features = list(feature_spec(stream).columns)
    # Cached before any filter: Spark would otherwise push the filters into the cleaning
    # expressions and evaluate them again for every count.
    cleaned = cleaned.select(*features, LABEL, ATTACK_TYPE, PARSE_ERROR).cache()
    complete = F.lit(True)
    for column in features:
        complete = complete & F.col(column).isNotNull()
    counts = cleaned.agg(
        F.count(F.lit(1)).alias("read"),
        F.count(F.col(PARSE_ERROR)).alias("errors"),
        F.sum(F.when(F.col(PARSE_ERROR).isNull() & ~complete, 1).otherwise(0)).alias("missing"),
    ).first()
    assert counts is not None
    return LabelledRows(
        rows=cleaned.filter(F.col(PARSE_ERROR).isNull() & complete).drop(PARSE_ERROR),
        rows_read=int(counts["read"]),
        rows_parse_errors=int(counts["errors"]),
        rows_missing_features=int(counts["missing"] or 0),
        cached=cleaned,
    )


def split_rows(
    df: DataFrame, stream: Stream, *, seed: int
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Split ``df`` into train, validation and test by a seeded hash of the features.

    Deterministic for a seed whatever the partitioning; identical feature rows share a
    split (no verbatim leakage from train into test).

    Args:
        df: cleaned labelled rows.
        stream: which feature columns to hash.
        seed: the split seed.
    """
    bucket = F.pmod(F.xxhash64(F.lit(seed), *feature_spec(stream).columns), F.lit(SPLIT_BUCKETS))
    train_end = round(SPLIT_FRACTIONS[0] * SPLIT_BUCKETS)
    validation_end = round((SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]) * SPLIT_BUCKETS)
    tagged = df.withColumn(
        SPLIT_COLUMN,
        F.when(bucket < train_end, "train")
        .when(bucket < validation_end, "validation")
        .otherwise("test"),
    )
    return tuple(  # type: ignore[return-value]
        tagged.filter(F.col(SPLIT_COLUMN) == name).drop(SPLIT_COLUMN)
        for name in ("train", "validation", "test")
    )


def collect_predictions(model: PipelineModel, df: DataFrame) -> Predictions:
    """Score labelled rows with the detector's scoring function and collect the outcome."""
    scored = scoring.score(df, model).select(
        LABEL, ATTACK_TYPE, scoring.PREDICTION, scoring.ATTACK_PROBABILITY
    )
    frame: Any = scored.toPandas()
    return Predictions(
        labels=frame[LABEL].to_numpy(dtype=np.int64),
        types=frame[ATTACK_TYPE].astype(str).to_numpy(),
        predictions=frame[scoring.PREDICTION].to_numpy(dtype=np.float64).round().astype(np.int64),
        scores=frame[scoring.ATTACK_PROBABILITY].to_numpy(dtype=np.float64),
    )


def _save_atomically(
    model: PipelineModel, target: Path, write_extras: Callable[[Path], None]
) -> None:
    """Save into a hidden sibling folder, add the card, then swap it into ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        model.write().overwrite().save(str(staging))
        write_extras(staging)
        if target.exists():
            retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            target.rename(retired)
            staging.rename(target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def train_stream(
    spark: SparkSession,
    stream: Stream,
    files: Sequence[Path],
    target: Path,
    *,
    seed: int = DEFAULT_SEED,
    families: Sequence[str] = DEFAULT_FAMILIES,
    progress: ProgressFn = _no_progress,
) -> ModelCard:
    """Train ``stream``'s model from labelled ``files`` and save it with its card.

    Args:
        spark: the session.
        stream: ``"process"`` or ``"memory"``.
        files: labelled CSVs (TON_IoT layout).
        target: the model folder to (re)place, e.g. ``models/process_pipeline_model``.
        seed: seed of the split and of the learners.
        families: model families to compare (keys of
            :data:`pipelines.training.pipeline.FAMILIES`); the best validation AUC wins.
        progress: called with a message and the fraction done of this stream (0–1).

    Returns:
        The model card that was written.

    Raises:
        ParseError: a file is missing or not a labelled ``stream`` file.
        ModelError: too few rows of one class to train or evaluate.
    """
    started = time.perf_counter()
    paths = [Path(f) for f in files]
    progress(f"{stream}: reading {len(paths)} labelled file(s)", 0.0)
    described_files, files_hash = describe_files(paths)
    labelled = read_labelled(spark, stream, paths)
    train, validation, test = (
        part.cache() for part in split_rows(labelled.rows, stream, seed=seed)
    )
    counts = {
        name: (part.count(), part.filter(F.col(LABEL) == 1).count())
        for name, part in (("train", train), ("validation", validation), ("test", test))
    }
    labelled.cached.unpersist()
    for name, (total, attacks) in counts.items():
        if attacks == 0 or attacks == total:
            raise ModelError(
                f"{stream}: the {name} split has {attacks} attack rows of {total}: need both "
                f"classes (files: {', '.join(str(p) for p in paths)})"
            )
    progress(
        f"{stream}: {labelled.rows_read} rows read, train {counts['train'][0]}, "
        f"validation {counts['validation'][0]}, test {counts['test'][0]}",
        0.1,
    )

    # The feature stages do not depend on the family: fit them once, featurize the
    # training rows once, and give every family the same cached vectors.
    features_model = Pipeline(stages=feature_stages(feature_spec(stream))).fit(train)
    train_vectors = features_model.transform(train).select(FEATURES, LABEL).cache()
    comparison: list[FamilyResult] = []
    fitted: dict[str, PipelineModel] = {}
    for index, family in enumerate(families):
        progress(f"{stream}: fitting {family}", 0.1 + 0.7 * index / len(families))
        fit_started = time.perf_counter()
        classifier = Pipeline(stages=FAMILIES[family](seed)).fit(train_vectors)
        model = PipelineModel(stages=[*features_model.stages, *classifier.stages])
        fit_seconds = time.perf_counter() - fit_started
        validated = collect_predictions(model, validation)
        auc = roc_curve(validated.labels, validated.scores).area()
        fitted[family] = model
        comparison.append(
            FamilyResult(family=family, validation_auc=auc, fit_seconds=round(fit_seconds, 2))
        )
        progress(
            f"{stream}: {family} validation AUC {auc:.3f} ({fit_seconds:.1f} s)",
            0.1 + 0.7 * (index + 1) / len(families),
        )
    train_vectors.unpersist()
    best = max(comparison, key=lambda r: r.validation_auc)
    model = fitted[best.family]

    progress(f"{stream}: evaluating {best.family} on the test split", 0.85)
    held_out = collect_predictions(model, test)
    metrics = compute_metrics(held_out, ATTACK_TYPES[stream])
    spec = feature_spec(stream)
    created = datetime.now(UTC)
    card = ModelCard(
        stream=stream,
        model_version=f"{stream}-{best.family}-{created:%Y%m%dT%H%M%SZ}-{files_hash[:8]}",
        created_at=created.isoformat(timespec="seconds"),
        spark_version=spark.version,
        family=best.family,
        seed=seed,
        selection="highest validation AUC (ROC)",
        comparison=comparison,
        features=Features(
            numeric=list(spec.numeric),
            categorical=list(spec.categorical),
            text=spec.text,
            text_encoding=(
                "lower-cased characters → character n-grams "
                + ", ".join(f"n={n} hashed to {k}" for n, k in CMD_NGRAM_HASH_FEATURES.items())
                + " binary features (unseen names still map to known n-grams)"
            ),
            excluded=sorted(NOT_FEATURES),
        ),
        input_columns=scoring.model_input_columns(model),
        training_data=TrainingData(
            files=described_files,
            sha256=files_hash,
            rows_read=labelled.rows_read,
            rows_parse_errors=labelled.rows_parse_errors,
            rows_missing_features=labelled.rows_missing_features,
            rows_used=sum(total for total, _ in counts.values()),
            attack_rows=sum(attacks for _, attacks in counts.values()),
            split_method=(
                f"xxhash64(seed {seed}, feature columns) mod {SPLIT_BUCKETS}: "
                + " / ".join(f"{fraction:.0%}" for fraction in SPLIT_FRACTIONS)
                + " (train / validation / test)"
            ),
            train_rows=counts["train"][0],
            validation_rows=counts["validation"][0],
            test_rows=counts["test"][0],
        ),
        test_metrics=metrics,
        training_seconds=round(time.perf_counter() - started, 2),
    )

    def write_extras(folder: Path) -> None:
        title = f"{stream} model ({best.family}), test split"
        save_curve_png(
            roc_curve(held_out.labels, held_out.scores),
            folder / ROC_PNG,
            title=f"ROC: {title}",
            x_label="false-positive rate",
            y_label="true-positive rate",
            diagonal=True,
        )
        save_curve_png(
            precision_recall_curve(held_out.labels, held_out.scores),
            folder / PR_PNG,
            title=f"PR: {title}",
            x_label="recall",
            y_label="precision",
        )
        write_card(folder, card)

    progress(f"{stream}: saving to {target}", 0.95)
    _save_atomically(model, target, write_extras)
    for part in (train, validation, test):
        part.unpersist()
    progress(f"{stream}: test AUC {metrics.auc_roc:.3f}, saved {target}", 1.0)
    return card


@dataclass(frozen=True)
class TrainingRun:
    """Outcome of :func:`train_models`."""

    cards: dict[Stream, ModelCard]
    paths: dict[Stream, Path]
    seconds: float


def train_models(
    settings: Settings,
    files: Mapping[Stream, Sequence[Path]],
    *,
    out_dir: Path | None = None,
    seed: int = DEFAULT_SEED,
    families: Sequence[str] = DEFAULT_FAMILIES,
    spark: SparkSession | None = None,
    progress: ProgressFn = _no_progress,
) -> TrainingRun:
    """Train the models of the given streams and save them under ``out_dir``.

    Args:
        settings: the settings tree (Spark session, default ``models_dir``).
        files: labelled files per stream, e.g. ``{"process": [p], "memory": [m]}``.
        out_dir: folder for ``process_pipeline_model`` / ``memory_pipeline_model``
            (default ``settings.models_dir``, where the detector looks).
        seed: split and learner seed.
        families: model families to compare.
        spark: an existing session (default: the process-wide one from
            :func:`pipelines.spark.session.build_spark_session`).
        progress: called with a message and the fraction done of the whole run (0–1).
    """
    started = time.perf_counter()
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ConfigError(
            f"unknown model famil(ies) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(FAMILIES)}"
        )
    for stream, paths in files.items():
        for path in paths:
            check_labelled_file(Path(path), stream)
    if spark is None:
        from pipelines.spark.session import build_spark_session

        progress("starting Spark", 0.0)
        spark = build_spark_session(settings, app_name=f"{settings.spark.app_name}-training")
    folder = out_dir or settings.models_dir
    streams = [s for s in STREAMS if s in files]
    targets = {stream: default_model_path(folder, stream) for stream in streams}
    fractions = dict.fromkeys(streams, 0.0)
    lock = threading.Lock()

    def reporter(stream: Stream) -> ProgressFn:
        def report(message: str, fraction: float) -> None:
            with lock:
                fractions[stream] = fraction
                progress(message, sum(fractions.values()) / len(streams))

        return report

    # The streams train concurrently: Spark ML fitting on small data is dominated by
    # per-job latency on the driver, so two threads keep both local cores busy. Spark
    # schedules the jobs of both threads on the one session.
    with ThreadPoolExecutor(max_workers=len(streams), thread_name_prefix="training") as pool:
        futures = {
            stream: pool.submit(
                train_stream,
                spark,
                stream,
                [Path(p) for p in files[stream]],
                targets[stream],
                seed=seed,
                families=families,
                progress=reporter(stream),
            )
            for stream in streams
        }
        cards = {stream: future.result() for stream, future in futures.items()}
    return TrainingRun(cards=cards, paths=targets, seconds=time.perf_counter() - started)


def ensure_models(
    settings: Settings,
    *,
    progress: ProgressFn = _no_progress,
    spark: SparkSession | None = None,
    seed: int = DEFAULT_SEED,
) -> dict[Stream, Path]:
    """Make sure the detector's default models exist; train them on the demo data if not.

    Used by setup and the workbench's first start. Only missing models are trained.

    Args:
        settings: ``models_dir`` is checked and written; the demo data lives under
            ``settings.data_dir``.
        progress: called with a message and the fraction done (0–1).
        spark: an existing session, else the process-wide one.
        seed: training seed.

    Returns:
        The default model folder per stream.
    """
    missing = missing_models(settings.models_dir)
    paths = {s: default_model_path(settings.models_dir, s) for s in STREAMS}
    if not missing:
        progress("models present", 1.0)
        return paths
    from pipelines.data.demo_set import demo_training_files

    progress("preparing the generated demo data", 0.0)
    train_models(
        settings,
        demo_training_files(settings, missing),
        seed=seed,
        spark=spark,
        progress=progress,
    )
    return paths


__all__ = [
    "DEFAULT_SEED",
    "LabelledRows",
    "ProgressFn",
    "TrainingRun",
    "collect_predictions",
    "ensure_models",
    "missing_models",
    "read_labelled",
    "split_rows",
    "train_models",
    "train_stream",
]

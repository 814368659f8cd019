"""``stophacking train`` writes both models with cards whose numbers are real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import functions as F

from pipelines.schema.columns import LABEL, NOT_FEATURES, STREAMS, Stream
from pipelines.spark.scoring import (
    ATTACK_PROBABILITY,
    PREDICTION,
    load_pipeline_model,
    model_input_columns,
    score,
)
from pipelines.training.card import CARD_MARKDOWN, MODEL_FOLDER_NAMES, PR_PNG, ROC_PNG, read_card
from pipelines.training.trainer import ensure_models, missing_models, read_labelled, split_rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_train_writes_both_models_cards_and_curves(trained) -> None:  # type: ignore[no-untyped-def]
    assert trained.exit_code == 0, trained.output
    for stream in STREAMS:
        folder = trained.out_dir / MODEL_FOLDER_NAMES[stream]
        assert (folder / "metadata").is_dir() and (folder / "stages").is_dir()
        card = read_card(folder)
        assert card is not None and card.stream == stream
        assert {r.family for r in card.comparison} == {"gbt", "random_forest"}
        best = max(card.comparison, key=lambda r: r.validation_auc)
        assert card.family == best.family
        assert (folder / ROC_PNG).read_bytes()[:8] == PNG_MAGIC
        assert (folder / PR_PNG).read_bytes()[:8] == PNG_MAGIC
        markdown = (folder / CARD_MARKDOWN).read_text()
        assert f"| {card.test_metrics.auc_roc:.3f} |" in markdown
    # Nothing half-written is left beside the models.
    assert sorted(p.name for p in trained.out_dir.iterdir()) == sorted(MODEL_FOLDER_NAMES.values())


@pytest.mark.parametrize("stream", STREAMS)
def test_card_auc_is_what_spark_measures_on_the_held_out_split(  # type: ignore[no-untyped-def]
    trained, spark, stream: Stream
) -> None:
    folder = trained.out_dir / MODEL_FOLDER_NAMES[stream]
    card = read_card(folder)
    assert card is not None
    model = load_pipeline_model(folder)
    labelled = read_labelled(spark, stream, [trained.data.labelled(stream)])
    _, _, test = split_rows(labelled.rows, stream, seed=trained.seed)
    scored = score(test, model)
    # Spark's own evaluator, not the card's numpy code, on the reloaded model.
    evaluator = BinaryClassificationEvaluator(
        rawPredictionCol=ATTACK_PROBABILITY, labelCol=LABEL, metricName="areaUnderROC"
    )
    measured = evaluator.evaluate(scored)
    assert card.test_metrics.auc_roc == pytest.approx(measured, abs=1e-6)
    assert 0.6 < card.test_metrics.auc_roc <= 1.0
    assert card.test_metrics.rows == card.training_data.test_rows == scored.count()
    confusion = card.test_metrics.confusion_matrix
    true_positives = scored.filter((F.col(LABEL) == 1) & (F.col(PREDICTION) == 1)).count()
    assert confusion.true_positives == true_positives
    # The CLI printed the same number.
    printed = re.search(rf"^{stream}\s+\S+\s+(\d\.\d{{3}})", trained.output, re.MULTILINE)
    assert printed is not None and float(printed.group(1)) == round(card.test_metrics.auc_roc, 3)
    labelled.cached.unpersist()


@pytest.mark.parametrize("stream", STREAMS)
def test_card_describes_inputs_and_training_data(trained, stream: Stream) -> None:  # type: ignore[no-untyped-def]
    folder = trained.out_dir / MODEL_FOLDER_NAMES[stream]
    card = read_card(folder)
    assert card is not None
    assert card.input_columns == model_input_columns(load_pipeline_model(folder))
    assert not set(card.input_columns) & NOT_FEATURES
    data = card.training_data
    source = trained.data.labelled(stream)
    data_rows = sum(1 for _ in source.open()) - 1
    assert data.rows_read == data_rows
    assert data.rows_used == data.rows_read - data.rows_parse_errors - data.rows_missing_features
    assert data.train_rows + data.validation_rows + data.test_rows == data.rows_used
    assert data.files[0].path == str(source) and len(data.sha256) == 64
    assert card.seed == trained.seed
    assert card.spark_version.startswith("4.")


def test_ensure_models_keeps_present_models(trained, settings) -> None:  # type: ignore[no-untyped-def]
    from pipelines.config import replace

    messages: list[str] = []
    with_models = replace(settings, {"models_dir": str(trained.out_dir)})
    before = {p: p.stat().st_mtime_ns for p in trained.out_dir.rglob("model_card.json")}
    paths = ensure_models(with_models, progress=lambda message, _f: messages.append(message))
    assert paths == {s: trained.out_dir / MODEL_FOLDER_NAMES[s] for s in STREAMS}
    assert messages == ["models present"]
    assert {p: p.stat().st_mtime_ns for p in trained.out_dir.rglob("model_card.json")} == before


def test_missing_models_are_named(tmp_path: Path, trained) -> None:  # type: ignore[no-untyped-def]
    assert missing_models(tmp_path) == ["process", "memory"]
    assert missing_models(trained.out_dir) == []

"""Model cards and model-folder descriptions (no Spark)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.training.card import (
    CARD_JSON,
    ConfusionMatrix,
    FamilyResult,
    Features,
    InputFile,
    Metrics,
    ModelCard,
    TrainingData,
    TypeRecall,
    card_markdown,
    describe_files,
    describe_model_folder,
    read_card,
    write_card,
)


def make_card() -> ModelCard:
    return ModelCard(
        stream="process",
        model_version="process-gbt-20261128T000000Z-abcdef12",
        created_at="2026-11-28T00:00:00+00:00",
        spark_version="4.2.0",
        family="gbt",
        seed=42,
        selection="highest validation AUC (ROC)",
        comparison=[
            FamilyResult(family="gbt", validation_auc=0.91, fit_seconds=12.0),
            FamilyResult(family="random_forest", validation_auc=0.88, fit_seconds=4.0),
        ],
        features=Features(
            numeric=["PID", "CPU"],
            categorical=["Status"],
            text="CMD",
            text_encoding="character n-grams",
            excluded=["machine", "sequence", "ts"],
        ),
        input_columns=["Status", "CMD", "PID", "CPU"],
        training_data=TrainingData(
            files=[InputFile(path="/x/p.csv", bytes=10, sha256="0" * 64)],
            sha256="1" * 64,
            rows_read=100,
            rows_parse_errors=2,
            rows_missing_features=3,
            rows_used=95,
            attack_rows=15,
            split_method="hash",
            train_rows=66,
            validation_rows=14,
            test_rows=15,
        ),
        test_metrics=Metrics(
            rows=15,
            auc_roc=0.875,
            auc_pr=0.7,
            accuracy=0.8,
            precision=0.5,
            recall=2 / 3,
            f1=4 / 7,
            confusion_matrix=ConfusionMatrix(
                true_negatives=10, false_positives=2, false_negatives=1, true_positives=2
            ),
            recall_by_type={"ddos": TypeRecall(rows=3, detected=2, recall=2 / 3)},
        ),
        training_seconds=20.5,
    )


def spark_folder(path: Path, kind: str = "org.apache.spark.ml.PipelineModel") -> Path:
    (path / "metadata").mkdir(parents=True)
    meta = {"class": kind, "sparkVersion": "3.0.0", "uid": "PipelineModel_1"}
    (path / "metadata" / "part-00000").write_text(json.dumps(meta) + "\n")
    for name in ("10_GBTClassifier_c", "0_StringIndexer_a", "2_VectorAssembler_b"):
        (path / "stages" / name).mkdir(parents=True)
    return path


def test_card_round_trips_through_json(tmp_path: Path) -> None:
    card = make_card()
    write_card(tmp_path, card)
    assert read_card(tmp_path) == card
    assert json.loads((tmp_path / CARD_JSON).read_text())["test_metrics"]["auc_roc"] == 0.875


def test_markdown_shows_metrics_confusion_matrix_and_comparison() -> None:
    text = card_markdown(make_card())
    assert "| 0.875 | 0.700 | 0.800 | 0.500 | 0.667 | 0.571 | 15 |" in text
    assert "| **normal** | 10 | 2 |" in text
    assert "| **attack** | 1 | 2 |" in text
    assert "| gbt (chosen) | 0.910 |" in text
    assert "| random_forest | 0.880 |" in text
    assert "| ddos | 3 | 2 | 0.667 |" in text


def test_foreign_model_folder_is_described_from_its_metadata(tmp_path: Path) -> None:
    info = describe_model_folder(spark_folder(tmp_path / "m"))
    assert info.is_pipeline_model and info.problem is None
    assert info.spark_version == "3.0.0"
    assert info.stages == ["0_StringIndexer_a", "2_VectorAssembler_b", "10_GBTClassifier_c"]
    assert info.card is None
    assert info.version == "PipelineModel_1"


def test_own_model_folder_version_comes_from_its_card(tmp_path: Path) -> None:
    folder = spark_folder(tmp_path / "m")
    write_card(folder, make_card())
    assert describe_model_folder(folder).version == "process-gbt-20261128T000000Z-abcdef12"


@pytest.mark.parametrize(
    ("prepare", "problem"),
    [
        (lambda p: None, "no such folder"),
        (lambda p: p.mkdir(), "no readable Spark ML metadata"),
        (lambda p: spark_folder(p, kind="org.apache.spark.ml.classification.GBTModel"), "not a"),
    ],
)
def test_unusable_folders_say_why(tmp_path: Path, prepare, problem: str) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "m"
    prepare(folder)
    info = describe_model_folder(folder)
    assert not info.is_pipeline_model
    assert info.problem is not None and problem in info.problem


def test_invalid_card_is_reported_with_its_path(tmp_path: Path) -> None:
    folder = spark_folder(tmp_path / "m")
    (folder / CARD_JSON).write_text("{}")
    info = describe_model_folder(folder)
    assert info.problem is not None and str(folder / CARD_JSON) in info.problem


def test_file_hash_depends_on_content_and_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x\n1\n")
    b.write_text("x\n2\n")
    files, both = describe_files([a, b])
    assert files[0].bytes == 4
    assert files[0].sha256 != files[1].sha256
    assert describe_files([b, a])[1] != both
    b.write_text("x\n3\n")
    assert describe_files([a, b])[1] != both

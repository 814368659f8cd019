"""ROC and precision–recall curves from labels and scores (pure numpy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.training.curves import precision_recall_curve, roc_curve, save_curve_png


def mann_whitney_auc(labels: list[int], scores: list[float]) -> float:
    """P(score of a random attack > score of a random normal row), ties counting half."""
    positives = [s for y, s in zip(labels, scores, strict=True) if y == 1]
    negatives = [s for y, s in zip(labels, scores, strict=True) if y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def test_perfect_ranking_has_area_one() -> None:
    curve = roc_curve([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert curve.area() == pytest.approx(1.0)
    assert curve.x[0] == 0.0 and curve.y[0] == 0.0
    assert curve.x[-1] == 1.0 and curve.y[-1] == 1.0


def test_reversed_ranking_has_area_zero() -> None:
    assert roc_curve([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]).area() == pytest.approx(0.0)


def test_roc_area_equals_the_mann_whitney_statistic_with_ties() -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, size=300).tolist()
    # Rounded scores: many ties, which must count half as in Mann-Whitney.
    scores = np.round(rng.random(300) * 0.5 + np.array(labels) * 0.3, 1).tolist()
    assert roc_curve(labels, scores).area() == pytest.approx(mann_whitney_auc(labels, scores))


def test_roc_has_one_point_per_distinct_score() -> None:
    curve = roc_curve([0, 1, 0, 1, 1], [0.3, 0.3, 0.5, 0.9, 0.9])
    assert curve.x.tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0])
    assert curve.y.tolist() == pytest.approx([0.0, 2 / 3, 2 / 3, 1.0])


def test_precision_recall_curve_points() -> None:
    curve = precision_recall_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    assert curve.x.tolist() == pytest.approx([0.0, 0.5, 0.5, 1.0, 1.0])
    assert curve.y.tolist() == pytest.approx([1.0, 1.0, 0.5, 2 / 3, 0.5])


def test_one_class_only_is_an_error() -> None:
    with pytest.raises(ValueError, match="both classes"):
        roc_curve([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="positive"):
        precision_recall_curve([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="no rows"):
        roc_curve([], [])


def test_curve_picture_is_a_png(tmp_path: Path) -> None:
    path = save_curve_png(
        roc_curve([0, 1, 0, 1], [0.2, 0.6, 0.4, 0.9]),
        tmp_path / "roc.png",
        title="ROC",
        x_label="false-positive rate",
        y_label="true-positive rate",
        diagonal=True,
    )
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000

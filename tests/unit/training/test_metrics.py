"""Held-out metrics from collected predictions (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.training.metrics import Predictions, compute_metrics


def predictions(rows: list[tuple[int, str, int, float]]) -> Predictions:
    return Predictions(
        labels=np.array([r[0] for r in rows], dtype=np.int64),
        types=np.array([r[1] for r in rows]),
        predictions=np.array([r[2] for r in rows], dtype=np.int64),
        scores=np.array([r[3] for r in rows], dtype=np.float64),
    )


ROWS = [
    # label, type, prediction, score
    (0, "normal", 0, 0.1),
    (0, "normal", 0, 0.2),
    (0, "normal", 1, 0.7),
    (0, "normal", 0, 0.3),
    (1, "ddos", 1, 0.9),
    (1, "ddos", 0, 0.4),
    (1, "password", 1, 0.8),
    (1, "xss", 1, 0.95),
]


def test_confusion_matrix_and_rates() -> None:
    metrics = compute_metrics(predictions(ROWS), ("ddos", "dos", "password"))
    cm = metrics.confusion_matrix
    assert (cm.true_negatives, cm.false_positives, cm.false_negatives, cm.true_positives) == (
        3,
        1,
        1,
        3,
    )
    assert metrics.precision == pytest.approx(3 / 4)
    assert metrics.recall == pytest.approx(3 / 4)
    assert metrics.f1 == pytest.approx(3 / 4)
    assert metrics.accuracy == pytest.approx(6 / 8)
    assert metrics.rows == 8
    # 4 attacks x 4 normal rows; only (ddos 0.4 vs normal 0.7) is misordered.
    assert metrics.auc_roc == pytest.approx(15 / 16)


def test_recall_per_attack_type_lists_requested_and_present_types() -> None:
    by_type = compute_metrics(predictions(ROWS), ("ddos", "dos", "password")).recall_by_type
    assert list(by_type) == ["ddos", "dos", "password", "xss"]
    assert (by_type["ddos"].rows, by_type["ddos"].detected) == (2, 1)
    assert by_type["ddos"].recall == pytest.approx(0.5)
    assert by_type["dos"].rows == 0 and by_type["dos"].recall is None
    assert by_type["xss"].recall == pytest.approx(1.0)


def test_no_positive_prediction_leaves_precision_undefined() -> None:
    rows = [(0, "normal", 0, 0.1), (1, "dos", 0, 0.3), (0, "normal", 0, 0.2)]
    metrics = compute_metrics(predictions(rows), ("dos",))
    assert metrics.precision is None
    assert metrics.recall == 0.0
    assert metrics.f1 is None
    assert metrics.auc_roc == pytest.approx(1.0)

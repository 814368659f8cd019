"""Held-out quality of a binary attack classifier, from collected predictions (pure numpy).

The trainer collects the test split's labels, attack types, decisions and scores to the
driver (a few thousand rows) and this module turns them into the card's metrics, so the
arithmetic is tested with plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipelines.schema.columns import NORMAL
from pipelines.training.card import ConfusionMatrix, Metrics, TypeRecall
from pipelines.training.curves import precision_recall_curve, roc_curve


@dataclass(frozen=True)
class Predictions:
    """Held-out labels, attack types, decisions and scores, collected to the driver."""

    labels: npt.NDArray[np.int64]
    types: npt.NDArray[np.str_]
    predictions: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def compute_metrics(predictions: Predictions, attack_types: Sequence[str]) -> Metrics:
    """Held-out quality from collected predictions (pure).

    Args:
        predictions: labels, attack types, 0/1 decisions and attack scores per row.
        attack_types: the types to report recall for (others present are added).

    Raises:
        ValueError: the rows do not contain both classes (AUC undefined).
    """
    y, p = predictions.labels, predictions.predictions
    tp = int(np.sum((y == 1) & (p == 1)))
    fp = int(np.sum((y == 0) & (p == 1)))
    fn = int(np.sum((y == 1) & (p == 0)))
    tn = int(np.sum((y == 0) & (p == 0)))
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else None
    )
    present = sorted({str(t) for t in predictions.types[y == 1]} - {NORMAL})
    by_type: dict[str, TypeRecall] = {}
    for kind in [*attack_types, *[t for t in present if t not in attack_types]]:
        rows = (predictions.types == kind) & (y == 1)
        count = int(rows.sum())
        detected = int(np.sum(rows & (p == 1)))
        by_type[kind] = TypeRecall(rows=count, detected=detected, recall=_ratio(detected, count))
    return Metrics(
        rows=int(y.size),
        auc_roc=roc_curve(y, predictions.scores).area(),
        auc_pr=precision_recall_curve(y, predictions.scores).area(),
        accuracy=(tp + tn) / y.size,
        precision=precision,
        recall=recall,
        f1=f1,
        confusion_matrix=ConfusionMatrix(
            true_negatives=tn, false_positives=fp, false_negatives=fn, true_positives=tp
        ),
        recall_by_type=by_type,
    )

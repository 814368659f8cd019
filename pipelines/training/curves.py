"""ROC and precision–recall curves from labels and scores (pure numpy), and their pictures.

Spark's evaluators give the areas; the curves themselves are drawn from the held-out
rows collected to the driver (a few thousand rows), with ties in the score handled as
one step, as the areas are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Curve:
    """Points of a curve, x and y of equal length, in drawing order."""

    x: FloatArray
    y: FloatArray
    thresholds: FloatArray

    def area(self) -> float:
        """Area under the curve by the trapezoidal rule."""
        return float(np.trapezoid(self.y, self.x))


def _cumulative_counts(
    labels: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """True and false positives at each distinct score threshold, highest first."""
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError("labels and scores must be 1-d arrays of equal length")
    if y.size == 0:
        raise ValueError("no rows to draw a curve from")
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    # The last index of each run of equal scores: one curve point per distinct threshold.
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    true_positives = np.cumsum(y)[last_of_run]
    false_positives = (last_of_run + 1) - true_positives
    return true_positives, false_positives, s[last_of_run]


def roc_curve(labels: npt.ArrayLike, scores: npt.ArrayLike) -> Curve:
    """Receiver operating characteristic: x = false-positive rate, y = true-positive rate.

    Args:
        labels: 0/1 per row (1 = attack).
        scores: attack score per row (higher = more likely an attack).

    Raises:
        ValueError: empty input, or only one class present (the rates are undefined).
    """
    tp, fp, thresholds = _cumulative_counts(labels, scores)
    positives, negatives = tp[-1], fp[-1]
    if positives == 0 or negatives == 0:
        raise ValueError("a ROC curve needs both classes among the rows")
    return Curve(
        x=np.r_[0.0, fp / negatives],
        y=np.r_[0.0, tp / positives],
        thresholds=np.r_[np.inf, thresholds],
    )


def precision_recall_curve(labels: npt.ArrayLike, scores: npt.ArrayLike) -> Curve:
    """Precision–recall curve: x = recall, y = precision, starting at recall 0.

    The first point repeats the precision of the highest threshold at recall 0, as
    Spark's ``BinaryClassificationMetrics`` does, so the areas agree.

    Raises:
        ValueError: empty input or no positive row.
    """
    tp, fp, thresholds = _cumulative_counts(labels, scores)
    if tp[-1] == 0:
        raise ValueError("a precision-recall curve needs at least one positive row")
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return Curve(
        x=np.r_[0.0, recall],
        y=np.r_[precision[0], precision],
        thresholds=np.r_[np.inf, thresholds],
    )


def save_curve_png(
    curve: Curve,
    path: Path,
    *,
    title: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
) -> Path:
    """Draw ``curve`` into a PNG file (matplotlib, Agg backend: no display needed).

    Args:
        curve: the points.
        path: the PNG file to write (its folder must exist).
        title: figure title (the area is appended).
        x_label: x-axis label.
        y_label: y-axis label.
        diagonal: also draw the chance diagonal (ROC).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A bare Figure with its own Agg canvas: no pyplot global state, safe off the main
    # thread (the workbench trains on a worker thread).
    figure = Figure(figsize=(5.0, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(curve.x, curve.y, color="#b71c1c", linewidth=2)
    if diagonal:
        axes.plot([0, 1], [0, 1], color="#9e9e9e", linestyle="--", linewidth=1)
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.02)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(f"{title} (area {curve.area():.3f})")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path

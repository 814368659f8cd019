"""``stophacking train``: progress lines while training, then the held-out metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipelines.config import Settings, without_console_progress
from pipelines.schema.columns import Stream
from pipelines.training.card import ModelCard


def metrics_table(cards: dict[Stream, ModelCard]) -> str:
    """One line per stream: family, held-out AUC, precision, recall, F1, confusion matrix."""

    def fmt(value: float | None) -> str:
        return " n/a " if value is None else f"{value:.3f}"

    lines = [
        f"{'stream':<8} {'family':<14} {'AUC':>6} {'PR-AUC':>6} {'prec':>6} {'recall':>6} "
        f"{'F1':>6}  confusion (tn fp fn tp)   test rows"
    ]
    for stream, card in cards.items():
        m = card.test_metrics
        cm = m.confusion_matrix
        lines.append(
            f"{stream:<8} {card.family:<14} {fmt(m.auc_roc):>6} {fmt(m.auc_pr):>6} "
            f"{fmt(m.precision):>6} {fmt(m.recall):>6} {fmt(m.f1):>6}  "
            f"{cm.true_negatives:>5} {cm.false_positives:>4} {cm.false_negatives:>4} "
            f"{cm.true_positives:>4}   {m.rows:>9}"
        )
    return "\n".join(lines)


def _quiet_spark(settings: Settings) -> Any:
    """A session for training: no Kafka connector, no console progress bars."""
    from pipelines.spark.session import build_spark_session

    return build_spark_session(
        without_console_progress(settings),
        app_name=f"{settings.spark.app_name}-training",
        with_kafka=False,
    )


def ensure_models_command(settings: Settings, *, echo: Callable[[str], None] = print) -> int:
    """Train the default models on the demo data when missing (``stophacking setup``).

    Returns:
        The exit code (0).
    """
    from pipelines.training.card import missing_models

    missing = missing_models(settings.models_dir)
    if not missing:
        echo(f"models:         present in {settings.models_dir}")
        return 0
    from pipelines.training.trainer import ensure_models

    echo(f"models:         {', '.join(missing)} missing: training on the generated demo data")
    started = time.perf_counter()

    def progress(message: str, fraction: float) -> None:
        echo(f"[{time.perf_counter() - started:6.1f} s {fraction:4.0%}] {message}")

    ensure_models(settings, progress=progress, spark=_quiet_spark(settings))
    echo(
        f"models:         trained in {time.perf_counter() - started:.0f} s ({settings.models_dir})"
    )
    return 0


def train_command(
    settings: Settings,
    *,
    process_files: Sequence[Path] = (),
    memory_files: Sequence[Path] = (),
    out_dir: Path | None = None,
    seed: int | None = None,
    families: Sequence[str] = (),
    echo: Callable[[str], None] = print,
) -> int:
    """Train the models and print progress and the held-out metrics.

    Args:
        settings: settings tree (Spark master, ``models_dir``, demo data location).
        process_files: labelled process CSVs; with ``memory_files`` also empty, both
            streams train on the generated demo data (created when missing).
        memory_files: labelled memory CSVs.
        out_dir: model folder root (default ``settings.models_dir``).
        seed: split and learner seed (default :data:`trainer.DEFAULT_SEED`).
        families: model families to compare (default: gbt and random_forest).
        echo: where lines go.

    Returns:
        The exit code (0).
    """
    from pipelines.training.pipeline import DEFAULT_FAMILIES
    from pipelines.training.trainer import DEFAULT_SEED, train_models

    files: dict[Stream, list[Path]] = {}
    if process_files:
        files["process"] = list(process_files)
    if memory_files:
        files["memory"] = list(memory_files)
    if not files:
        from pipelines.data.demo_set import demo_training_files

        echo("no files given: training on the generated demo data")
        files = demo_training_files(settings)
    started = time.perf_counter()

    def progress(message: str, fraction: float) -> None:
        echo(f"[{time.perf_counter() - started:6.1f} s {fraction:4.0%}] {message}")

    progress("starting Spark", 0.0)
    spark = _quiet_spark(settings)
    run = train_models(
        settings,
        files,
        out_dir=out_dir,
        seed=DEFAULT_SEED if seed is None else seed,
        families=list(families) or list(DEFAULT_FAMILIES),
        spark=spark,
        progress=progress,
    )
    echo("")
    echo(metrics_table(run.cards))
    echo("")
    for stream, path in run.paths.items():
        card = run.cards[stream]
        comparison = ", ".join(f"{r.family} {r.validation_auc:.3f}" for r in card.comparison)
        echo(f"{stream}: {path} (validation AUC: {comparison}; card: model_card.md)")
    echo(f"trained in {run.seconds:.1f} s")
    return 0

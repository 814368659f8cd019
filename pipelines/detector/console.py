"""``stophacking detect``: run the detector with a live status line per micro-batch."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TextIO

from pipelines.config import Settings, replace
from pipelines.detector.health import BatchStatus
from pipelines.detector.job import Detector
from pipelines.replay.console import stop_on_signals

EXIT_OK = 0
EXIT_QUERY_FAILED = 1


def status_line(status: BatchStatus, detector: Detector) -> str:
    """One line per ingest micro-batch: this batch's figures, then the running totals.

    Example: ``process batch 3: 120 records in 40 messages, 24.0 rec/s, 2 quarantined,
    18 attacks, 5.0 s, lag 0, watermark 2026-…Z | totals process 500/10q/200a memory
    420/0q/150a, 3 alerts``.
    """
    totals = detector.stats.per_stream
    summary = " ".join(
        f"{stream} {t.records}/{t.quarantined}q/{t.attacks}a" for stream, t in totals.items()
    )
    lag = "?" if status.lag is None else str(status.lag)
    return (
        f"{status.stream} batch {status.batch_id}: {status.records} records in "
        f"{status.messages} messages, {status.records_per_s:.1f} rec/s, "
        f"{status.quarantined_total} quarantined, {status.attacks} attacks, "
        f"{status.duration_s:.1f} s, lag {lag}, watermark {status.watermark or '-'} "
        f"| totals {summary}, {detector.stats.alerts} alerts"
    )


def detect(
    settings: Settings,
    *,
    process_model: Path | None = None,
    memory_model: Path | None = None,
    output_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    trigger_s: float = 5.0,
    duration_s: float | None = None,
    out: TextIO,
) -> int:
    """Run the detector until ``duration_s`` passes, Ctrl-C/SIGTERM, or a query fails.

    Args:
        settings: product settings (Kafka, Spark master, folders).
        process_model: process model folder (default under ``settings.models_dir``).
        memory_model: memory model folder (default under ``settings.models_dir``).
        output_dir: parquet outputs root (default ``<home>/detector``).
        checkpoint_dir: checkpoints root (default ``<home>/checkpoints/detector``).
        trigger_s: micro-batch interval, seconds.
        duration_s: stop after this many seconds (None: until interrupted).
        out: where the status lines go.

    Returns:
        :data:`EXIT_OK`, or :data:`EXIT_QUERY_FAILED` when a query failed.

    Raises:
        ModelError: a model folder is missing or incompatible (before any query starts).
    """
    holder: dict[str, Detector] = {}
    # Spark's own progress bar would overwrite the status lines on the terminal.
    quiet = {"spark.ui.showConsoleProgress": "false", **settings.spark.extra}
    settings = replace(settings, {"spark.extra": quiet})

    def on_batch(status: BatchStatus) -> None:
        out.write(status_line(status, holder["detector"]) + "\n")
        out.flush()

    detector = Detector(
        settings,
        process_model=process_model,
        memory_model=memory_model,
        output_dir=output_dir,
        checkpoint_dir=checkpoint_dir,
        trigger_s=trigger_s,
        on_batch=on_batch,
    )
    holder["detector"] = detector
    stop = threading.Event()
    out.write(
        f"detector: models {detector.model_paths['process']}, {detector.model_paths['memory']};"
        f" outputs {detector.output_dir}; checkpoints {detector.checkpoint_dir}\n"
    )
    detector.check_model_folders()
    # The session first: PySpark's SparkContext installs a SIGINT handler that cancels the
    # jobs and raises KeyboardInterrupt; ours, installed after it, stops the queries cleanly.
    _ = detector.spark
    with stop_on_signals(stop):
        failure = detector.run(duration_s=duration_s, stop=stop)
    if failure is not None:
        out.write(f"detector stopped: {failure}\n")
        return EXIT_QUERY_FAILED
    out.write("detector stopped\n")
    return EXIT_OK

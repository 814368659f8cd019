"""``stophacking detect``: run the detector with a live status line per micro-batch."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TextIO

from pipelines.config import Settings, TopicSettings, without_console_progress
from pipelines.detector.health import BatchStatus
from pipelines.detector.job import Detector
from pipelines.errors import StopHackingError
from pipelines.signals import stop_on_signals

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


def default_ground_truth(settings: Settings) -> Path | None:
    """The demo data's ground-truth folder when the default generated data is in use.

    "In use" means the producers' defaults: the settings' source topics are the default
    ones (which the producers fill from the demo data unless told otherwise) and the
    demo folder has its side files. Anything else needs ``--ground-truth DIR``.
    """
    from pipelines.data.demo_set import demo_folder
    from pipelines.detector.quality import ground_truth_for
    from pipelines.schema.columns import STREAMING_FILE_NAMES

    defaults = TopicSettings()
    topics = settings.kafka.topics
    if (topics.process, topics.memory) != (defaults.process, defaults.memory):
        return None
    folder = demo_folder(settings)
    found = [ground_truth_for(folder / name) for name in STREAMING_FILE_NAMES.values()]
    return folder if all(f is not None for f in found) else None


def quality_lines(detector: Detector, ground_truth_dir: Path) -> list[str]:
    """The detection-quality report of a detector's outputs, or one line saying why not."""
    from pipelines.detector.quality import evaluate_detection, format_quality

    try:
        quality = evaluate_detection(detector.spark, detector.output_dir, ground_truth_dir)
    except StopHackingError as exc:
        return [f"detection quality: not available ({exc})"]
    return [*format_quality(quality), f"  (ground truth: {ground_truth_dir})"]


def detect(
    settings: Settings,
    *,
    process_model: Path | None = None,
    memory_model: Path | None = None,
    output_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    trigger_s: float | None = None,
    duration_s: float | None = None,
    ground_truth: Path | None = None,
    auto_ground_truth: bool = True,
    out: TextIO,
) -> int:
    """Run the detector until ``duration_s`` passes, Ctrl-C/SIGTERM, or a query fails.

    Args:
        settings: product settings (Kafka, Spark master, folders, ``detector`` section).
        process_model: process model folder (default under ``settings.models_dir``).
        memory_model: memory model folder (default under ``settings.models_dir``).
        output_dir: parquet outputs root (default ``settings.detector_output_dir``).
        checkpoint_dir: checkpoints root (default ``settings.detector_checkpoint_dir``).
        trigger_s: micro-batch interval, seconds (default ``settings.detector.trigger_s``).
        duration_s: stop after this many seconds (None: until interrupted).
        ground_truth: folder with ``Streaming_Linux_<stream>.labels.csv``: print the
            detection quality of this run's outputs when it stops.
        auto_ground_truth: without ``ground_truth``, use the demo data's side files when
            the default generated data is in use (:func:`default_ground_truth`).
        out: where the status lines go.

    Returns:
        :data:`EXIT_OK`, or :data:`EXIT_QUERY_FAILED` when a query failed.

    Raises:
        ModelError: a model folder is missing, corrupt or incompatible.
        BrokerUnavailable: no broker answers.
        ConfigError: a folder cannot be written, the checkpoints were made with other
            settings, or the alerts and their checkpoint disagree (docs/detector.md,
            "Checked at start"). Each is raised before any query starts.
    """
    holder: dict[str, Detector] = {}
    settings = without_console_progress(settings)

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
    if ground_truth is None and auto_ground_truth:
        ground_truth = default_ground_truth(settings)
    out.write(
        f"detector: models {detector.model_paths['process']}, {detector.model_paths['memory']};"
        f" outputs {detector.output_dir}; checkpoints {detector.checkpoint_dir}\n"
    )
    if ground_truth is not None:
        out.write(f"detector: detection quality against {ground_truth} when it stops\n")
    # Models, broker, alerts and folders, before the JVM starts (seconds saved on a typo).
    detector.checks.before_spark()
    # The session first: PySpark's SparkContext installs a SIGINT handler that cancels the
    # jobs and raises KeyboardInterrupt; ours, installed after it, stops the queries cleanly.
    _ = detector.spark
    with stop_on_signals(stop):
        failure = detector.run(duration_s=duration_s, stop=stop)
    if failure is not None:
        out.write(f"detector stopped: {failure}\n")
        return EXIT_QUERY_FAILED
    out.write("detector stopped\n")
    if ground_truth is not None:
        out.write("\n".join(quality_lines(detector, ground_truth)) + "\n")
    return EXIT_OK

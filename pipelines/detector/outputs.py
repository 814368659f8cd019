"""Counts over a detector's persisted outputs: what a run cleaned, scored, quarantined, paired.

Read back with Spark from the folders :class:`~pipelines.detector.job.Detector` writes
(see docs/detector.md), so the figures are those of the outputs themselves, not of the
running totals a status line shows. Used by ``stophacking demo`` for its summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.detector import transforms
from pipelines.detector.layout import (
    ALERTS_DIR,
    CLEANED_DIR,
    PAIRS_DIR,
    QUARANTINE_DIR,
    SCORED_DIR,
    complete_batches,
)
from pipelines.schema.columns import STREAMS, Stream
from pipelines.spark.scoring import PREDICTION


@dataclass(frozen=True)
class StreamOutputCounts:
    """One stream's records in the detector's parquet outputs.

    Attributes:
        cleaned: rows of the cleaned folder (``process/`` or ``memory/``).
        scored: rows of the scored folder (``<stream>_scored/``).
        attacks: scored rows predicted as attack (``prediction = 1``).
        quarantined: stage (``decode``, ``parse``, ``score``) → quarantined rows.
    """

    cleaned: int = 0
    scored: int = 0
    attacks: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)

    @property
    def quarantined_before_cleaning(self) -> int:
        """Records that never became cleaned rows (stages ``decode`` and ``parse``)."""
        return self.quarantined.get(transforms.STAGE_DECODE, 0) + self.quarantined.get(
            transforms.STAGE_PARSE, 0
        )

    @property
    def quarantined_before_scoring(self) -> int:
        """Cleaned rows the model could not score (stage ``score``)."""
        return self.quarantined.get(transforms.STAGE_SCORE, 0)


@dataclass(frozen=True)
class OutputCounts:
    """Every count of one detector run's outputs.

    Attributes:
        streams: per-stream counts.
        window_rows: rows of the 7a memory sink (machine × window × stream with attacks).
        attack_pairs: rows of ``process_memory_attack/`` (7b pairs, duplicates kept).
        attack_events: rows of ``alerts.parquet`` (one per machine, CMD, PID and window).
        first_alert_at: when the first alerts were written (unix seconds), or None.
    """

    streams: dict[Stream, StreamOutputCounts]
    window_rows: int
    attack_pairs: int
    attack_events: int
    first_alert_at: float | None = None


def read_batches(spark: SparkSession, folder: Path) -> DataFrame | None:
    """The complete ``batch=<id>`` folders of an output, or None when it has none."""
    done = complete_batches(folder)
    if not done:
        return None
    return spark.read.option("basePath", str(folder)).parquet(*map(str, done))


def count_stream_outputs(
    spark: SparkSession, output_dir: Path, stream: Stream
) -> StreamOutputCounts:
    """Count one stream's cleaned, scored and quarantined rows under ``output_dir``.

    Args:
        spark: any session (the detector's own, or another on the same files).
        output_dir: the detector's output root (``Detector.output_dir``).
        stream: ``process`` or ``memory``.
    """
    cleaned = read_batches(spark, output_dir / CLEANED_DIR[stream])
    scored = read_batches(spark, output_dir / SCORED_DIR[stream])
    quarantine = read_batches(spark, output_dir / QUARANTINE_DIR / f"stream={stream}")
    attacks = 0
    scored_n = 0
    if scored is not None:
        row = scored.agg(
            F.count(F.lit(1)).alias("rows"),
            F.count(F.when(F.col(PREDICTION) == 1.0, True)).alias("attacks"),
        ).first()
        assert row is not None  # an aggregate without grouping has one row
        scored_n, attacks = int(row["rows"]), int(row["attacks"])
    stages: dict[str, int] = {}
    if quarantine is not None:
        stages = {
            str(row[transforms.STAGE]): int(row["count"])
            for row in quarantine.groupBy(transforms.STAGE).count().collect()
        }
    return StreamOutputCounts(
        cleaned=cleaned.count() if cleaned is not None else 0,
        scored=scored_n,
        attacks=attacks,
        quarantined=stages,
    )


def count_outputs(spark: SparkSession, output_dir: Path, counts_table: str) -> OutputCounts:
    """Count every output of a detector run.

    Args:
        spark: the detector's session (the 7a memory sink lives in its JVM).
        output_dir: the detector's output root.
        counts_table: name of the 7a memory sink table (``attack_counts`` by default).
    """
    streams = {stream: count_stream_outputs(spark, output_dir, stream) for stream in STREAMS}
    window_rows = (
        int(spark.table(counts_table).count()) if spark.catalog.tableExists(counts_table) else 0
    )
    pairs = read_batches(spark, output_dir / PAIRS_DIR)
    alerts_dir = output_dir / ALERTS_DIR
    alerts = read_batches(spark, alerts_dir)
    # An alert batch folder is written only when it raises alerts; its _SUCCESS file's
    # time is when they were raised (the parquet rows do not carry that time).
    raised = [marker.stat().st_mtime for marker in alerts_dir.glob("batch=*/_SUCCESS")]
    return OutputCounts(
        streams=streams,
        window_rows=window_rows,
        attack_pairs=pairs.count() if pairs is not None else 0,
        attack_events=alerts.count() if alerts is not None else 0,
        first_alert_at=min(raised, default=None),
    )

"""Detection quality against ground truth: per-record and attack-event precision/recall/F1.

The generated data ships a ground-truth side file per streaming file
(``Streaming_Linux_<stream>.labels.csv``: machine, sequence, attack, type). The detector's
own outputs are scored against it (docs/detector.md, "Detection quality"):

- **Per record, per stream.** The scored parquet (every record the detector scored, with
  its ``prediction``) joined with the side file on (machine, sequence); a replay that
  wraps around sends a row again with a higher ``pass`` and the same sequence, and each
  delivery counts. Positive = attack. Score-quarantined records have no prediction and
  are not counted; scored records without a ground-truth row (foreign or injected
  records) are counted apart as ``unlabelled``.
- **Attack events (7b).** An event key is a program: (machine, CMD, PID).
  *Predicted* keys: the distinct keys of the detector's ``process_memory_attack`` pairs.
  *True* keys: the distinct keys of the scored records (so only what the detector saw)
  having a ground-truth attack row in the process stream and one in the memory stream
  whose event times are less than 30 s apart (the 7b tolerance), whatever the detector
  predicted. TP = predicted ∩ true, FP = predicted − true, FN = true − predicted.

Pure logic (DataFrames and sets → numbers) is separate from reading files
(:func:`evaluate_detection`, :func:`read_ground_truth`).
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from pipelines.detector import transforms
from pipelines.detector.layout import PAIRS_DIR, SCORED_DIR
from pipelines.detector.outputs import read_batches
from pipelines.errors import ConfigError, ParseError
from pipelines.schema.columns import (
    ATTACK_TYPE,
    GROUND_TRUTH_COLUMNS,
    LABEL,
    STREAMING_FILE_NAMES,
    STREAMS,
    Stream,
)
from pipelines.spark.scoring import PREDICTION

LABELS_SUFFIX: Final = ".labels.csv"
GROUND_TRUTH_SCHEMA: Final = StructType(
    [
        StructField("machine", IntegerType(), nullable=False),
        StructField("sequence", IntegerType(), nullable=False),
        StructField(LABEL, IntegerType(), nullable=False),
        StructField(ATTACK_TYPE, StringType(), nullable=False),
    ]
)
EVENT_KEY_COLUMNS: Final = transforms.PAIR_KEY_COLUMNS
"""(machine, CMD, PID): one program, the key of an attack event."""

EventKey = tuple[Hashable, ...]


# -- arithmetic (plain values) ----------------------------------------------------------
def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


@dataclass(frozen=True)
class Scores:
    """Confusion counts and the figures derived from them (0.0 when undefined)."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float

    @classmethod
    def from_counts(cls, tp: int, fp: int, fn: int) -> Scores:
        """Precision tp/(tp+fp), recall tp/(tp+fn), F1 their harmonic mean.

        A ratio with a zero denominator is 0.0 (never NaN), so the figures stay
        printable and comparable when nothing was predicted or nothing was to find.

        Raises:
            ValueError: a count is negative.
        """
        if min(tp, fp, fn) < 0:
            raise ValueError(f"counts must not be negative: tp={tp} fp={fp} fn={fn}")
        precision = _ratio(tp, tp + fp)
        recall = _ratio(tp, tp + fn)
        # 2PR/(P+R) written with counts: exact, and 0 when there is no true positive.
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        return cls(tp, fp, fn, precision, recall, f1)


def set_scores(predicted: Collection[EventKey], actual: Collection[EventKey]) -> Scores:
    """Scores of a predicted set of keys against the true set (each key counts once)."""
    found, wanted = set(predicted), set(actual)
    return Scores.from_counts(len(found & wanted), len(found - wanted), len(wanted - found))


@dataclass(frozen=True)
class DetectionQuality:
    """Quality of one detector run against ground truth.

    Attributes:
        streams: per-record scores per stream.
        events: attack-event (7b) scores over program keys.
        evaluated: scored records with a ground-truth row, per stream.
        unlabelled: scored records without one, per stream (not in the scores).
    """

    streams: dict[Stream, Scores]
    events: Scores
    evaluated: dict[Stream, int] = field(default_factory=dict)
    unlabelled: dict[Stream, int] = field(default_factory=dict)


def _line(scores: Scores) -> str:
    return (
        f"precision {scores.precision:.3f}, recall {scores.recall:.3f}, F1 {scores.f1:.3f} "
        f"(tp {scores.tp}, fp {scores.fp}, fn {scores.fn})"
    )


def format_quality(quality: DetectionQuality) -> list[str]:
    """Printable lines: one per stream, one for the attack events."""
    lines = ["detection quality against ground truth:"]
    for stream, scores in quality.streams.items():
        extra = ""
        if stream in quality.evaluated:
            extra = f"; {quality.evaluated[stream]} records"
            if quality.unlabelled.get(stream):
                extra += f", {quality.unlabelled[stream]} without ground truth (not counted)"
        lines.append(f"  {stream} records: {_line(scores)}{extra}")
    lines.append(f"  attack events (7b, per machine|CMD|PID): {_line(quality.events)}")
    return lines


# -- DataFrame logic ----------------------------------------------------------------------
def record_scores(scored: DataFrame, labels: DataFrame) -> tuple[Scores, int, int]:
    """Per-record scores of one stream.

    Args:
        scored: scored records (``machine``, ``sequence``, ``prediction``).
        labels: ground truth (``machine``, ``sequence``, ``attack``), one row per key.

    Returns:
        The scores, the number of records with a ground-truth row, and without one.
    """
    joined = scored.select("machine", "sequence", PREDICTION).join(
        labels.select("machine", "sequence", LABEL), on=["machine", "sequence"], how="left"
    )
    predicted, actual = F.col(PREDICTION) == 1.0, F.col(LABEL) == 1
    row = joined.agg(
        F.count(F.when(predicted & actual, True)).alias("tp"),
        F.count(F.when(predicted & (F.col(LABEL) == 0), True)).alias("fp"),
        F.count(F.when(~predicted & actual, True)).alias("fn"),
        F.count(F.col(LABEL)).alias("labelled"),
        F.count(F.lit(1)).alias("total"),
    ).first()
    assert row is not None  # an aggregate without grouping has one row
    scores = Scores.from_counts(int(row["tp"]), int(row["fp"]), int(row["fn"]))
    return scores, int(row["labelled"]), int(row["total"]) - int(row["labelled"])


def predicted_event_keys(pairs: DataFrame) -> DataFrame:
    """Distinct (machine, CMD, PID) of the detector's 7b pairs."""
    return pairs.select(*EVENT_KEY_COLUMNS).distinct()


def true_event_keys(
    scored: Mapping[Stream, DataFrame], labels: Mapping[Stream, DataFrame]
) -> DataFrame:
    """Distinct (machine, CMD, PID) with ground-truth attack rows in both streams < 30 s apart.

    Only records the detector scored take part; the predictions play no role.
    """
    sides = {}
    for stream in STREAMS:
        attacks = labels[stream].filter(F.col(LABEL) == 1).select("machine", "sequence")
        sides[stream] = (
            scored[stream]
            .join(attacks, on=["machine", "sequence"], how="left_semi")
            .select(*EVENT_KEY_COLUMNS, F.col(transforms.EVENT_TIME).alias(f"{stream}_time"))
        )
    p_time, m_time = F.col("process_time"), F.col("memory_time")
    tolerance = F.expr(f"INTERVAL {transforms.PAIR_TOLERANCE_S} SECONDS")
    joined = sides["process"].join(sides["memory"], on=list(EVENT_KEY_COLUMNS), how="inner")
    close = (p_time > m_time - tolerance) & (p_time < m_time + tolerance)
    return joined.filter(close).select(*EVENT_KEY_COLUMNS).distinct()


def _keys(df: DataFrame) -> set[EventKey]:
    return {tuple(row) for row in df.collect()}


def evaluate_frames(
    scored: Mapping[Stream, DataFrame],
    pairs: DataFrame | None,
    labels: Mapping[Stream, DataFrame],
) -> DetectionQuality:
    """Score a run's outputs against ground truth (see the module docstring).

    Args:
        scored: scored records per stream (``machine``, ``sequence``, ``CMD``, ``PID``,
            ``event_time``, ``prediction``).
        pairs: the 7b pairs (``machine``, ``CMD``, ``PID``); None when there are none.
        labels: ground truth per stream (``machine``, ``sequence``, ``attack``).
    """
    streams: dict[Stream, Scores] = {}
    evaluated: dict[Stream, int] = {}
    unlabelled: dict[Stream, int] = {}
    for stream in STREAMS:
        streams[stream], evaluated[stream], unlabelled[stream] = record_scores(
            scored[stream], labels[stream]
        )
    predicted = set() if pairs is None else _keys(predicted_event_keys(pairs))
    events = set_scores(predicted, _keys(true_event_keys(scored, labels)))
    return DetectionQuality(streams, events, evaluated, unlabelled)


# -- reading files (the edges) -------------------------------------------------------------
def ground_truth_for(data_file: Path) -> Path | None:
    """The folder of ``data_file``'s ground truth, or None when it has no side file.

    A side file is ``Streaming_Linux_<stream>.labels.csv`` next to
    ``Streaming_Linux_<stream>.csv`` (what the generator writes).
    """
    data_file = Path(data_file)
    if data_file.name not in STREAMING_FILE_NAMES.values():
        return None
    side = data_file.with_name(data_file.name.removesuffix(".csv") + LABELS_SUFFIX)
    return data_file.parent if side.is_file() else None


def labels_file(ground_truth_dir: Path, stream: Stream) -> Path:
    """``<dir>/Streaming_Linux_<stream>.labels.csv``."""
    return ground_truth_dir / STREAMING_FILE_NAMES[stream].replace(".csv", LABELS_SUFFIX)


def read_ground_truth(path: Path) -> list[tuple[int, int, int, str]]:
    """Rows (machine, sequence, attack, type) of a side file, checked line by line.

    Raises:
        ParseError: a missing file, a wrong header, a value that is not an integer, an
            attack flag other than 0/1 or a repeated (machine, sequence), naming the
            file, line and column.
    """
    source = str(path)
    if not path.is_file():
        raise ParseError("no ground-truth file", source=source)
    rows: list[tuple[int, int, int, str]] = []
    seen: set[tuple[int, int]] = set()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != GROUND_TRUTH_COLUMNS:
            raise ParseError(
                f"expected the header {','.join(GROUND_TRUTH_COLUMNS)}",
                source=source,
                line=1,
                value=None if header is None else ",".join(header),
            )
        for line, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) != len(GROUND_TRUTH_COLUMNS):
                raise ParseError(
                    f"expected {len(GROUND_TRUTH_COLUMNS)} fields, got {len(fields)}",
                    source=source,
                    line=line,
                )
            numbers = []
            for column, text in zip(GROUND_TRUTH_COLUMNS[:3], fields[:3], strict=True):
                try:
                    numbers.append(int(text.strip()))
                except ValueError:
                    raise ParseError(
                        "not an integer", source=source, line=line, column=column, value=text
                    ) from None
            machine, sequence, attack = numbers
            if attack not in (0, 1):
                raise ParseError("must be 0 or 1", source=source, line=line, column=LABEL,
                                 value=fields[2])  # fmt: skip
            if (machine, sequence) in seen:
                raise ParseError(
                    "repeated machine and sequence",
                    source=source,
                    line=line,
                    value=f"{machine},{sequence}",
                )
            seen.add((machine, sequence))
            rows.append((machine, sequence, attack, fields[3].strip()))
    return rows


def evaluate_detection(
    spark: SparkSession, output_dir: Path, ground_truth_dir: Path
) -> DetectionQuality:
    """Score the detector outputs under ``output_dir`` against the side files.

    Args:
        spark: the session that reads the outputs.
        output_dir: the detector's output root (``<s>_scored.parquet``,
            ``process_memory_attack.parquet``).
        ground_truth_dir: folder with ``Streaming_Linux_<stream>.labels.csv``.

    Raises:
        ParseError: a side file is missing or malformed (names file, line, column).
        ConfigError: the detector has scored no record of a stream yet.
    """
    output_dir, ground_truth_dir = Path(output_dir), Path(ground_truth_dir)
    labels = {
        stream: spark.createDataFrame(
            read_ground_truth(labels_file(ground_truth_dir, stream)), GROUND_TRUTH_SCHEMA
        )
        for stream in STREAMS
    }
    scored: dict[Stream, DataFrame] = {}
    for stream in STREAMS:
        frame = read_batches(spark, output_dir / SCORED_DIR[stream])
        if frame is None:
            raise ConfigError(f"no scored {stream} records under {output_dir / SCORED_DIR[stream]}")
        scored[stream] = frame
    pairs = read_batches(spark, output_dir / PAIRS_DIR)
    return evaluate_frames(scored, pairs, labels)


__all__ = [
    "DetectionQuality",
    "Scores",
    "evaluate_detection",
    "evaluate_frames",
    "format_quality",
    "ground_truth_for",
    "read_ground_truth",
    "set_scores",
]

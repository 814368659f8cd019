"""Read the detector's results back into pandas: the 7a memory sink and the alerts.

Shared by the workbench's Detection tab, the Part 3 notebook and the demo: each call is
one small Spark job on the session that runs the detector (the 7a memory sink lives in
that JVM), returning a pandas frame with fixed columns and dtypes, empty before any data.

- :func:`window_counts_frame`: ``SELECT … FROM attack_counts`` (7a: machine, window,
  stream, approx. distinct ``CMD_PID`` predicted attack).
- :func:`latest_alerts`: the newest 7b attack events, one row per (machine, CMD, PID,
  2-minute window) as alerted, from the ``alerts.parquet`` output.
- :func:`alert_pairs`: the process/memory pairs behind one alert, from the pairs
  output (pyarrow, no Spark job: a click in the alerts view).
- :func:`summed_counts`: the 7a counts of both streams added up per machine and window
  (what the tab draws), pure pandas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from pipelines.detector.layout import ALERTS_DIR, PAIRS_DIR, complete_batches
from pipelines.detector.transforms import ATTACK_COUNT_COLUMNS, COUNT, STREAM, WINDOW_START

ALERT_COLUMNS: Final[tuple[str, ...]] = (
    "machine",
    "CMD",
    "PID",
    "window_start",
    "window_end",
    "pair_count",
    "severity",
    "severity_score",
    "process_probability",
    "memory_probability",
    "first_process_event_time",
    "first_memory_event_time",
)
"""Columns of :func:`latest_alerts`, in display order."""

_COUNT_DTYPES: Final[dict[str, str]] = {
    "machine": "int64",
    "window_start": "datetime64[ns]",
    "window_end": "datetime64[ns]",
    STREAM: "object",
    COUNT: "int64",
}


def empty_window_counts() -> pd.DataFrame:
    """The 7a frame with no rows but the columns and dtypes of a filled one."""
    return pd.DataFrame({c: pd.Series(dtype=_COUNT_DTYPES[c]) for c in ATTACK_COUNT_COLUMNS})


def empty_alerts() -> pd.DataFrame:
    """The alerts frame with no rows (same columns as :func:`latest_alerts`)."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in ALERT_COLUMNS})


def _typed_counts(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return empty_window_counts()
    out = frame.loc[:, list(ATTACK_COUNT_COLUMNS)].copy()
    out["machine"] = pd.to_numeric(out["machine"]).astype("int64")
    out[COUNT] = pd.to_numeric(out[COUNT]).astype("int64")
    for column in ("window_start", "window_end"):
        # Spark gives naive UTC timestamps (the session time zone is UTC).
        out[column] = pd.to_datetime(out[column]).astype("datetime64[ns]")
    return out.reset_index(drop=True)


def window_counts_frame(spark: SparkSession, table: str = "attack_counts") -> pd.DataFrame:
    """The 7a memory sink as pandas, ordered by window start, machine and stream.

    Args:
        spark: the session whose detector writes the memory sink.
        table: the memory sink's name (``settings.detector.counts_table``).

    Returns:
        Columns ``machine`` (int64), ``window_start``/``window_end`` (datetime64, UTC),
        ``stream`` (``process``/``memory``), ``count`` (int64); empty (same columns)
        while the table does not exist yet (the query has not run its first batch).
    """
    if not table.isidentifier():
        raise ValueError(f"not a table name: {table!r}")
    columns = ", ".join(f"`{c}`" for c in ATTACK_COUNT_COLUMNS)
    try:
        rows: pd.DataFrame = spark.sql(
            f"SELECT {columns} FROM {table} ORDER BY window_start, machine, stream"
        ).toPandas()
    except AnalysisException:
        # No such table before the memory sink's first batch.
        return empty_window_counts()
    return _typed_counts(rows)


def summed_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """Both streams' 7a counts added per machine and window (pure).

    The sum of two approximate distinct counts: a program seen as attack in both
    streams counts twice. It is what the Detection tab draws, one curve per machine.

    Args:
        counts: a :func:`window_counts_frame` result.

    Returns:
        Columns ``machine``, ``window_start``, ``count`` sorted by machine and window.
    """
    if counts.empty:
        return pd.DataFrame(
            {
                "machine": pd.Series(dtype="int64"),
                "window_start": pd.Series(dtype="datetime64[ns]"),
                COUNT: pd.Series(dtype="int64"),
            }
        )
    summed = counts.groupby(["machine", WINDOW_START], as_index=False)[COUNT].sum()
    return summed.sort_values(["machine", WINDOW_START]).reset_index(drop=True)


def latest_window_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """Per machine and stream, the count of its most recent window (pure).

    Args:
        counts: a :func:`window_counts_frame` result.

    Returns:
        Columns ``machine``, ``stream``, ``window_start``, ``count``; one row per
        machine and stream, sorted by machine then stream.
    """
    columns = ["machine", STREAM, WINDOW_START, COUNT]
    if counts.empty:
        return empty_window_counts().loc[:, columns]
    newest = counts.sort_values(WINDOW_START).groupby(["machine", STREAM], as_index=False).last()
    return newest.loc[:, columns].sort_values(["machine", STREAM]).reset_index(drop=True)


def latest_alerts(spark: SparkSession, output_dir: Path, limit: int = 20) -> pd.DataFrame:
    """The newest attack events (7b), one row per key and window, newest first.

    Reads the detector's ``alerts.parquet`` (complete batch folders only), which holds
    each (machine, CMD, PID, 2-minute window) once, as alerted.

    Args:
        spark: any session (a batch read; no detector needed).
        output_dir: the detector's output folder (``Detector.output_dir``).
        limit: most rows returned.

    Returns:
        :data:`ALERT_COLUMNS` plus ``batch`` (the alert micro-batch that raised it),
        ordered by window start, then first process event time, both descending;
        empty (same columns) before the first alert.
    """
    root = output_dir / ALERTS_DIR
    batches = complete_batches(root)
    if not batches:
        return empty_alerts()
    alerts = spark.read.option("basePath", str(root)).parquet(*map(str, batches))
    newest = alerts.orderBy(
        alerts["window_start"].desc(), alerts["first_process_event_time"].desc()
    ).limit(limit)
    frame: pd.DataFrame = newest.select(*ALERT_COLUMNS, "batch").toPandas()
    return frame.reset_index(drop=True)


def alert_total(spark: SparkSession, output_dir: Path) -> int:
    """How many attack events (keys and windows) ``alerts.parquet`` holds."""
    batches = complete_batches(output_dir / ALERTS_DIR)
    if not batches:
        return 0
    root = output_dir / ALERTS_DIR
    return int(spark.read.option("basePath", str(root)).parquet(*map(str, batches)).count())


PAIR_DETAIL_COLUMNS: Final[tuple[str, ...]] = (
    "process_event_time",
    "memory_event_time",
    "process_attack_probability",
    "memory_attack_probability",
    "process_CPU",
    "process_State",
    "memory_RSIZE",
    "memory_VGROW",
)
"""Columns of :func:`alert_pairs`, in display order (those the pairs output holds)."""


def alert_pairs(
    output_dir: Path,
    *,
    machine: int,
    cmd: str,
    pid: int,
    window_start: pd.Timestamp,
    window_end: pd.Timestamp,
    limit: int = 50,
) -> pd.DataFrame:
    """The process/memory pairs behind one alert: its program's pairs in its window.

    Reads the committed batches of the ``process_memory_attack.parquet`` output with
    pyarrow (filters pushed into the scan), oldest process event first.

    Args:
        output_dir: the detector's output folder.
        machine, cmd, pid: the alert's program.
        window_start, window_end: its 2-minute window (naive UTC), on the process
            event time as 7b groups it.
        limit: most pairs returned.

    Returns:
        :data:`PAIR_DETAIL_COLUMNS` that the output holds; empty before any pair.
    """
    import pyarrow.dataset as ds

    batches = complete_batches(output_dir / PAIRS_DIR)
    if not batches:
        return pd.DataFrame(columns=list(PAIR_DETAIL_COLUMNS))
    files = [str(f) for batch in batches for f in sorted(batch.glob("*.parquet"))]
    dataset = ds.dataset(files, format="parquet")
    present = [c for c in PAIR_DETAIL_COLUMNS if c in dataset.schema.names]
    event = ds.field("process_event_time")
    table = dataset.to_table(
        columns=present,
        filter=(ds.field("machine") == machine)
        & (ds.field("CMD") == cmd)
        & (ds.field("PID") == pid)
        & (event >= window_start.to_pydatetime())
        & (event < window_end.to_pydatetime()),
    )
    frame: pd.DataFrame = table.to_pandas()
    ordered = frame.sort_values("process_event_time", kind="stable").head(limit)
    return ordered.reset_index(drop=True)

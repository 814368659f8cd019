"""How the 7a window counts read on a chart: closed, open and cut windows, gaps (pure).

7a counts the attacking programs per machine, stream and 2-minute event-time window, and
the memory sink holds a row only for a window where something was counted. Drawn as
they are, those rows mislead: the newest window is still filling (its count is low and
the curve seems to fall off a cliff), the first window of a run began before the run's
first record (2-minute alignment: it may hold seconds of data), the last window of a
stopped run ended after its last record, a window where a machine had no attack is
missing rather than 0, and a line joins two runs straight across the idle time between
them.

:func:`classify_windows` gives each row the extent a chart should draw and a state:

- ``closed``: the 7a watermark has passed the window's end, so its count is final;
- ``open``: still filling (its count so far);
- ``cut``: closed, but a run's first record came after the window's start or the run
  stopped before its end: drawn from the first record / up to the stop only.

Within a run, a closed window where a machine counted nothing is added with count 0.
:func:`step_series` turns one machine's windows into points of a step line with breaks
(NaN) between runs and around missing windows outside any known run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

WINDOW: Final = pd.Timedelta(minutes=2)
"""7a's tumbling window (SPEC §4)."""
CLOSED: Final = "closed"
OPEN: Final = "open"
CUT: Final = "cut"
WINDOW_COLUMNS: Final = [
    "machine",
    "stream",
    "window_start",
    "window_end",
    "count",
    "shown_start",
    "shown_end",
    "state",
]


@dataclass(frozen=True)
class RunSpan:
    """The event times one detector run has seen (naive UTC, as Spark hands them over).

    Attributes:
        first: event time of the run's oldest cleaned record.
        last: event time of its newest once it stopped; None while it runs.
    """

    first: pd.Timestamp
    last: pd.Timestamp | None = None

    def overlaps(self, start: pd.Timestamp, end: pd.Timestamp) -> bool:
        return end > self.first and (self.last is None or start <= self.last)


def empty_windows() -> pd.DataFrame:
    """An empty :func:`classify_windows` result with its dtypes."""
    times = pd.Series(dtype="datetime64[ns]")
    return pd.DataFrame(
        {
            "machine": pd.Series(dtype="int64"),
            "stream": pd.Series(dtype="object"),
            "window_start": times,
            "window_end": times,
            "count": pd.Series(dtype="int64"),
            "shown_start": times,
            "shown_end": times,
            "state": pd.Series(dtype="object"),
        }
    )


def classify_windows(
    counts: pd.DataFrame,
    *,
    watermark: pd.Timestamp | None,
    spans: Sequence[RunSpan] = (),
) -> pd.DataFrame:
    """The 7a rows with the extent to draw and their state, zeros added within runs.

    Args:
        counts: 7a rows (``machine``, ``stream``, ``window_start``, ``window_end``,
            ``count``), window times naive UTC.
        watermark: the 7a query's event-time watermark (naive UTC); None before it has
            one (every window is then open).
        spans: the event-time spans of the detector's runs (oldest first); windows
            outside every span are drawn as they are, without added zeros.

    Returns:
        :data:`WINDOW_COLUMNS`, sorted by stream, machine and window start.
    """
    if counts.empty:
        return empty_windows()
    rows = counts.loc[:, ["machine", "stream", "window_start", "window_end", "count"]].copy()
    rows["count"] = rows["count"].astype("int64")
    rows = pd.concat([rows, _zeros(rows, watermark, spans)], ignore_index=True)
    closed = rows["window_end"] <= watermark if watermark is not None else False
    shown_start, shown_end = rows["window_start"].copy(), rows["window_end"].copy()
    for span in spans:
        inside = (rows["window_end"] > span.first) & (
            True if span.last is None else rows["window_start"] <= span.last
        )
        shown_start = shown_start.where(~inside, shown_start.clip(lower=span.first))
        if span.last is not None:
            shown_end = shown_end.where(~inside, shown_end.clip(upper=span.last))
    cut = (shown_start > rows["window_start"]) | (shown_end < rows["window_end"])
    rows["shown_start"], rows["shown_end"] = shown_start, shown_end
    rows["state"] = np.where(closed, np.where(cut, CUT, CLOSED), OPEN)
    ordered = rows.sort_values(["stream", "machine", "window_start"], kind="stable")
    return ordered.loc[:, WINDOW_COLUMNS].reset_index(drop=True)


def _zeros(
    rows: pd.DataFrame, watermark: pd.Timestamp | None, spans: Sequence[RunSpan]
) -> pd.DataFrame:
    """Rows of count 0 for closed windows of a run where a machine counted nothing."""
    if watermark is None or not spans:
        return rows.iloc[0:0]
    windows: set[pd.Timestamp] = set()
    for span in spans:
        end = watermark if span.last is None else min(watermark, span.last)
        start = span.first.floor(WINDOW)
        windows.update(w for w in pd.date_range(start, end, freq=WINDOW) if w + WINDOW <= watermark)
    if not windows:
        return rows.iloc[0:0]
    present = set(zip(rows["machine"], rows["stream"], rows["window_start"], strict=True))
    missing = [
        (machine, stream, window, window + WINDOW, 0)
        for machine, stream in set(zip(rows["machine"], rows["stream"], strict=True))
        for window in windows
        if (machine, stream, window) not in present
    ]
    return pd.DataFrame(
        missing, columns=["machine", "stream", "window_start", "window_end", "count"]
    ).astype({"machine": "int64", "count": "int64"})


def step_series(windows: pd.DataFrame) -> pd.DataFrame:
    """One machine's closed and cut windows as points of a step line (``steps-post``).

    Each window gives a point at its shown start; a run of back-to-back windows ends
    with a point at the last one's shown end (so its step has a width) and a NaN point
    that breaks the line before the next run.

    Args:
        windows: :func:`classify_windows` rows of one machine and stream.

    Returns:
        Columns ``time`` and ``count`` (float: NaN at the breaks), time-ordered.
    """
    final = windows[windows["state"] != OPEN].sort_values("window_start")
    times: list[pd.Timestamp] = []
    values: list[float] = []
    previous_end: pd.Timestamp | None = None
    for row in final.itertuples(index=False):
        adjacent = previous_end is not None and row.shown_start == previous_end
        if previous_end is not None and not adjacent:
            times += [previous_end, previous_end]
            values += [values[-1], np.nan]
        times.append(row.shown_start)
        values.append(float(row.count))
        previous_end = row.shown_end
    if previous_end is not None:
        times.append(previous_end)
        values.append(values[-1])
    return pd.DataFrame(
        {"time": pd.Series(times, dtype="datetime64[ns]"), "count": pd.Series(values, dtype=float)}
    )


def top_machines(windows: pd.DataFrame, limit: int) -> list[int]:
    """The ``limit`` machines with the most attacks counted (ties: lower id first)."""
    totals = windows.groupby("machine")["count"].sum().reset_index()
    ranked = totals.sort_values(["count", "machine"], ascending=[False, True])
    return [int(m) for m in ranked["machine"].head(limit)]

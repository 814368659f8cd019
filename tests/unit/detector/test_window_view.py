"""What a reader of the Detection charts would conclude, from plain 7a rows."""

from __future__ import annotations

import math

import pandas as pd

from pipelines.detector.window_view import (
    CLOSED,
    CUT,
    OPEN,
    WINDOW,
    RunSpan,
    classify_windows,
    step_series,
    top_machines,
)

T0 = pd.Timestamp("2026-12-06 10:00")  # a window boundary (2-minute alignment)


def rows(*items: tuple[int, str, pd.Timestamp, int]) -> pd.DataFrame:
    frame = pd.DataFrame(items, columns=["machine", "stream", "window_start", "count"])
    frame["window_end"] = frame["window_start"] + WINDOW
    return frame


def one(windows: pd.DataFrame, machine: int, start: pd.Timestamp) -> pd.Series:
    match = windows[(windows["machine"] == machine) & (windows["window_start"] == start)]
    assert len(match) == 1, match
    return match.iloc[0]


def test_the_newest_window_is_open_until_the_watermark_passes_its_end() -> None:
    counts = rows((4, "process", T0, 9), (4, "process", T0 + WINDOW, 2))
    windows = classify_windows(counts, watermark=T0 + WINDOW + pd.Timedelta(seconds=50))
    assert one(windows, 4, T0)["state"] == CLOSED
    assert one(windows, 4, T0 + WINDOW)["state"] == OPEN
    # The open window's low count is not on the line: it ends with the final 9.
    line = step_series(windows)
    assert list(line["count"]) == [9.0, 9.0]
    assert list(line["time"]) == [T0, T0 + WINDOW]


def test_no_watermark_yet_means_every_window_is_still_open() -> None:
    windows = classify_windows(rows((4, "process", T0, 3)), watermark=None)
    assert set(windows["state"]) == {OPEN}
    assert step_series(windows).empty


def test_a_window_that_began_before_the_runs_first_record_is_drawn_from_that_record() -> None:
    first = T0 + pd.Timedelta(seconds=117)  # three seconds of data in the first window
    counts = rows((4, "process", T0, 1), (4, "process", T0 + WINDOW, 8))
    windows = classify_windows(counts, watermark=T0 + 3 * WINDOW, spans=[RunSpan(first)])
    first_window = one(windows, 4, T0)
    assert first_window["state"] == CUT
    assert first_window["shown_start"] == first
    assert one(windows, 4, T0 + WINDOW)["state"] == CLOSED
    line = step_series(windows)
    assert line["time"].min() == first  # nothing drawn before the run's first record


def test_a_stopped_runs_last_window_ends_at_its_last_record_and_runs_do_not_join() -> None:
    run_one = RunSpan(T0, T0 + pd.Timedelta(seconds=150))
    run_two = RunSpan(T0 + 5 * WINDOW)  # started again six minutes later, still running
    counts = rows(
        (4, "process", T0, 5),
        (4, "process", T0 + WINDOW, 4),
        (4, "process", T0 + 5 * WINDOW, 6),
    )
    windows = classify_windows(counts, watermark=T0 + 7 * WINDOW, spans=[run_one, run_two])
    cut = one(windows, 4, T0 + WINDOW)
    assert cut["state"] == CUT and cut["shown_end"] == T0 + pd.Timedelta(seconds=150)
    # No zeros invented for the idle time between the runs.
    idle = windows[
        (windows["window_start"] > T0 + WINDOW) & (windows["window_start"] < T0 + 5 * WINDOW)
    ]
    assert idle.empty, idle
    line = step_series(windows)
    gap = line[line["count"].isna()]
    assert len(gap) == 1 and gap["time"].iloc[0] == T0 + pd.Timedelta(seconds=150)
    after = line[line["time"] > gap["time"].iloc[0]]
    assert after["time"].iloc[0] == T0 + 5 * WINDOW


def test_a_closed_window_of_a_run_where_a_machine_counted_nothing_is_zero() -> None:
    counts = rows(
        (4, "process", T0, 5),
        (5, "process", T0, 2),
        (5, "process", T0 + WINDOW, 3),
        (4, "process", T0 + 2 * WINDOW, 7),
    )
    windows = classify_windows(counts, watermark=T0 + 3 * WINDOW, spans=[RunSpan(T0)])
    quiet = one(windows, 4, T0 + WINDOW)
    assert (quiet["count"], quiet["state"]) == (0, CLOSED)
    line = step_series(windows[windows["machine"] == 4])
    assert list(line["count"]) == [5.0, 0.0, 7.0, 7.0]
    assert not line["count"].isna().any()


def test_zeros_are_added_per_stream_only_for_machines_seen_in_that_stream() -> None:
    counts = rows((4, "process", T0, 5), (5, "memory", T0 + WINDOW, 1))
    windows = classify_windows(counts, watermark=T0 + 2 * WINDOW, spans=[RunSpan(T0)])
    pairs = set(zip(windows["machine"], windows["stream"], strict=True))
    assert pairs == {(4, "process"), (5, "memory")}
    assert one(windows[windows["stream"] == "memory"], 5, T0)["count"] == 0


def test_missing_windows_outside_any_known_run_break_the_line() -> None:
    # Restored from a checkpoint: no span known, windows two apart stay apart.
    counts = rows((4, "process", T0, 5), (4, "process", T0 + 2 * WINDOW, 7))
    line = step_series(classify_windows(counts, watermark=T0 + 4 * WINDOW))
    assert math.isnan(line["count"].iloc[2])
    assert list(line["time"]) == [T0, T0 + WINDOW, T0 + WINDOW, T0 + 2 * WINDOW, T0 + 3 * WINDOW]


def test_top_machines_are_those_with_the_most_attacks_counted() -> None:
    counts = rows((1, "process", T0, 1), (2, "process", T0, 9), (3, "process", T0, 4))
    windows = classify_windows(counts, watermark=T0 + WINDOW)
    assert top_machines(windows, 2) == [2, 3]

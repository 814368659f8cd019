"""Detection tab: start/stop the Spark detector; its 7a counts, attack events and quality.

The curves are the 7a memory sink read back with Spark SQL (the feed refreshes it every
few seconds): one chart per stream (process, memory), one curve per machine, x = the
2-minute window's start, y = approximate distinct ``CMD_PID`` predicted as attack. The
streams are drawn apart rather than summed, because a program seen by both would count
twice in a sum. Beside them: the latest window's count per machine and stream (the same
numbers as the newest point of each curve), the newest attack events (7b, one row per
machine, CMD, PID and window), the detector's totals, and detection quality against
ground truth when the replayed data has it.
"""

from __future__ import annotations

from functools import partial

import holoviews as hv
import holoviews.plotting.bokeh
import pandas as pd
import panel as pn

from pipelines.live.pipeline import machine_colour
from workbench.charts import session_chart
from workbench.feeds.detection import DetectionFeed
from workbench.tabs.series_charts import series_chart, start_stop_buttons, table_pane

CHART_HEIGHT_PX = 320
CHART_WIDTH_PX = 640
WAITING = "Waiting for data…"
STREAM_NAMES = ("process", "memory")


def state_banner(state: str, message: str, failure: str) -> pn.pane.Alert:
    """The detector's state as a coloured banner (the failure text when it failed)."""
    if state == "failed":
        return pn.pane.Alert(f"**Detector failed.** {failure}", alert_type="danger")
    if state == "starting":
        return pn.pane.Alert(
            "Starting the detector (Spark session, models, queries)…", alert_type="info"
        )
    if state == "running":
        return pn.pane.Alert(f"**Detector running.** {message}", alert_type="success")
    # A graceful stop's message starts with "Detector stopped…" itself (what remains).
    text = message if message.startswith("Detector stopped") else f"Detector stopped. {message}"
    return pn.pane.Alert(text, alert_type="secondary")


def counts_chart(counts: pd.DataFrame | None, stream: str) -> hv.Overlay:
    """One stream's 7a curves: one per machine, x = window start, y = count (pure)."""
    rows = None if counts is None else counts[counts["stream"] == stream]
    return series_chart(
        rows,
        x=("window_start", "window start (UTC)"),
        y=("count", "distinct CMD_PID predicted attack"),
        group="machine",
        title=f"{stream.capitalize()}: attacking programs per 2-min window",
        height=CHART_HEIGHT_PX,
        width=CHART_WIDTH_PX,
        colour=machine_colour,
        label=lambda machine: f"machine {machine}",
    )


def latest_counts_table(counts: pd.DataFrame | None) -> pn.viewable.Viewable:
    """The newest window's count per machine and stream, or the waiting line."""
    from pipelines.detector.readback import latest_window_counts

    if counts is None or counts.empty:
        return pn.pane.Markdown(f"_{WAITING} (no attack counted in any window yet)_")
    latest = latest_window_counts(counts)
    shown = latest.assign(window_start=latest["window_start"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    return pn.Column(
        pn.pane.Markdown("**Latest window per machine**"),
        table_pane(shown, "latest-counts"),
    )


def alerts_table(alerts: pd.DataFrame | None, alerts_total: int) -> pn.viewable.Viewable:
    """The newest attack events (one row per machine, CMD, PID, window), or waiting."""
    if alerts is None or alerts.empty:
        return pn.pane.Markdown(f"**Attack events** · _{WAITING} (none yet)_")
    shown = alerts.loc[
        :,
        [
            "machine",
            "CMD",
            "PID",
            "window_start",
            "pair_count",
            "severity",
            "severity_score",
            "first_process_event_time",
            "first_memory_event_time",
        ],
    ].copy()
    for column in ("window_start", "first_process_event_time", "first_memory_event_time"):
        shown[column] = pd.to_datetime(shown[column]).dt.strftime("%Y-%m-%d %H:%M:%S")
    shown["severity_score"] = shown["severity_score"].round(3)
    return pn.Column(
        pn.pane.Markdown(
            f"**Attack events** (newest {len(shown)}; {alerts_total:,} alerts raised in this run)"
        ),
        table_pane(shown, "attack-events"),
    )


def totals_table(totals: pd.DataFrame | None, refreshed_at: str) -> pn.viewable.Viewable:
    """Records, quarantined, scored and attacks per stream since the detector started."""
    if totals is None or totals.empty:
        return pn.pane.Markdown(f"**Totals** · _{WAITING}_")
    return pn.Column(
        pn.pane.Markdown(f"**Totals since start** (read back at {refreshed_at})"),
        table_pane(totals, "totals-table"),
    )


def quality_table(quality: pd.DataFrame | None, note: str) -> pn.viewable.Viewable:
    """Precision, recall and F1 per stream and of the attack events, or why there are none."""
    if quality is None or quality.empty:
        return pn.pane.Markdown(f"**Detection quality** · _{note}_")
    return pn.Column(
        pn.pane.Markdown(f"**Detection quality** ({note})"),
        table_pane(quality, "quality-table"),
    )


def detector_controls(feed: DetectionFeed) -> pn.Row:
    """The "Start detector" / "Stop detector" pair."""
    return start_stop_buttons(feed, "detector", width=150)


def detection_tab(feed: DetectionFeed) -> pn.viewable.Viewable:
    """The Detection tab's content bound to ``feed`` (displayable in Jupyter too)."""
    charts = pn.Column(
        *[
            pn.pane.HoloViews(
                session_chart(lambda: feed.counts, partial(counts_chart, stream=stream)),
                width=CHART_WIDTH_PX + 20,
                height=CHART_HEIGHT_PX + 20,
                linked_axes=False,
            )
            for stream in STREAM_NAMES
        ],
    )
    side = pn.Column(
        pn.bind(latest_counts_table, feed.param.counts),
        pn.bind(totals_table, feed.param.totals, feed.param.refreshed_at),
        pn.bind(quality_table, feed.param.quality, feed.param.quality_note),
        width=420,
    )
    return pn.Column(
        detector_controls(feed),
        pn.bind(state_banner, feed.param.state, feed.param.message, feed.param.failure),
        pn.Row(charts, side),
        pn.bind(alerts_table, feed.param.alerts, feed.param.alerts_total),
        sizing_mode="stretch_width",
        name="Detection",
    )

"""Health tab: the detector's health records (one per ingest micro-batch and stream).

A table of the newest record per stream (records/s, lag, watermark, batch duration,
quarantined, scored, attacks, alerts so far) and two charts over time, one curve per
stream: records per second of batch work, and lag (messages of the source topic not
read yet when the batch ended). The data come from the health topic, so the tab also
shows a detector running elsewhere (``stophacking detect``) on the same cluster.

Above the table, the workbench's own detector now (records, scored, alerts): the same
:class:`~workbench.feeds.detection.DetectionFeed` parameters as the sidebar's detector
line and the Detection tab, so the three agree at any moment; a health record's totals
are as of its batch, one behind by design.
"""

from __future__ import annotations

from functools import partial

import holoviews as hv
import holoviews.plotting.bokeh
import pandas as pd
import panel as pn

from pipelines.detector.health_reader import HEALTH_COLUMNS
from workbench.charts import session_chart
from workbench.feeds.detection import DetectionFeed
from workbench.feeds.health import HealthFeed
from workbench.tabs.series_charts import series_chart, table_pane

CHART_HEIGHT_PX = 280
CHART_WIDTH_PX = 560
STREAM_COLOURS = {"process": "#1d4ed8", "memory": "#b91c1c"}
WAITING = "Waiting for data…"
LATEST_COLUMNS = ["stream", *(column for column in HEALTH_COLUMNS if column != "stream")]


def health_banner(state: str, message: str, topic: str, detector: str = "running") -> pn.pane.Alert:
    """The reader's state: waiting, live, broker down, stopped.

    ``detector`` is the workbench's detector state: the reader may go on reading the
    topic, but while no detector runs nothing new arrives, and the tab says so rather
    than "Live" over frozen figures.
    """
    if state == "broker down":
        return pn.pane.Alert(f"**Kafka is not reachable.** {message}", alert_type="danger")
    if state == "waiting":
        return pn.pane.Alert(
            f"{WAITING} (reading `{topic}`: the detector publishes a record per micro-batch)",
            alert_type="info",
        )
    if state == "stopped":
        return pn.pane.Alert(f"Stopped: {message}", alert_type="secondary")
    if detector != "running":
        return pn.pane.Alert(
            f"**Detector {detector}**: the records below are its last; new ones arrive "
            f"once it runs again ({message}).",
            alert_type="secondary",
        )
    return pn.pane.Alert(f"Live: {message}", alert_type="success")


def detector_now_line(totals: pd.DataFrame | None, alerts_total: int) -> str:
    """The workbench's detector now: records read and scored since it started, alerts
    raised (pure; ``totals`` as :func:`workbench.feeds.detection.totals_frame` gives them).
    """
    records = 0 if totals is None or totals.empty else int(totals["records"].sum())
    scored = 0 if totals is None or totals.empty else int(totals["scored"].sum())
    return (
        f"**Detector now**: {records:,} records read, {scored:,} scored, "
        f"{alerts_total:,} alerts (the table's `alerts_at_batch` is as of each stream's "
        "last micro-batch)"
    )


def latest_table(latest: pd.DataFrame | None) -> pn.viewable.Viewable:
    """The newest health record of each stream, or the waiting line."""
    if latest is None or latest.empty:
        return pn.pane.Markdown(f"_{WAITING} (no health record yet)_")
    shown = latest.loc[:, LATEST_COLUMNS].copy()
    shown["at"] = shown["at"].dt.strftime("%H:%M:%S")
    shown["lag"] = shown["lag"].map(lambda v: "-" if pd.isna(v) else f"{int(v):,}")
    shown["watermark"] = shown["watermark"].map(lambda v: v or "-")
    # The total as that batch's record carried it: the sidebar's is the detector's now.
    shown = shown.rename(columns={"alerts_total": "alerts_at_batch"})
    return pn.Column(
        pn.pane.Markdown("**Latest micro-batch per stream** (times UTC)"),
        table_pane(shown, "health-latest"),
    )


def history_chart(history: pd.DataFrame | None, column: str, label: str) -> hv.Overlay:
    """One curve per stream of ``column`` over time (pure)."""
    return series_chart(
        history,
        x=("at", "batch end (UTC)"),
        y=(column, label),
        group="stream",
        title=label,
        height=CHART_HEIGHT_PX,
        width=CHART_WIDTH_PX,
        colour=lambda stream: STREAM_COLOURS.get(stream, "#6b7280"),
    )


def health_tab(
    feed: HealthFeed, *, start: bool = True, detection: DetectionFeed | None = None
) -> pn.viewable.Viewable:
    """The Health tab's content bound to ``feed`` (displayable in Jupyter too).

    Args:
        feed: the shared health feed.
        start: start its reader if it does not run yet (once per process).
        detection: the workbench's detector, whose state the banner follows and whose
            counts now the tab shows above the table (None: a detector elsewhere,
            assumed running; no such line).
    """
    if start:
        feed.ensure_started()
    charts = pn.Row(
        *[
            pn.pane.HoloViews(
                session_chart(
                    lambda: feed.history, partial(history_chart, column=column, label=label)
                ),
                width=CHART_WIDTH_PX + 20,
                height=CHART_HEIGHT_PX + 20,
                linked_axes=False,
            )
            for column, label in (
                ("records_per_s", "records/s of batch work"),
                ("lag", "lag (messages not read yet)"),
            )
        ],
    )
    # The detector's counts from the feed the sidebar and the Detection tab read.
    now = (
        []
        if detection is None
        else [
            pn.pane.Markdown(
                pn.bind(detector_now_line, detection.param.totals, detection.param.alerts_total),
                css_classes=["detector-now"],
            )
        ]
    )
    return pn.Column(
        pn.bind(
            health_banner,
            feed.param.state,
            feed.param.message,
            feed.param.topic,
            "running" if detection is None else detection.param.state,
        ),
        *now,
        pn.bind(latest_table, feed.param.latest),
        charts,
        sizing_mode="stretch_width",
        name="Health",
    )

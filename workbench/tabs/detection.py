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

import html
from functools import partial

import holoviews as hv
import holoviews.plotting.bokeh
import numpy as np
import pandas as pd
import panel as pn

from pipelines.detector.window_view import OPEN, empty_windows, step_series, top_machines
from pipelines.live.pipeline import machine_colour
from workbench.charts import REDRAW_PERIOD_MS, session_chart
from workbench.feeds.detection import DetectionFeed
from workbench.feeds.worker import submit
from workbench.tabs.series_charts import start_stop_buttons, table_pane

CHART_HEIGHT_PX = 320
CHART_WIDTH_PX = 640
WAITING = "Waiting for data…"
STREAM_NAMES = ("process", "memory")
TOP_MACHINES = 10
"""Machines drawn per chart (those with the most attacks): a fleet's 500 lines are unreadable."""
WAITING_KEY = "waiting for data"
OPEN_LABEL = "open window: count so far"
ALERTS_HEIGHT_PX = 260


def state_banner(
    state: str, message: str, failure: str, delay: str = "", level: str = ""
) -> pn.pane.Alert:
    """The detector's state as a coloured banner (the failure text when it failed).

    While it runs, the banner leads with how far the detections trail the newest record,
    green while it keeps up, amber when batches take longer than the trigger, red when
    the backlog grows.
    """
    if state == "failed":
        return pn.pane.Alert(f"**Detector failed.** {failure}", alert_type="danger")
    if state == "starting":
        return pn.pane.Alert(
            "Starting the detector (Spark session, models, queries)…", alert_type="info"
        )
    if state == "running":
        alert_type = {"behind": "warning", "growing": "danger"}.get(level, "success")
        lead = f"**Detector running**: {delay}." if delay else "**Detector running.**"
        return pn.pane.Alert(f"{lead} {message}", alert_type=alert_type)
    if state == "stopping":
        return pn.pane.Alert(f"**Detector stopping.** {message}", alert_type="warning")
    # A graceful stop's message starts with "Detector stopped…" itself (what remains).
    text = message if message.startswith("Detector stopped") else f"Detector stopped. {message}"
    return pn.pane.Alert(text, alert_type="secondary")


def stream_rows(windows: pd.DataFrame | None, stream: str) -> pd.DataFrame | None:
    """The rows of one stream's chart (its chart redraws only when they change)."""
    return None if windows is None else windows[windows["stream"] == stream]


def counts_chart(windows: pd.DataFrame | None, stream: str) -> hv.Overlay:
    """One stream's 7a counts as a step line per machine, the open windows apart (pure).

    Args:
        windows: :func:`pipelines.detector.window_view.classify_windows` rows (None:
            nothing read back yet).
        stream: ``process`` or ``memory``.

    Returns:
        An ``NdOverlay`` of step lines keyed ``machine N`` (closed and cut windows: a
        window's count spans its shown extent, breaks where nothing was running) × a
        scatter of the open windows' counts so far (hollow markers at their start).
        At most :data:`TOP_MACHINES` machines are drawn, those with the most attacks;
        the title says how many machines there are.
    """

    rows = None if windows is None else windows[windows["stream"] == stream]
    # The busiest machines, listed in id order (as the other tabs list them).
    machines = [] if rows is None or rows.empty else sorted(top_machines(rows, TOP_MACHINES))
    x_dim = hv.Dimension("time", label="2-minute window (UTC)")
    y_dim = hv.Dimension("count", label="distinct CMD_PID predicted attack")
    lines: dict[str, hv.Curve] = {}
    for machine in machines:
        # Every drawn machine has a line, empty while all its windows are open: the
        # legend then names the colour of its hollow markers too.
        steps = step_series(rows[rows["machine"] == machine])  # type: ignore[index]
        name = machine_label(machine)
        lines[name] = hv.Curve(steps, x_dim, y_dim, label=name)
    open_rows = (
        windows_of_state(rows, OPEN, machines)
        if rows is not None and not rows.empty
        else empty_windows()
    )
    opened = pd.DataFrame(
        {
            "time": open_rows["shown_start"].astype("datetime64[ns]"),
            "count": open_rows["count"].astype(float),
            "machine": open_rows["machine"].map(machine_label).astype(object),
            "colour": open_rows["machine"].map(lambda m: machine_colour(str(m))).astype(object),
        }
    )
    waiting = not lines and opened.empty
    if waiting:
        empty = pd.DataFrame(
            {"time": pd.Series(dtype="datetime64[ns]"), "count": pd.Series(dtype="float64")}
        )
        lines[WAITING_KEY] = hv.Curve(empty, x_dim, y_dim, label=WAITING_KEY)
    # Fixed group and labels: the DynamicMap redrawing it needs the same layer types.
    steps_overlay = hv.NdOverlay(
        lines, kdims=["machine"], group="Windows", label="Closed", sort=False
    )
    partial = hv.Scatter(
        opened, x_dim, [y_dim, "machine", "colour"], group="Windows", label=OPEN_LABEL
    )
    count_machines = 0 if rows is None else rows["machine"].nunique()
    title = f"{stream.capitalize()}: attacking programs per 2-min window"
    if count_machines > TOP_MACHINES:
        title += f" (top {TOP_MACHINES} of {count_machines} machines)"
    if waiting:
        title += " (waiting for data)"
    if "bokeh" in hv.Store.renderers:
        for key, line in lines.items():
            tint = "#9ca3af" if key == WAITING_KEY else machine_colour(key.split()[-1])
            line.opts(
                color=tint, line_width=2, interpolation="steps-post", tools=["hover"],
                framewise=True, padding=0.05, backend="bokeh",
            )  # fmt: skip
        partial.opts(
            color="colour", fill_alpha=0.0, line_width=2, size=9, marker="circle",
            tools=["hover"], framewise=True, backend="bokeh",
        )  # fmt: skip
    chart = steps_overlay * partial
    if "bokeh" in hv.Store.renderers:
        chart = chart.opts(
            title=title,
            height=CHART_HEIGHT_PX,
            width=CHART_WIDTH_PX,
            legend_position="right",
            show_grid=True,
            framewise=True,
            backend="bokeh",
        )
    return chart


def windows_of_state(rows: pd.DataFrame, state: str, machines: list[int]) -> pd.DataFrame:
    """The rows in ``state`` of the given machines."""
    return rows[(rows["state"] == state) & rows["machine"].isin(machines)]


def machine_label(machine: object) -> str:
    """A machine as the other tabs name it: ``machine 4``."""
    return f"machine {machine}"


def latest_counts_table(windows: pd.DataFrame | None) -> pn.viewable.Viewable:
    """The newest window's count per machine and stream, open or final, or the waiting line.

    Args:
        windows: :func:`pipelines.detector.window_view.classify_windows` rows.
    """
    counted = None if windows is None else windows[windows["count"] > 0]
    if counted is None or counted.empty:
        return pn.pane.Markdown(f"_{WAITING} (no attack counted in any window yet)_")
    newest = counted.sort_values("window_start").groupby(["machine", "stream"]).tail(1)
    newest = newest.sort_values(["machine", "stream"])
    shown = pd.DataFrame(
        {
            "machine": newest["machine"].to_numpy(),
            "stream": newest["stream"].to_numpy(),
            "window_start": newest["window_start"].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(),
            "count": newest["count"].to_numpy(),
            "window": np.where(newest["state"] == OPEN, "open", "final").tolist(),
        }
    )
    return pn.Column(
        pn.pane.Markdown("**Latest window per machine**"),
        table_pane(shown, "latest-counts"),
    )


ALERT_TITLES: dict[str, str] = {
    "severity": "Severity",
    "machine": "Machine",
    "CMD": "Program (CMD)",
    "PID": "PID",
    "window_start": "Window start (UTC)",
    "pair_count": "Process–memory pairs",
    "severity_score": "Score (0–1)",
    "first_process_event_time": "First process record (UTC)",
    "first_memory_event_time": "First memory record (UTC)",
}
"""The alerts view's columns, in order, with their headers (units where they have one)."""
SEVERITY_COLOURS: dict[str, str] = {"high": "#fecaca", "medium": "#fde68a", "low": "#e5e7eb"}
SEVERITY_RANK: dict[str, int] = {"high": 0, "medium": 1, "low": 2}
ALERT_KEY = ("machine", "CMD", "PID", "window_start")
"""What names one alert (the alerts topic's unit: machine, program, PID and window)."""


def alerts_frame(alerts: pd.DataFrame | None) -> pd.DataFrame:
    """The attack events as the alerts view shows them: newest first, readable (pure).

    Times as ``YYYY-MM-DD HH:MM:SS`` text (UTC), the score to 3 decimals, the columns
    of :data:`ALERT_TITLES` in that order; empty (same columns) before the first alert.
    """
    columns = list(ALERT_TITLES)
    if alerts is None or alerts.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    shown = alerts.loc[:, columns].copy()
    shown = shown.sort_values(
        ["window_start", "first_process_event_time"], ascending=False, kind="stable"
    )
    for column in ("window_start", "first_process_event_time", "first_memory_event_time"):
        shown[column] = pd.to_datetime(shown[column]).dt.strftime("%Y-%m-%d %H:%M:%S")
    shown["severity_score"] = shown["severity_score"].astype(float).round(3)
    return shown.reset_index(drop=True)


def new_high_alerts(before: pd.DataFrame | None, after: pd.DataFrame | None) -> pd.DataFrame:
    """High-severity alerts in ``after`` that ``before`` did not hold (pure)."""
    if after is None or after.empty:
        return alerts_frame(None)
    key = list(ALERT_KEY)
    high = after[after["severity"] == "high"]
    if before is None or before.empty:
        return high
    seen = set(before.loc[:, key].itertuples(index=False, name=None))
    fresh = [row not in seen for row in high.loc[:, key].itertuples(index=False, name=None)]
    return high[fresh]


def alert_notice(alert: pd.Series) -> str:
    """One line for a high-severity alert's notification (HTML: the program escaped)."""
    return (
        f"High-severity attack: {html.escape(str(alert['CMD']))} (PID {alert['PID']}) on machine "
        f"{alert['machine']}, window {alert['window_start']} UTC"
    )


def _severity_style(value: object) -> str:
    colour = SEVERITY_COLOURS.get(str(value))
    return f"background-color: {colour}; font-weight: bold" if colour else ""


def alerts_view(feed: DetectionFeed) -> pn.Column:
    """The attack events, newest first, sortable and filterable (severity, machine, program).

    One table per session, kept across updates (its sorting and filters stay): the
    session's own periodic callback hands it the feed's newest alerts, and pops up a
    notification for each new high-severity one.
    """
    table = pn.widgets.Tabulator(
        alerts_frame(feed.alerts),
        selectable=1,
        titles=ALERT_TITLES,
        show_index=False,
        disabled=True,
        layout="fit_data_table",
        height=ALERTS_HEIGHT_PX,
        sizing_mode="stretch_width",
        header_filters={
            "severity": {"type": "list", "valuesLookup": True, "clearable": True},
            "machine": {"type": "input", "func": "=", "placeholder": "machine"},
            "CMD": {"type": "input", "func": "like", "placeholder": "program"},
        },
        css_classes=["attack-events"],
    )
    table.style.map(_severity_style, subset=["severity"])  # type: ignore[union-attr]
    # Bound like the sidebar's alert count: both change with the same read-back.
    heading = pn.pane.Markdown(pn.bind(_alerts_heading, feed.param.alerts, feed.param.alerts_total))
    last = {"alerts": feed.alerts}
    detailed: dict[str, tuple[object, ...] | None] = {"key": None}  # the alert shown below

    def pull() -> None:
        alerts = feed.alerts
        if alerts is last["alerts"]:
            return
        fresh = new_high_alerts(last["alerts"], alerts)
        last["alerts"] = alerts
        shown = alerts_frame(alerts)
        table.value = shown
        # The selection is a row position: newer alerts above would move it onto another
        # alert than the detail shows. It follows the alert (none once it left the rows).
        table.selection = rows_of(shown, detailed["key"])
        notifications = pn.state.notifications
        if notifications is not None:
            for _, alert in fresh.head(3).iterrows():
                notifications.error(alert_notice(alert), duration=10_000)

    pn.state.add_periodic_callback(pull, period=REDRAW_PERIOD_MS)
    detail = pn.Column(
        pn.pane.Markdown(DETAIL_PROMPT), sizing_mode="stretch_width", css_classes=["alert-detail"]
    )
    doc = pn.state.curdoc

    def on_select(event: object) -> None:
        rows = getattr(event, "new", None)
        if not rows:
            return
        alert = table.value.iloc[rows[0]]
        if alert_key(alert) == detailed["key"]:
            return  # the same alert, its row moved: its detail is on show
        detailed["key"] = alert_key(alert)
        detail.objects = [pn.pane.Markdown(f"{alert_title(alert)} · _reading its pairs…_")]

        def load() -> None:
            try:
                pairs = feed.pairs_for(
                    int(alert["machine"]), str(alert["CMD"]), int(alert["PID"]),
                    pd.Timestamp(alert["window_start"]),
                )  # fmt: skip
                shown: list[object] = [pn.pane.Markdown(pairs_heading(alert, pairs))]
                if not pairs.empty:
                    shown.append(table_pane(pairs_frame(pairs), "alert-pairs"))
            except Exception as exc:  # an unreadable output: say so in the pane
                shown = [
                    pn.pane.Markdown(f"{alert_title(alert)} · could not read its pairs: {exc}")
                ]

            def show() -> None:
                detail.objects = shown

            if doc is not None and doc.session_context is not None:
                doc.add_next_tick_callback(show)
            else:
                show()

        submit(load)

    table.param.watch(on_select, "selection")
    return pn.Column(heading, table, detail, sizing_mode="stretch_width")


def alert_key(alert: pd.Series) -> tuple[object, ...]:
    """The columns of :data:`ALERT_KEY` of one alerts-view row."""
    return tuple(alert[column] for column in ALERT_KEY)


def rows_of(shown: pd.DataFrame, key: tuple[object, ...] | None) -> list[int]:
    """The position of the alert ``key`` in the alerts view's rows, as a selection (pure):
    ``[i]``, or ``[]`` when no row is that alert (or ``key`` is None)."""
    if key is None or shown.empty:
        return []
    hits = (shown.loc[:, list(ALERT_KEY)] == pd.Series(key, index=list(ALERT_KEY))).all(axis=1)
    return [int(i) for i in np.flatnonzero(hits.to_numpy())[:1]]


DETAIL_PROMPT = "_Click an alert to see the process and memory records paired in it._"


def alert_title(alert: pd.Series) -> str:
    """The alert in Markdown; the program escaped (a CMD such as ``<dhclient>`` would
    otherwise be taken for an HTML tag and vanish)."""
    return (
        f"**{alert['severity'].capitalize()} alert**: {html.escape(str(alert['CMD']))} "
        f"(PID {alert['PID']}) "
        f"on machine {alert['machine']}, window {alert['window_start']} UTC"
    )


def pairs_heading(alert: pd.Series, pairs: pd.DataFrame) -> str:
    """The detail pane's first line: the alert, and how many pairs are shown."""
    if pairs.empty:
        return f"{alert_title(alert)} · no pair found in the pairs output"
    return (
        f"{alert_title(alert)} · {len(pairs)} of its {alert['pair_count']} process–memory "
        "pairs (a process and a memory record of the program less than 30 s apart)"
    )


PAIR_TITLES: dict[str, str] = {
    "process_event_time": "Process record (UTC)",
    "memory_event_time": "Memory record (UTC)",
    "process_attack_probability": "Process P(attack)",
    "memory_attack_probability": "Memory P(attack)",
    "process_CPU": "CPU (s)",
    "process_State": "State",
    "memory_RSIZE": "RSIZE (KiB)",
    "memory_VGROW": "VGROW (KiB)",
}


def pairs_frame(pairs: pd.DataFrame) -> pd.DataFrame:
    """The pairs as the detail pane shows them: readable headers, times, rounding (pure)."""
    shown = pairs.copy()
    for column in ("process_event_time", "memory_event_time"):
        if column in shown:
            shown[column] = pd.to_datetime(shown[column]).dt.strftime("%Y-%m-%d %H:%M:%S")
    for column in ("process_attack_probability", "memory_attack_probability"):
        if column in shown:
            shown[column] = shown[column].astype(float).round(3)
    return shown.rename(columns=PAIR_TITLES)


def _alerts_heading(alerts: pd.DataFrame | None, alerts_total: int) -> str:
    if alerts is None or alerts.empty:
        return f"**Attack events** · _{WAITING} (none yet)_"
    high = int((alerts["severity"] == "high").sum())
    return (
        f"**Attack events**: {alerts_total:,} raised in this run; the newest {len(alerts)} "
        f"here ({high} high severity), newest first. Filter by severity, machine or "
        "program in the headers; click a header to sort."
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
                session_chart(
                    lambda: feed.windows,
                    partial(counts_chart, stream=stream),
                    select=partial(stream_rows, stream=stream),
                ),
                width=CHART_WIDTH_PX + 20,
                height=CHART_HEIGHT_PX + 20,
                linked_axes=False,
            )
            for stream in STREAM_NAMES
        ],
    )
    side = pn.Column(
        pn.bind(latest_counts_table, feed.param.windows),
        pn.bind(totals_table, feed.param.totals, feed.param.refreshed_at),
        pn.bind(quality_table, feed.param.quality, feed.param.quality_note),
        width=420,
    )
    return pn.Column(
        detector_controls(feed),
        pn.bind(
            state_banner,
            feed.param.state,
            feed.param.message,
            feed.param.failure,
            feed.param.delay,
            feed.param.delay_level,
        ),
        # Alerts first: above the charts, visible without scrolling.
        alerts_view(feed),
        pn.Row(charts, side),
        sizing_mode="stretch_width",
        name="Detection",
    )

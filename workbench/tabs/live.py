"""Process and Memory tabs: the live per-machine count curves with a table beside them.

The curves and the heat map follow the feed's shared Buffer (the streaming DataFrame the
streamz pipeline fills) on the session's own loop, and each new sample reaches the
browser as the new points only (:mod:`workbench.live_charts`); the side column shows
the latest counts per
machine, the pipeline's state ("waiting for data…", broker down) and the malformed
records. Every piece is a Panel object, so a notebook can display the same tab.
"""

from __future__ import annotations

import time

import holoviews.plotting.bokeh  # noqa: F401  (the tab draws with Bokeh)
import pandas as pd
import panel as pn

from pipelines.live.pipeline import CHART_MACHINES, HEAT_HEIGHT_PX
from workbench.feeds.live import LiveFeed

CHART_HEIGHT_PX = 440
MACHINES_PERIOD_MS = 2000
TABLE_ROWS = 20
"""Rows of the counts table beside the chart (a fleet's busiest)."""
"""How often a session offers the machines seen so far in its picker."""
SIDE_WIDTH_PX = 320


def filling_note(started_at: float | None, window_s: float, now: float) -> str:
    """While the trailing window is younger than its length: why the counts climb."""
    if started_at is None or now - started_at >= window_s:
        return ""
    return (
        f" The trailing {window_s / 60:g}-minute window is still filling (started "
        f"{now - started_at:.0f} s ago): the counts climb until it is full."
    )


def _banner(
    state: str,
    message: str,
    topic: str,
    started_at: float | None = None,
    window_s: float = 0.0,
    latest_at: str = "",
) -> pn.viewable.Viewable:
    # ``latest_at`` changes at every sample: bound only so that the filling note's
    # "started N s ago" is redrawn with it.
    if state == "broker down":
        return pn.pane.Alert(f"**Kafka is not reachable.** {message}", alert_type="danger")
    if state == "waiting":
        return pn.pane.Alert(f"Waiting for data… (reading `{topic}`)", alert_type="info")
    if state == "stopped":
        return pn.pane.Alert(f"Stopped: {message}", alert_type="secondary")
    note = filling_note(started_at, window_s, time.time())
    return pn.pane.Alert(f"Live: {message}.{note}".replace("..", "."), alert_type="success")


def busiest_rows(table: pd.DataFrame, limit: int = TABLE_ROWS) -> tuple[pd.DataFrame, str]:
    """At most ``limit`` rows of the counts table, the highest counts first when cut
    (pure); and the heading's note ("the 20 busiest of 500 machines", or "")."""
    if len(table) <= limit:
        return table, ""
    count = table.columns[1]
    ranked = table.sort_values([count, "machine"], ascending=[False, True], kind="stable")
    return ranked.head(limit), f" (the {limit} busiest of {len(table)} machines)"


def _table(table: pd.DataFrame | None, latest_at: str) -> pn.viewable.Viewable:
    if table is None or table.empty:
        return pn.pane.Markdown("_Waiting for data…_")
    shown, note = busiest_rows(table)
    return pn.Column(
        pn.pane.Markdown(f"**Counts at {latest_at}**{note}"),
        pn.pane.DataFrame(shown, index=False, sizing_mode="stretch_width"),
    )


def _malformed(total: int, by_reason: dict[str, int], messages: int, accepted: int) -> str:
    text = (
        f"Messages received: **{messages:,}** · records counted: **{accepted:,}**\n\n"
        f"Malformed records: **{total:,}**\n\n"
    )
    return text + "\n".join(f"- {reason}: {n:,}" for reason, n in sorted(by_reason.items()))


def live_tab(feed: LiveFeed, *, start: bool = True) -> pn.viewable.Viewable:
    """A live tab's content bound to ``feed`` (displayable in Jupyter too).

    Args:
        feed: the stream's shared live feed.
        start: start the feed's pipeline if it does not run yet (it runs once per
            process, whatever the number of sessions).
    """
    if start:
        feed.ensure_started()
    picker = pn.widgets.MultiChoice(
        label=f"Machines drawn as curves (up to {CHART_MACHINES}; none: the busiest)",
        options=feed.machines(),
        placeholder="type a machine id",
        max_items=CHART_MACHINES,
        width=SIDE_WIDTH_PX,
    )

    def offer_machines() -> None:
        machines = feed.machines()
        if machines != picker.options:
            picker.options = machines

    pn.state.add_periodic_callback(offer_machines, period=MACHINES_PERIOD_MS)
    chart = feed.session_plot(picker, sizing_mode="stretch_width", height=CHART_HEIGHT_PX).pane
    heat = feed.session_heatmap(sizing_mode="stretch_width", height=HEAT_HEIGHT_PX + 20).pane
    side = pn.Column(
        picker,
        pn.bind(
            _banner,
            feed.param.state,
            feed.param.message,
            feed.param.topic,
            feed.param.started_at,
            feed.window_s,
            feed.param.latest_at,
        ),
        pn.bind(_table, feed.param.table, feed.param.latest_at),
        pn.pane.Markdown(
            pn.bind(
                _malformed,
                feed.param.malformed_total,
                feed.param.malformed,
                feed.param.messages,
                feed.param.accepted,
            )
        ),
        width=SIDE_WIDTH_PX,
    )
    return pn.Row(
        pn.Column(chart, heat, sizing_mode="stretch_width"),
        side,
        sizing_mode="stretch_width",
        name=feed.stream.capitalize(),
    )

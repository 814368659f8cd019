"""Charts and tables shared by the Detection and Health tabs.

:func:`series_chart` draws line-and-marker charts of one series per group (machine,
stream), pure.

A curve alone does not show a series with a single point (a machine's first 2-minute
window), so every series is drawn as a curve with markers. An empty chart gets a labelled
placeholder: Bokeh cannot initialise a plot from an empty overlay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn

WAITING = "waiting for data"


def series_chart(
    frame: pd.DataFrame | None,
    *,
    x: tuple[str, str],
    y: tuple[str, str],
    group: str,
    title: str,
    height: int,
    width: int,
    colour: Callable[[str], str],
    label: Callable[[str], str] = str,
) -> hv.Overlay:
    """Curves with markers, one per value of ``group``; legend on the right.

    Args:
        frame: the rows (None or empty: a placeholder titled "… (waiting for data)").
        x: (column, axis label) of the x axis.
        y: (column, axis label) of the y axis; rows where it is null are left out.
        group: the column whose values make the series.
        title: the chart's title.
        height: pixels.
        width: pixels (fixed: responsive charts beside a fixed-width column made the
            page re-layout continuously in Chromium, so clicks never settled).
        colour: series key → colour.
        label: series key → legend text.

    Returns:
        ``NdOverlay`` of curves × ``NdOverlay`` of markers (keys: the group values as text).
    """
    x_dim, y_dim = hv.Dimension(x[0], label=x[1]), hv.Dimension(y[0], label=y[1])
    curves: dict[str, hv.Curve] = {}
    markers: dict[str, hv.Scatter] = {}
    if frame is not None and not frame.empty:
        for key, part in frame.groupby(group, sort=True):
            data = part.loc[:, [x[0], y[0]]].dropna().sort_values(x[0]).reset_index(drop=True)
            if data.empty:
                continue
            name = str(key)
            curves[name] = hv.Curve(data, x_dim, y_dim, label=label(name))
            markers[name] = hv.Scatter(data, x_dim, y_dim, label=label(name))
    waiting = not curves
    if waiting:
        # Typed columns: an untyped (object) empty column breaks the served plot.
        empty = pd.DataFrame(
            {x[0]: pd.Series(dtype="datetime64[ns]"), y[0]: pd.Series(dtype="float64")}
        )
        curves[WAITING] = hv.Curve(empty, x_dim, y_dim, label=WAITING)
        markers[WAITING] = hv.Scatter(empty, x_dim, y_dim, label=WAITING)
    # Fixed group and labels: by default an NdOverlay is named after its first series, so
    # the overlay's layer names would change with the data and a DynamicMap redrawing it
    # would fail ("DynamicMap must only contain one type of object").
    lines = hv.NdOverlay(curves, kdims=[group], group="Series", label="Lines")
    points = hv.NdOverlay(markers, kdims=[group], group="Series", label="Markers")
    if "bokeh" in hv.Store.renderers:
        for key in curves:
            tint = "#9ca3af" if key == WAITING else colour(key)
            # framewise: redrawn in place from a Pipe, the axes follow each frame's data
            # (else they keep the first frame's: the empty placeholder's, in 1970).
            curves[key].opts(
                color=tint, line_width=2, framewise=True, padding=0.05, backend="bokeh"
            )
            markers[key].opts(
                color=tint, size=7, tools=["hover"], framewise=True, padding=0.05,
                backend="bokeh",
            )  # fmt: skip
    # Curve and markers of a series share its label, so the legend has one entry each.
    # (show_legend=False on the markers instead breaks the served plot of an empty
    # series in Bokeh 3.9: "invalid color array".)
    chart = lines * points
    if "bokeh" in hv.Store.renderers:
        chart = chart.opts(
            title=f"{title} ({WAITING})" if waiting else title,
            height=height,
            width=width,
            legend_position="right",
            show_grid=True,
            framewise=True,
            backend="bokeh",
        )
    return chart


def series(chart: hv.Overlay, key: str) -> pd.DataFrame:
    """The data of one series of a :func:`series_chart` (tests and notebooks)."""
    lines = chart.get(0)
    return lines[key].dframe()


def table_pane(frame: pd.DataFrame, css_class: str) -> pn.pane.DataFrame:
    """An HTML table of ``frame`` without its index; a ``stream`` column is headed ``Stream``.

    Panel takes any object with a ``stream`` attribute for a streamz DataFrame, and a
    pandas frame with a ``stream`` column has one.
    """
    shown = frame.rename(columns={"stream": "Stream"})
    return pn.pane.DataFrame(
        shown, index=False, sizing_mode="stretch_width", css_classes=[css_class]
    )


def start_stop_buttons(feed: Any, what: str, *, width: int) -> pn.Row:
    """A "Start <what>" / "Stop <what>" pair calling ``feed.start()`` / ``feed.stop()``.

    Both are disabled while ``feed.busy`` (a start or stop runs on the worker pool).
    """
    start = pn.widgets.Button(label=f"Start {what}", color="success", width=width)
    stop = pn.widgets.Button(label=f"Stop {what}", color="danger", width=width)

    def on_start(_event: object) -> None:
        feed.start()

    def on_stop(_event: object) -> None:
        feed.stop()

    start.on_click(on_start)
    stop.on_click(on_stop)
    start.disabled = feed.param.busy
    stop.disabled = feed.param.busy
    return pn.Row(start, stop)

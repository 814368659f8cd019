"""Live charts of the Process and Memory tabs that send the browser only the new samples.

The shared ``hv.streams.Buffer`` of a stream (:mod:`pipelines.live.pipeline`) holds the
whole history in long form (time, machine, count). Handing that frame to a session's chart
at every sample (as :func:`workbench.charts.session_chart` does) makes Bokeh resend every
drawn point and the whole heat map at every redraw: the bytes per update grow with the
history. Here each session keeps, on its own periodic callback (owned by the session, as
in :mod:`workbench.charts`), what it has already sent and appends only the samples taken
since:

- **curves**: a per-session ``hv.streams.Buffer`` of a wide frame (one row per sample
  time, one column per drawn machine) drawn by a DynamicMap whose curves hold that frame
  itself, the shape HoloViews streams: each new sample reaches the browser as one
  ``ColumnDataSource.stream`` of one row per curve (rollover: ``live.max_samples``).
- **heat map**: a Bokeh ``image`` glyph with one image per sample column (machines ×
  1), so a new sample streams one column of ``float32`` counts (rollover: the 10-minute
  grid); the x range and colour range follow with two small property changes.

When what is drawn changes (the machine picker, the busiest set, the title's count of
machines, a machine joining the heat map) the chart is redrawn whole, once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import (
    ColumnDataSource,
    FixedTicker,
    HoverTool,
    LinearColorMapper,
    Range1d,
)
from bokeh.models.annotations import ColorBar, Title
from bokeh.models.glyphs import Image
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from pipelines.live.pipeline import (
    CHART_MACHINES,
    COUNT,
    HEAT_HEIGHT_PX,
    HEAT_MINUTES,
    TIME,
    WAITING,
    X_LABEL,
    Drawn,
    choose_drawn,
    heat_columns,
    machines_in,
    wide_counts,
    wide_overlay,
    window_label,
)
from workbench.charts import REDRAW_PERIOD_MS

MS_PER_S: Final = 1000.0


def _ms(times: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    """Naive-UTC datetimes as Bokeh's datetime axis values (ms since 1970)."""
    return np.asarray(pd.DatetimeIndex(times).asi8, dtype=np.float64) / 1e6


class StreamedCurves:
    """One session's live curves: the busiest (or picked) machines, new samples streamed.

    One DynamicMap over a per-session ``hv.streams.Buffer`` of :func:`wide_counts` rows
    (machines in slot columns): a new sample is sent to the Buffer and streamed as one row
    per curve; when the drawn machines change, the Buffer is cleared and refilled with
    their history (one full redraw in the same plot: a new plot per change would leave
    the old one in the page's model store while updates keep coming).

    Attributes:
        pane: the ``pn.pane.HoloViews`` to lay out.
        redraws: full redraws so far (tests and probes); ``appends``: streamed updates.
    """

    def __init__(
        self,
        read: Callable[[], pd.DataFrame],
        *,
        window_s: float,
        title: str,
        length: int,
        picked: Any = None,
        period_ms: int = REDRAW_PERIOD_MS,
        **pane_params: Any,
    ) -> None:
        """Args:
        read: the shared Buffer's current frame (its owner replaces it on every send).
        window_s: the trailing window, for the y axis label.
        title: the chart's title before the busiest note.
        length: rows (samples) a session's curves keep at most.
        picked: a widget whose ``value`` lists the machines to draw (empty: the busiest;
            at most :data:`CHART_MACHINES` are drawn).
        period_ms: how often the session looks for new samples.
        pane_params: sizing of the pane.
        """
        self._read, self._window_s, self._title = read, window_s, title
        self._picked = picked
        self._data = read()
        self._drawn = self._choose(self._data, None)
        wide = wide_counts(self._data, self._drawn.machines)
        self._last: pd.Timestamp | None = wide[TIME].iloc[-1] if len(wide) else None
        # The history is the Buffer's example, not a first send: HoloViews streams a send
        # only when it is the one after the frame drawn (else it resends every row once).
        self._buffer = hv.streams.Buffer(wide, length=length, index=False)
        self.redraws = 0
        self.appends = 0
        self._drawn_once = False
        self.pane = pn.pane.HoloViews(
            hv.DynamicMap(self._draw, streams=[self._buffer]), linked_axes=False, **pane_params
        )
        pn.state.add_periodic_callback(self.pull, period=period_ms)
        if picked is not None:
            picked.param.watch(lambda _event: self.pull(force=True), "value")

    def _choose(self, data: pd.DataFrame, previous: Drawn | None) -> Drawn:
        picked = list(self._picked.value)[:CHART_MACHINES] if self._picked is not None else None
        return choose_drawn(data, picked, previous) if len(data) else Drawn(())

    def _draw(self, data: pd.DataFrame) -> hv.NdOverlay:
        # The first frame draws every slot: HoloViews streams only into the plots of the
        # keys its first frame had (plots added later are redrawn whole at every update).
        slots = None if self._drawn_once else range(CHART_MACHINES)
        self._drawn_once = True
        title = self._title + self._drawn.note
        if not self._drawn.machines:
            title += f" ({WAITING})"
            slots = range(CHART_MACHINES)
        return wide_overlay(
            data, self._drawn.machines, window_s=self._window_s, title=title, slots=slots
        )

    def pull(self, force: bool = False) -> None:
        """Append the samples taken since the last pull, or redraw when the layout changed."""
        data = self._read()
        if data is self._data and not force:
            return
        self._data = data
        drawn = self._choose(data, self._drawn)
        if drawn != self._drawn:
            self._drawn = drawn
            self.redraws += 1
            wide = wide_counts(data, drawn.machines)
            self._last = wide[TIME].iloc[-1] if len(wide) else None
            with pn.io.hold():
                self._buffer.clear()
                if len(wide):
                    self._buffer.send(wide)
            return
        new = wide_counts(data, drawn.machines, after=self._last)
        if len(new):
            self._last = new[TIME].iloc[-1]
            self._buffer.send(new)
            self.appends += 1


class StreamedHeatmap:
    """One session's heat map of every machine over the last minutes, one image per sample.

    Rows are machines in id order (bottom: the lowest id), columns the samples; a cell with
    no sample is blank. Each new sample streams one column (machines × 1 ``float32``).

    Attributes:
        pane: the ``pn.pane.Bokeh`` to lay out.
        redraws, appends: as :class:`StreamedCurves`.
    """

    def __init__(
        self,
        read: Callable[[], pd.DataFrame],
        *,
        window_s: float,
        sample_s: float,
        minutes: float = HEAT_MINUTES,
        period_ms: int | None = None,
        **pane_params: Any,
    ) -> None:
        self._read, self._sample_s, self._minutes = read, sample_s, minutes
        self._columns = max(1, math.ceil(minutes * 60 / sample_s))
        self._data: Any = None
        self._machines: list[str] | None = None
        self._last: pd.Timestamp | None = None
        self.redraws = 0
        self.appends = 0
        self._mapper = LinearColorMapper(palette=Viridis256, nan_color=(0, 0, 0, 0))
        self._source = ColumnDataSource(_empty_images())
        self._x = Range1d(start=0, end=1)
        self._y = Range1d(start=-0.5, end=0.5)
        self._title = Title(text=f"All machines ({WAITING})")
        plot = figure(
            title=self._title,
            x_axis_type="datetime",
            x_range=self._x,
            y_range=self._y,
            height=HEAT_HEIGHT_PX,
            sizing_mode="stretch_width",
            tools="save,reset",
            toolbar_location="above",
            x_axis_label=X_LABEL,
            y_axis_label="machine",
        )
        plot.add_glyph(
            self._source,
            Image(image="image", x="x", y="y", dw="dw", dh="dh", color_mapper=self._mapper),
        )
        plot.add_tools(
            HoverTool(
                tooltips=[("time", "$x{%H:%M:%S}"), ("row", "$y{0}"), ("count", "@image")],
                formatters={"$x": "datetime"},
            )
        )
        plot.add_layout(ColorBar(color_mapper=self._mapper, title=window_label(window_s)), "right")
        plot.grid.visible = False
        self._plot = plot
        self.pane = pn.pane.Bokeh(plot, **pane_params)
        self.pull()
        period = period_ms if period_ms is not None else max(1000, int(sample_s * MS_PER_S))
        pn.state.add_periodic_callback(self.pull, period=period)

    def pull(self) -> None:
        """Stream the sample columns taken since the last pull (redraw when machines change)."""
        data = self._read()
        if data is self._data:
            return
        self._data = data
        if not len(data):
            return
        newest = data[TIME].max()
        machines = machines_in(data)
        if machines != self._machines:
            recent = data[data[TIME] > newest - pd.Timedelta(minutes=self._minutes)]
            times, values = heat_columns(recent, machines)
            self._machines = machines
            self.redraws += 1
            self._source.data = self._images(times, values)
            self._title.text = f"All {len(machines)} machines, last {self._minutes:g} min"
            self._plot.yaxis.ticker = FixedTicker(ticks=_tick_rows(machines))
            self._plot.yaxis.major_label_overrides = {
                float(i): f"machine {m}" for i, m in enumerate(machines)
            }
            self._y.update(start=-0.5, end=len(machines) - 0.5)
        else:
            times, values = heat_columns(data, machines, after=self._last)
            if not len(times):
                return
            self.appends += 1
            self._source.stream(self._images(times, values), rollover=self._columns)
        self._last = newest
        half = pd.Timedelta(seconds=self._sample_s / 2)
        start = newest - pd.Timedelta(minutes=self._minutes) + half
        edges = _ms(pd.DatetimeIndex([start, newest + half]))
        self._x.update(start=float(edges[0]), end=float(edges[1]))
        window = data[data[TIME] > newest - pd.Timedelta(minutes=self._minutes)][COUNT]
        low, high = float(window.min()), float(window.max())
        self._mapper.update(low=low, high=high if high > low else low + 1)

    def _images(self, times: pd.DatetimeIndex, values: np.ndarray) -> dict[str, Any]:
        rows = len(self._machines or [])
        return {
            "image": [np.ascontiguousarray(values[:, [i]]) for i in range(len(times))],
            "x": list(_ms(times) - self._sample_s * MS_PER_S / 2),
            "y": [-0.5] * len(times),
            "dw": [self._sample_s * MS_PER_S] * len(times),
            "dh": [float(rows)] * len(times),
        }


def _empty_images() -> dict[str, list[Any]]:
    return {"image": [], "x": [], "y": [], "dw": [], "dh": []}


def _tick_rows(machines: list[str]) -> list[float]:
    """About 12 labelled rows on the machine axis (every row for a small fleet)."""
    step = max(1, len(machines) // 12)
    return [float(i) for i in range(0, len(machines), step)]

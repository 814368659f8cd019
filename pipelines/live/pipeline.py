"""The live streamz pipeline of one stream, ending in a HoloViews streaming DataFrame.

::

    KafkaSource thread ──queue──► Stream.from_q ──sink──► decode + TrailingCounts.add
    Stream.from_periodic(take due samples) ─► filter(len) ─► flatten ─► map(sample_frame)
        ─► partition(n, timeout=batch_s) ─► map(concat) ─► sink(buffer.send)
    hv.streams.Buffer ──► hv.DynamicMap(counts_overlay) : one hv.Curve per machine

One :class:`LiveCounts` object serves the workbench tab, the Part 2.1/2.2 notebooks and
``stophacking watch``: ``.start()`` / ``.stop()``, ``.buffer`` (the streaming DataFrame),
``.plot()`` (the HoloViews chart), ``.table()`` and ``.snapshot()`` (the latest counts),
``.status()`` (broker, malformed records).

The Buffer is fed pandas frames: HoloViews 1.23's Buffer refuses a streamz DataFrame. Its
example frame is empty but typed (datetime64[ns] time, string machine, int64 count), or
every later chunk would be object-typed. Sample frames are batched before they are sent,
because HoloViews redraws once per send.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
from streamz import Stream

from pipelines.config import Settings
from pipelines.live.counts import Sample, TrailingCounts, machine_sort_key
from pipelines.live.messages import UNDECODABLE, Arrival, decode_message
from pipelines.schema.columns import STREAMS
from pipelines.schema.columns import Stream as StreamName

log = logging.getLogger(__name__)

TIME, MACHINE, COUNT = "time", "machine", "count"
BUFFER_COLUMNS = (TIME, MACHINE, COUNT)
TICK_S = 0.1
"""How often the sampler looks at the clock (samples themselves sit on the sample grid)."""
SETTLE_S = 0.25
"""A sample for grid time g is taken at g + SETTLE_S, so that records that arrived just
before g and are still on their way through the queue are counted in it."""
BATCH_S = 0.5
"""Sample frames are collected this long before one Buffer send (one redraw)."""
MAX_FRAMES_PER_SEND = 64
QUEUE_BATCHES = 1_000
"""Consumer batches waiting for the pipeline at most (memory bound; the consumer waits)."""
CHART_MACHINES = 8
RERANK_S = 60.0
"""A session's chart ranks the busiest machines again after this many seconds of samples
(see :func:`choose_drawn`)."""
HEAT_MINUTES = 10.0
"""The heat map of every machine covers this many minutes before the newest sample."""
HEAT_HEIGHT_PX = 320
"""The Buffer holds ``max_samples x CHART_MACHINES`` rows: the full series of 8 machines."""
X_LABEL = "time (UTC)"
WAITING = "waiting for data…"
"""Key (and legend) of the placeholder curve drawn before the first sample."""
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
)  # fmt: skip
"""Colours by machine id (machine 4 is always the same colour, whoever joins later)."""


def empty_frame() -> pd.DataFrame:
    """The Buffer's example: no rows, typed columns (time, machine, count)."""
    return pd.DataFrame(
        {
            TIME: pd.Series([], dtype="datetime64[ns]"),
            MACHINE: pd.Series([], dtype=object),
            COUNT: pd.Series([], dtype="int64"),
        }
    )


def sample_frame(sample: Sample) -> pd.DataFrame:
    """One row per machine of a sample (time as naive UTC datetime64[ns])."""
    machines = sorted(sample.counts, key=machine_sort_key)
    at = pd.Timestamp(sample.at, unit="s")
    return pd.DataFrame(
        {
            TIME: pd.Series([at] * len(machines), dtype="datetime64[ns]"),
            MACHINE: pd.Series(machines, dtype=object),
            COUNT: pd.Series([sample.counts[m] for m in machines], dtype="int64"),
        }
    )


def concat_frames(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """One frame of several sample frames (keeps the dtypes of the example)."""
    parts = [f for f in frames if len(f)]
    return pd.concat(parts, ignore_index=True) if parts else empty_frame()


def window_label(window_s: float) -> str:
    """The y axis label: "records in trailing 2 min" (or seconds when not whole minutes)."""
    if window_s >= 60 and window_s % 60 == 0:
        return f"records in trailing {int(window_s // 60)} min"
    return f"records in trailing {window_s:g} s"


def machine_colour(machine: str) -> str:
    """A stable colour per machine id."""
    index = int(machine) if machine.isdigit() else sum(machine.encode())
    return PALETTE[index % len(PALETTE)]


def machines_in(data: pd.DataFrame) -> list[str]:
    """The machines of a Buffer-shaped frame, in id order."""
    return (
        sorted({str(m) for m in data[MACHINE].unique()}, key=machine_sort_key) if len(data) else []
    )


def busiest_machines(data: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` machines with the highest count in the newest sample (ties: lower id)."""
    if not len(data):
        return []
    newest = data[data[TIME] == data[TIME].max()]
    ranked = sorted(
        zip(newest[MACHINE], newest[COUNT], strict=True),
        key=lambda pair: (-int(pair[1]), machine_sort_key(str(pair[0]))),
    )
    return [str(machine) for machine, _ in ranked[:n]]


def drawn_machines(
    data: pd.DataFrame, picked: Iterable[str] | None = None, *, n: int = CHART_MACHINES
) -> tuple[list[str], str]:
    """The machines a chart of ``data`` draws as curves, in id order, and its title's note.

    Args:
        data: rows of (time, machine, count).
        picked: draw these (None or empty: every machine up to ``n``, else the ``n``
            busiest in the newest sample, and the note says so: a fleet's hundreds of
            curves are unreadable).
        n: curves drawn at most when none is picked.

    Returns:
        (machines, note): ``note`` is ``""`` or ``" (the 8 busiest of 500)"``.
    """
    if picked:
        return sorted({str(m) for m in picked}, key=machine_sort_key), ""
    machines = machines_in(data)
    if len(machines) <= n:
        return machines, ""
    busiest = sorted(busiest_machines(data, n), key=machine_sort_key)
    return busiest, f" (the {n} busiest of {len(machines)})"


@dataclass(frozen=True)
class Drawn:
    """The machines a live chart draws as curves and why.

    Attributes:
        machines: in id order.
        note: the title's note, e.g. ``" (the 8 busiest of 500 at 12:03:05 UTC)"`` or ``""``.
        ranked_at: the sample time the busiest were ranked at (None: not ranked).
    """

    machines: tuple[str, ...]
    note: str = ""
    ranked_at: pd.Timestamp | None = None


def choose_drawn(
    data: pd.DataFrame,
    picked: Iterable[str] | None = None,
    previous: Drawn | None = None,
    *,
    n: int = CHART_MACHINES,
    rerank_s: float = RERANK_S,
) -> Drawn:
    """The machines a session's live chart draws now (pure).

    Picked machines are drawn as picked; with none picked, every machine up to ``n``, else
    the ``n`` busiest. The busiest are ranked again only when ``rerank_s`` of samples have
    passed since ``previous`` ranked them or when the fleet's size changed: ranking at
    every sample swaps curves every few seconds on a fleet of similar machines (each swap
    redraws the chart whole, and curves that come and go are hard to read). The title
    says when the ranking was made; the heat map shows every machine at every sample.
    """
    if picked:
        return Drawn(tuple(drawn_machines(data, picked, n=n)[0]))
    machines, note = drawn_machines(data, n=n)
    if not note:
        return Drawn(tuple(machines))
    newest = data[TIME].max()
    fleet = f" of {len(machines_in(data))}"
    if (
        previous is not None
        and previous.ranked_at is not None
        and fleet in previous.note
        and (newest - previous.ranked_at).total_seconds() < rerank_s
    ):
        return previous
    at = newest.strftime("%H:%M:%S UTC")
    return Drawn(tuple(machines), f"{note[:-1]} at {at})", newest)


def slot_column(slot: int) -> str:
    """The column of the ``slot``-th drawn machine's counts in a :func:`wide_counts` frame."""
    return f"slot {slot}"


def wide_counts(
    data: pd.DataFrame,
    machines: Iterable[str],
    *,
    slots: int = CHART_MACHINES,
    after: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per sample time, one float column of counts per drawn machine (pure).

    The shape a streaming chart appends to: a new sample is one new row, whatever the
    number of machines drawn. The columns are slots (the first machine's counts in
    ``slot 0``, …), so the frame keeps its columns when other machines are drawn; a slot
    with no machine, or a machine with no row at a time, holds NaN.

    Args:
        data: rows of (time, machine, count), e.g. the Buffer's accumulated frame.
        machines: the drawn machines, at most ``slots``, in slot order.
        slots: columns of counts (:func:`slot_column`).
        after: only the sample times later than this (None: every one).

    Returns:
        Columns ``time`` (datetime64[ns], ascending) and ``slots`` float64 columns.
    """
    machines = [str(m) for m in machines]
    if len(machines) > slots:
        raise ValueError(f"wide_counts: {len(machines)} machines for {slots} slots")
    if after is not None and len(data):
        data = data[data[TIME] > after]
    chosen = data[data[MACHINE].astype(str).isin(set(machines))] if len(data) else data
    columns = [slot_column(i) for i in range(slots)]
    if not len(chosen):
        empty = {TIME: pd.Series([], dtype="datetime64[ns]")}
        return pd.DataFrame({**empty, **{c: pd.Series([], dtype="float64") for c in columns}})
    table = chosen.pivot_table(index=TIME, columns=MACHINE, values=COUNT, aggfunc="last")
    table.columns = table.columns.astype(str)
    padded = machines + [f"\0unused {i}" for i in range(len(machines), slots)]
    table = table.reindex(columns=padded).astype("float64").sort_index()
    table.columns = columns
    wide = table.reset_index()
    wide[TIME] = wide[TIME].astype("datetime64[ns]")
    return wide


def heat_columns(
    data: pd.DataFrame, machines: list[str], *, after: pd.Timestamp | None = None
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The heat map's cells of every sample time (after ``after``), one column each (pure).

    Returns:
        (times ascending, counts as float32 of shape ``(len(machines), len(times))``;
        NaN where a machine has no sample at a time).
    """
    if after is not None and len(data):
        data = data[data[TIME] > after]
    if not len(data):
        return pd.DatetimeIndex([]), np.empty((len(machines), 0), dtype=np.float32)
    table = data.pivot_table(index=MACHINE, columns=TIME, values=COUNT, aggfunc="last")
    table.index = table.index.astype(str)
    table = table.reindex(index=machines).sort_index(axis=1)
    return pd.DatetimeIndex(table.columns), table.to_numpy(dtype=np.float32)


def machines_heatmap(
    data: pd.DataFrame, *, window_s: float, sample_s: float, minutes: float = HEAT_MINUTES
) -> hv.Image:
    """Every machine's count over the last ``minutes`` as one image (pure).

    Rows are machines in id order (bottom: the lowest id), columns the sample grid up
    to the newest sample (x = minutes before it); a cell with no sample is blank. One
    image stays readable and light for a fleet of hundreds, where curves do not.
    """
    count_dim = hv.Dimension(COUNT, label=window_label(window_s))
    x_dim = hv.Dimension("minutes", label="minutes before the newest sample")
    y_dim = hv.Dimension("row", label="machine")
    if not len(data):
        empty = hv.Image(
            (np.array([-1.0, 0.0]), np.array([0.0, 1.0]), np.full((2, 2), np.nan)),
            kdims=[x_dim, y_dim], vdims=[count_dim],
        )  # fmt: skip
        return _style_heatmap(empty, [], f"All machines ({WAITING})")
    newest = data[TIME].max()
    recent = data[data[TIME] > newest - pd.Timedelta(minutes=minutes)]
    grid = pd.date_range(
        end=newest, periods=max(1, int(minutes * 60 / sample_s)), freq=f"{sample_s}s"
    )
    table = recent.pivot_table(index=MACHINE, columns=TIME, values=COUNT, aggfunc="last")
    machines = sorted(table.index.astype(str), key=machine_sort_key)
    table.index = table.index.astype(str)
    # float32: the image is sent whole at each redraw (half the bytes of float64).
    values = table.reindex(index=machines, columns=grid).to_numpy(dtype=np.float32)
    xs = ((grid - newest) / pd.Timedelta(minutes=1)).to_numpy(dtype=float)
    ys = np.arange(len(machines), dtype=float)
    if len(xs) == 1:  # an image needs two columns
        xs, values = np.array([xs[0] - sample_s / 60, xs[0]]), np.repeat(values, 2, axis=1)
    if len(ys) == 1:
        ys, values = np.array([0.0, 1.0]), np.repeat(values, 2, axis=0)
    image = hv.Image((xs, ys, values), kdims=[x_dim, y_dim], vdims=[count_dim])
    return _style_heatmap(image, machines, f"All {len(machines)} machines, last {minutes:g} min")


def _style_heatmap(image: hv.Image, machines: list[str], title: str) -> hv.Image:
    if "bokeh" not in hv.Store.renderers:
        return image
    step = max(1, len(machines) // 12)
    ticks = [(float(i), f"machine {m}") for i, m in enumerate(machines)][::step]
    return image.opts(
        cmap="viridis", colorbar=True, clipping_colors={"NaN": "#ffffff00"}, tools=["hover"],
        responsive=True, height=HEAT_HEIGHT_PX, yticks=ticks or None, title=title,
        framewise=True, backend="bokeh",
    )  # fmt: skip


def counts_overlay(
    data: pd.DataFrame,
    *,
    window_s: float,
    title: str = "",
    machines: Iterable[str] | None = None,
) -> hv.NdOverlay:
    """One coloured ``hv.Curve`` per machine (x = time, y = count), with a legend.

    Args:
        data: rows of (time, machine, count), e.g. the Buffer's accumulated frame.
        window_s: the trailing window, for the y axis label.
        title: plot title.
        machines: draw only these (None: every machine in ``data``).
    """
    if machines is not None:
        data = data[data[MACHINE].astype(str).isin(set(machines))]
    time_dim = hv.Dimension(TIME, label=X_LABEL)
    count_dim = hv.Dimension(COUNT, label=window_label(window_s))
    curves = {}
    for machine in sorted(data[MACHINE].unique(), key=machine_sort_key) if len(data) else []:
        rows = data[data[MACHINE] == machine].reset_index(drop=True)
        curve = hv.Curve(rows, kdims=[time_dim], vdims=[count_dim], label=f"machine {machine}")
        # Options need a loaded plotting backend; without one the data still stand alone.
        curves[machine] = curve.opts(color=machine_colour(machine)) if hv.Store.renderers else curve
    if not curves:
        # Bokeh cannot initialise a plot from an empty overlay (and a DynamicMap whose
        # first frame failed never updates): start with an empty, labelled placeholder.
        curves[WAITING] = hv.Curve(
            empty_frame(), kdims=[time_dim], vdims=[count_dim], label=WAITING
        )
    if hv.Store.renderers:
        # Redrawn in place (a session's Pipe), the axes must follow each frame's data;
        # without this they keep the first frame's (the placeholder's 1970 range).
        curves = {key: curve.opts(framewise=True) for key, curve in curves.items()}
    overlay = hv.NdOverlay(curves, kdims=[hv.Dimension(MACHINE, label="machine")])
    return style_overlay(overlay, window_s=window_s, title=title)


def wide_overlay(
    wide: pd.DataFrame,
    machines: Iterable[str],
    *,
    window_s: float,
    title: str = "",
    slots: Iterable[int] | None = None,
) -> hv.NdOverlay:
    """One coloured curve per drawn machine over a :func:`wide_counts` frame, with a legend.

    Every curve holds ``wide`` itself (its slot's column): drawn by a DynamicMap over an
    ``hv.streams.Buffer`` of such rows, HoloViews then streams each new row to the browser
    (``ColumnDataSource.stream``) instead of resending the curves; it streams only when the
    element's data is the Buffer's own frame, and only in the plots of the keys the first
    frame had. So the overlay is keyed by slot (0, 1, …), not by machine, and a legend
    hook names each slot's entry after its machine ("machine 4").

    Args:
        wide: the rows.
        machines: the drawn machines, in slot order.
        window_s: the trailing window, for the y axis label.
        title: the chart's title.
        slots: the slots to draw (default: one per machine); slots beyond the machines
            are drawn empty and unnamed (a first frame draws them all, see above).
    """
    machines = list(machines)
    time_dim = hv.Dimension(TIME, label=X_LABEL)
    curves = {}
    for slot in range(len(machines)) if slots is None else slots:
        machine = machines[slot] if slot < len(machines) else None
        name = "" if machine is None else f"machine {machine}"
        if not machines and slot == 0:
            name = WAITING
        # The machine's name rides on the count dimension's label (the hover says it):
        # a curve's own label must stay the same in every frame, or HoloViews looks for
        # another plot to draw it in.
        count_dim = hv.Dimension(slot_column(slot), label=name or slot_column(slot))
        curve = hv.Curve(wide, kdims=[time_dim], vdims=[count_dim])
        if "bokeh" in hv.Store.renderers:
            colour = "#9ca3af" if machine is None else machine_colour(machine)
            curve = curve.opts(color=colour, framewise=True, backend="bokeh")
        curves[slot] = curve
    # Legend heading "machine": each slot's entry is named after its machine (hook below).
    overlay = hv.NdOverlay(curves, kdims=[hv.Dimension("slot", label="machine")])
    overlay = style_overlay(overlay, window_s=window_s, title=title)
    if "bokeh" in hv.Store.renderers:
        overlay = overlay.opts(legend_labels={}, hooks=[_name_slots], backend="bokeh")
    return overlay


def _name_slots(plot: Any, element: Any) -> None:
    """Bokeh hook: each slot's legend entry says its machine (empty slots: no entry)."""
    legend = plot.state.legend
    if not legend:
        return
    names = {}
    for key, subplot in plot.subplots.items():
        renderer = subplot.handles.get("glyph_renderer")
        slot = key[0] if isinstance(key, tuple) else key
        curve = element.get(slot)
        if renderer is not None and curve is not None:
            label = curve.vdims[0].label
            names[renderer.id] = "" if label == slot_column(slot) else label
    kept = []
    for item in legend[0].items:
        name = next((names[r.id] for r in item.renderers if r.id in names), None)
        if name:
            if getattr(item.label, "value", item.label) != name:
                item.label = {"value": name}
            kept.append(item)
    if kept != list(legend[0].items):
        legend[0].items = kept


def style_overlay(overlay: hv.NdOverlay, *, window_s: float, title: str) -> hv.NdOverlay:
    """Axis labels, legend and size for whichever plotting backends are loaded."""
    common = {
        "xlabel": X_LABEL,
        "ylabel": window_label(window_s),
        "title": title,
        "show_legend": True,
        "framewise": True,
        # NdOverlay iterates over its elements, not its keys.
        "legend_labels": {
            key: key if key == WAITING else f"machine {key}"
            for key in overlay.keys()  # noqa: SIM118
        },
    }
    loaded = set(hv.Store.renderers)
    if "bokeh" in loaded:
        overlay = overlay.opts(
            legend_position="right",
            responsive=True,
            height=420,
            tools=["hover"],
            backend="bokeh",
            **common,
        )
    if "matplotlib" in loaded:
        overlay = overlay.opts(
            legend_position="right",
            aspect=2.4,
            fig_size=220,
            hooks=[_clock_ticks],
            backend="matplotlib",
            **common,
        )
    return overlay


def _clock_ticks(plot: Any, element: Any) -> None:
    """Matplotlib hook: time ticks as HH:MM:SS (full dates overlap on a live chart)."""
    from matplotlib.dates import AutoDateLocator, DateFormatter

    axis = plot.handles["axis"].xaxis
    axis.set_major_locator(AutoDateLocator(minticks=4, maxticks=9, interval_multiples=True))
    axis.set_major_formatter(DateFormatter("%H:%M:%S"))


@dataclass(frozen=True)
class LiveStatus:
    """What a live view shows besides the chart.

    Attributes:
        state: ``"stopped"``, ``"waiting"`` (running, no record yet), ``"live"`` or
            ``"broker down"``.
        message: one line for a person (broker state or why it waits).
        accepted: records counted so far.
        malformed: malformed records by reason.
        latest: the most recent sample or None.
        messages: Kafka messages received.
    """

    state: str
    message: str
    accepted: int = 0
    malformed: Mapping[str, int] = field(default_factory=dict)
    latest: Sample | None = None
    messages: int = 0

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())


class LiveCounts:
    """Records per machine in the trailing window of one topic, live.

    Example:
        >>> live = LiveCounts(settings, stream="process")
        >>> live.start(duration_s=60)
        >>> live.plot()          # the HoloViews DynamicMap (Jupyter, Panel)
        >>> live.wait(); live.table()
    """

    def __init__(
        self,
        settings: Settings,
        stream: StreamName = "process",
        *,
        topic: str | None = None,
        window_s: float | None = None,
        sample_s: float | None = None,
        group_id: str | None = None,
        from_beginning: bool | None = None,
        clock: Callable[[], float] = time.time,
        settle_s: float = SETTLE_S,
        batch_s: float = BATCH_S,
    ) -> None:
        """Build the pipeline (nothing connects before :meth:`start`).

        Args:
            settings: the product settings (Kafka cluster, ``live.*`` defaults).
            stream: ``"process"`` or ``"memory"``: picks the topic and the title.
            topic: read this topic instead of the stream's configured one.
            window_s: trailing window, seconds (default ``settings.live.window_s``).
            sample_s: sample period, seconds (default ``settings.live.sample_s``).
            group_id: consumer group (default ``settings.live.group_id`` or a fresh one).
            from_beginning: start at the earliest offsets (default
                ``settings.live.from_beginning``).
            clock: unix-seconds clock for arrivals and samples.
            settle_s: delay of each sample after its grid time, seconds.
            batch_s: how long sample frames are collected before a Buffer send, seconds.
        """
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
        live = settings.live
        self.settings = settings
        self.stream = stream
        self.topic = topic or getattr(settings.kafka.topics, stream)
        self.window_s = window_s or live.window_s
        self.sample_s = sample_s or live.sample_s
        self.group_id = group_id if group_id is not None else live.group_id
        self.from_beginning = live.from_beginning if from_beginning is None else from_beginning
        self.clock = clock
        self.settle_s = settle_s
        self.counts = TrailingCounts(
            self.window_s,
            sample_s=self.sample_s,
            max_samples=live.max_samples,
            max_machines=live.max_machines,
            clock=clock,
        )
        self.title = f"{stream.capitalize()} records per machine"
        self.queue: queue.Queue[list[Arrival]] = queue.Queue(maxsize=QUEUE_BATCHES)
        self.buffer = hv.streams.Buffer(
            empty_frame(), length=live.max_samples * CHART_MACHINES, index=False
        )
        self._lock = threading.Lock()
        self._new_sample = threading.Condition(self._lock)
        self._source: Any = None
        self._running = False
        self._listeners: list[Callable[[LiveStatus], None]] = []
        self._messages = 0

        # The streamz graph. Both sources run on streamz's event-loop thread, so the
        # counter sees one caller; the lock is for readers on other threads.
        self.arrivals = Stream.from_q(self.queue, sleep_time=0.02)
        self.arrivals.sink(self.ingest)
        self.ticks = Stream.from_periodic(self._take_due_samples, poll_interval=TICK_S)
        self.samples = self.ticks.filter(len).flatten()
        self.frames = (
            self.samples.map(sample_frame)
            .partition(MAX_FRAMES_PER_SEND, timeout=batch_s)
            .map(concat_frames)
            .filter(len)
        )
        self.frames.sink(self.buffer.send)

    # -- pipeline nodes (public so tests can drive them with plain values) --------------
    def ingest(self, batch: Iterable[Arrival]) -> int:
        """Decode a batch of arrivals and count their records (the malformed ones by reason).

        Returns:
            Records counted.
        """
        counted = 0
        with self._lock:
            for arrival in batch:
                self._messages += 1
                try:
                    decoded = decode_message(arrival.key, arrival.value)
                except Exception:
                    # An exception here would end streamz's queue reader, and with it
                    # all counting, silently: one message must never cost the view.
                    log.exception(
                        "live %s: message at %s partition %s offset %s could not be decoded;"
                        " counted as malformed (%s)",
                        self.stream,
                        arrival.topic,
                        arrival.partition,
                        arrival.offset,
                        UNDECODABLE,
                    )
                    self.counts.reject(UNDECODABLE)
                    continue
                for reason in decoded.rejected:
                    self.counts.reject(reason)
                counted += self.counts.add_many(decoded.machines, at=arrival.at)
        return counted

    def _take_due_samples(self) -> list[Sample]:
        with self._lock:
            taken = self.counts.due_samples(self.clock() - self.settle_s)
            if taken:
                self._new_sample.notify_all()
        if taken:
            self._notify()
        return taken

    def take_due_samples(self, now: float) -> list[Sample]:
        """Take the samples due at ``now`` and push them down the pipeline (tests)."""
        with self._lock:
            taken = self.counts.due_samples(now)
        for sample in taken:
            self.samples.emit(sample)
        return taken

    # -- control ------------------------------------------------------------------------
    def start(
        self, *, duration_s: float | None = None, max_messages: int | None = None
    ) -> LiveCounts:
        """Start the consumer thread and the streamz sources (idempotent).

        Args:
            duration_s: stop consuming after this many seconds (None: until :meth:`stop`).
            max_messages: stop after this many Kafka messages (None: no limit).
        """
        from pipelines.live.kafka_source import KafkaSource

        if self._running:
            return self
        self._source = KafkaSource(
            self.settings.kafka,
            self.topic,
            self.queue,
            group_id=self.group_id,
            from_beginning=self.from_beginning,
            duration_s=duration_s,
            max_messages=max_messages,
            clock=self.clock,
            on_status=lambda _status: self._notify(),
        )
        self._running = True
        self.arrivals.start()
        self.ticks.start()
        self._source.start()
        self._notify()
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        """Block until the consumer is positioned (records sent from now on are seen)."""
        return self._source is not None and bool(self._source.wait_ready(timeout_s))

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the consumer's bound (duration, messages) is reached, then stop.

        Returns:
            True when the consumer ended within ``timeout_s`` (and the pipeline stopped).
        """
        if self._source is None:
            return True
        ended = bool(self._source.join(timeout_s))
        if ended:
            self.stop()
        return ended

    def run(self, duration_s: float, max_messages: int | None = None) -> LiveStatus:
        """Consume for ``duration_s`` seconds (or ``max_messages``), then stop."""
        self.start(duration_s=duration_s, max_messages=max_messages)
        self.wait()
        return self.status()

    def stop(self) -> None:
        """Stop the consumer, let queued arrivals be counted, stop the streamz sources."""
        if self._source is not None:
            self._source.stop()
        if self._running:
            # Let the queue drain into the counter before the sampler stops.
            deadline = time.monotonic() + 5.0
            while not self.queue.empty() and time.monotonic() < deadline:
                time.sleep(0.02)
            self.arrivals.stop()
            self.ticks.stop()
            self._running = False
        self._notify()

    @property
    def running(self) -> bool:
        return self._running

    # -- state --------------------------------------------------------------------------
    def snapshot(self, now: float | None = None) -> dict[str, int]:
        """Records per machine in the trailing window ending ``now`` (default: the clock)."""
        with self._lock:
            return self.counts.snapshot(now)

    def latest(self) -> Sample | None:
        """The most recent sample (what the chart shows last), or None."""
        with self._lock:
            return self.counts.latest

    def table(self) -> pd.DataFrame:
        """The latest sample as a small table: machine, records in the trailing window."""
        sample = self.latest()
        column = window_label(self.window_s)
        if sample is None:
            return pd.DataFrame({"machine": pd.Series([], dtype=object), column: []})
        machines = sorted(sample.counts, key=machine_sort_key)
        return pd.DataFrame(
            {"machine": machines, column: [sample.counts[m] for m in machines]}
        ).astype({column: "int64"})

    def series(self) -> list[Sample]:
        """Every kept sample, oldest first."""
        with self._lock:
            return list(self.counts.series)

    def wait_for_sample(self, after: float | None, timeout_s: float) -> Sample | None:
        """Block until a sample newer than ``after`` exists; return the latest one."""
        deadline = time.monotonic() + timeout_s
        with self._new_sample:
            while True:
                latest = self.counts.latest
                if latest is not None and (after is None or latest.at > after):
                    return latest
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return latest
                self._new_sample.wait(remaining)

    def status(self) -> LiveStatus:
        """Broker state, counters and the latest sample, for the views."""
        source = self._source.status if self._source is not None else None
        with self._lock:
            accepted = self.counts.accepted
            malformed = dict(self.counts.malformed)
            latest = self.counts.latest
            messages = self._messages
        if source is None or (not self._running and not source.running):
            state = "stopped"
            message = source.message if source is not None else "not started"
        elif source.connected is False:
            state, message = "broker down", source.message
        elif accepted == 0:
            state = "waiting"
            message = f"waiting for data on {self.topic}…"
        else:
            state, message = "live", source.message
        return LiveStatus(
            state=state,
            message=message,
            accepted=accepted,
            malformed=malformed,
            latest=latest,
            messages=messages,
        )

    def subscribe(self, listener: Callable[[LiveStatus], None]) -> None:
        """Call ``listener(status)`` after each sample and each change of the source.

        Listeners run on the pipeline's threads: they must return quickly.
        """
        self._listeners.append(listener)

    def _notify(self) -> None:
        if not self._listeners:
            return
        status = self.status()
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:  # a broken view must not stop the pipeline
                log.exception("live status listener failed")

    # -- HoloViews --------------------------------------------------------------------------
    def plot(self) -> hv.DynamicMap:
        """The live chart: a DynamicMap over :attr:`buffer`, one curve per machine.

        Each call makes a new DynamicMap on the shared Buffer (one per browser session or
        notebook output); the data are shared.
        """
        return hv.DynamicMap(self.overlay, streams=[self.buffer])

    def overlay(self, data: pd.DataFrame, machines: Iterable[str] | None = None) -> hv.NdOverlay:
        """The chart of ``data`` (a frame shaped like :attr:`buffer`'s): one curve per machine.

        Args:
            machines: the machines drawn; None: all of them up to :data:`CHART_MACHINES`,
                else the :data:`CHART_MACHINES` busiest in the newest sample (the title
                says so: a fleet's hundreds of curves are unreadable).
        """
        title = self.title
        if machines is None and len(data) and data[MACHINE].nunique() > CHART_MACHINES:
            machines, note = drawn_machines(data)
            title += note
        return counts_overlay(data, window_s=self.window_s, title=title, machines=machines)

    def heatmap(self, data: pd.DataFrame) -> hv.Image:
        """Every machine of ``data`` over the last minutes as one image (see
        :func:`machines_heatmap`)."""
        return machines_heatmap(data, window_s=self.window_s, sample_s=self.sample_s)

    def chart(self) -> hv.NdOverlay:
        """The chart of everything sampled so far, as a static object (PNG export)."""
        return counts_overlay(self.buffer.data, window_s=self.window_s, title=self.title)

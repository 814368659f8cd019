"""workbench.live_charts and the pure shapes under it: each new sample reaches the browser
as the new rows only (ColumnDataSource.stream), not as the whole history again.

The charts are rendered into a Bokeh document as a browser session would get them; what
would be sent is read from the document's change events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.document import Document
from bokeh.document.events import ColumnDataChangedEvent, ColumnsStreamedEvent, ModelChangedEvent
from bokeh.models import ColumnDataSource, Plot
from pyviz_comms import Comm

from pipelines.live.counts import Sample
from pipelines.live.pipeline import (
    CHART_MACHINES,
    COUNT,
    MACHINE,
    TIME,
    Drawn,
    choose_drawn,
    empty_frame,
    heat_columns,
    sample_frame,
    slot_column,
    wide_counts,
)
from workbench.live_charts import StreamedCurves, StreamedHeatmap

T0 = 1_800_000_000


def frame(rows: list[tuple[int, str, int]]) -> pd.DataFrame:
    """(seconds after T0, machine, count) rows shaped like the shared Buffer's frame."""
    return pd.DataFrame(
        {
            TIME: pd.to_datetime([T0 + s for s, _, _ in rows], unit="s"),
            MACHINE: pd.Series([m for _, m, _ in rows], dtype=object),
            COUNT: pd.Series([c for _, _, c in rows], dtype="int64"),
        }
    )


def test_wide_counts_has_one_row_per_sample_and_a_column_per_slot() -> None:
    data = frame([(0, "4", 1), (0, "5", 2), (5, "4", 3), (5, "5", 4), (10, "4", 5)])
    wide = wide_counts(data, ["5", "4"], slots=3)
    assert list(wide.columns) == [TIME, "slot 0", "slot 1", "slot 2"]
    assert wide["slot 0"].tolist()[:2] == [2.0, 4.0] and pd.isna(wide["slot 0"].iloc[2])
    assert wide["slot 1"].tolist() == [1.0, 3.0, 5.0]
    assert wide["slot 2"].isna().all()  # no machine in that slot
    # Only the samples after a time: what a session has not sent yet.
    later = wide_counts(data, ["5", "4"], slots=3, after=pd.Timestamp(T0 + 5, unit="s"))
    assert later[TIME].tolist() == [pd.Timestamp(T0 + 10, unit="s")]
    assert wide_counts(empty_frame(), ["4"]).columns.tolist()[:2] == [TIME, slot_column(0)]
    with pytest.raises(ValueError, match="3 machines for 2 slots"):
        wide_counts(data, ["1", "2", "3"], slots=2)


def test_heat_columns_are_machines_by_sample_times_blank_where_no_sample() -> None:
    data = frame([(0, "4", 1), (5, "4", 3), (5, "10", 7)])
    times, values = heat_columns(data, ["4", "10"])
    assert list(times) == list(pd.to_datetime([T0, T0 + 5], unit="s"))
    assert values.dtype == np.float32 and values.shape == (2, 2)
    assert values[0].tolist() == [1.0, 3.0] and np.isnan(values[1, 0]) and values[1, 1] == 7
    times, values = heat_columns(data, ["4", "10"], after=pd.Timestamp(T0, unit="s"))
    assert len(times) == 1 and values.shape == (2, 1)


def fleet(machines: int, seconds: int) -> pd.DataFrame:
    """Machine m counts m + seconds at each sample: the highest ids are the busiest."""
    return frame([(seconds, str(m), m + seconds) for m in range(1, machines + 1)])


def test_the_busiest_are_ranked_again_only_after_a_minute_of_samples() -> None:
    first = choose_drawn(fleet(20, 0))
    assert first.machines == tuple(str(m) for m in range(13, 21))
    assert first.note == f" (the {CHART_MACHINES} busiest of 20 at 08:00:00 UTC)"
    # Another machine leads 30 s later: the drawn curves stay (no swap every sample).
    later = pd.concat([fleet(20, 30), frame([(30, "1", 1000)])])
    later = later.drop_duplicates([TIME, MACHINE], keep="last")
    assert choose_drawn(later, None, first) is first
    # A minute after the ranking, the busiest are ranked again.
    again = choose_drawn(frame([(60, "1", 1000), *[(60, str(m), m) for m in range(2, 21)]]))
    assert "1" in again.machines and again.ranked_at == pd.Timestamp(T0 + 60, unit="s")
    assert choose_drawn(fleet(20, 60), None, first) != first
    # A fleet that grew is ranked again at once (the title counts its machines).
    assert choose_drawn(fleet(21, 30), None, first).note.startswith(" (the 8 busiest of 21")
    # Picked machines are drawn as picked; a small fleet whole.
    assert choose_drawn(fleet(20, 0), ["7", "3"]) == Drawn(("3", "7"))
    assert choose_drawn(fleet(5, 0)) == Drawn(("1", "2", "3", "4", "5"))


class Shared:
    """A stand-in for the shared Buffer: a frame replaced (never mutated) per sample."""

    def __init__(self) -> None:
        self.buffer = hv.streams.Buffer(empty_frame(), length=100_000, index=False)

    def add(self, seconds: int, counts: dict[str, int]) -> None:
        self.buffer.send(sample_frame(Sample(at=T0 + seconds, counts=counts)))

    def read(self) -> pd.DataFrame:
        return self.buffer.data


@pytest.fixture
def events() -> Iterator[tuple[Document, list[Any]]]:
    doc = Document()
    seen: list[Any] = []
    doc.on_change(seen.append)
    yield doc, seen


def data_events(seen: list[Any]) -> tuple[list[ColumnsStreamedEvent], list[Any]]:
    """(rows streamed, whole data sources replaced) among document events."""
    streamed = [e for e in seen if isinstance(e, ColumnsStreamedEvent)]
    replaced = [
        e
        for e in seen
        if isinstance(e, ColumnDataChangedEvent)
        or (
            isinstance(e, ModelChangedEvent)
            and isinstance(e.model, ColumnDataSource)
            and e.attr == "data"
        )
    ]
    return streamed, replaced


def test_a_new_sample_streams_one_row_per_curve_and_keeps_the_legend(
    events: tuple[Document, list[Any]],
) -> None:
    hv.extension("bokeh")
    doc, seen = events
    shared = Shared()
    for i in range(30):  # a history of 30 samples
        shared.add(5 * i, {str(m): m * 10 + i for m in range(1, 21)})
    curves = StreamedCurves(shared.read, window_s=120, title="Process records", length=1000)
    root = curves.pane.get_root(doc, Comm())
    doc.add_root(root)
    plot = root.select_one({"type": Plot})
    legend = [item.label.value for item in plot.legend[0].items]
    assert legend == [f"machine {m}" for m in range(13, 21)]
    seen.clear()
    for i in range(30, 33):
        shared.add(5 * i, {str(m): m * 10 + i for m in range(1, 21)})
        curves.pull()
    streamed, replaced = data_events(seen)
    assert not replaced, replaced
    assert curves.appends == 3 and curves.redraws == 0
    # One row per drawn curve and sample; never the 30-sample history again.
    assert len(streamed) == 3 * CHART_MACHINES
    assert {len(e.data[TIME]) for e in streamed} == {1}
    assert [item.label.value for item in plot.legend[0].items] == legend
    assert "the 8 busiest of 20" in plot.title.text


def test_a_picked_machine_redraws_once_then_streams(events: tuple[Document, list[Any]]) -> None:
    hv.extension("bokeh")
    doc, seen = events
    shared = Shared()
    for i in range(5):
        shared.add(5 * i, {str(m): m + i for m in range(1, 21)})
    picker = pn.widgets.MultiChoice(options=[str(m) for m in range(1, 21)])
    curves = StreamedCurves(
        shared.read, window_s=120, title="Process records", length=1000, picked=picker
    )
    root = curves.pane.get_root(doc, Comm())
    doc.add_root(root)
    picker.value = ["3"]
    assert curves.redraws == 1
    plot = root.select_one({"type": Plot})
    assert [item.label.value for item in plot.legend[0].items] == ["machine 3"]
    assert plot.title.text == "Process records"
    seen.clear()
    shared.add(25, {str(m): m for m in range(1, 21)})
    curves.pull()
    streamed, replaced = data_events(seen)
    assert not replaced and streamed and {len(e.data[TIME]) for e in streamed} == {1}


def test_the_heat_map_streams_one_column_per_sample_within_ten_minutes(
    events: tuple[Document, list[Any]],
) -> None:
    doc, seen = events
    shared = Shared()
    for i in range(150):  # more than 10 minutes of 5 s samples
        shared.add(5 * i, {str(m): m + i % 7 for m in range(1, 31)})
    heat = StreamedHeatmap(shared.read, window_s=120, sample_s=5)
    root = heat.pane.get_root(doc, Comm())
    doc.add_root(root)
    source = root.select_one({"type": ColumnDataSource})
    plot = root.select_one({"type": Plot})
    assert len(source.data["image"]) == 120  # the last 10 minutes, one image per sample
    assert source.data["image"][-1].shape == (30, 1)
    assert plot.title.text == "All 30 machines, last 10 min"
    seen.clear()
    shared.add(5 * 150, {str(m): 100 for m in range(1, 31)})
    heat.pull()
    streamed, replaced = data_events(seen)
    assert not replaced
    assert len(streamed) == 1 and streamed[0].rollover == 120
    assert [a.shape for a in streamed[0].data["image"]] == [(30, 1)]
    assert len(source.data["image"]) == 120 and source.data["image"][-1][0, 0] == 100
    newest = pd.Timestamp(T0 + 5 * 150, unit="s").value / 1e6
    assert plot.x_range.end == newest + 2500 and plot.x_range.start == newest - 600_000 + 2500
    # A machine joining redraws the heat map whole, with its row.
    shared.add(5 * 151, {str(m): 1 for m in range(1, 32)})
    heat.pull()
    assert heat.redraws == 2 and source.data["image"][-1].shape == (31, 1)

"""The HoloViews object the live pipeline feeds, built from plain values (no Kafka).

Arrivals go through the pipeline's own ``ingest`` node and samples through its streamz
graph (map → partition → sink into the Buffer); the chart is the DynamicMap over that
Buffer.
"""

from __future__ import annotations

import json
import logging
import time

import holoviews as hv
import pandas as pd
import pytest

from pipelines.config import Settings
from pipelines.live.messages import UNDECODABLE, Arrival, Decoded, decode_message
from pipelines.live.pipeline import (
    CHART_MACHINES,
    COUNT,
    MACHINE,
    TIME,
    WAITING,
    X_LABEL,
    LiveCounts,
    busiest_machines,
    counts_overlay,
    empty_frame,
    window_label,
)

T0 = 1_800_000_000.0


def record(machine: int) -> bytes:
    return json.dumps({"machine": machine, "PID": 1, "CMD": "sshd"}).encode()


def wait_for_rows(live: LiveCounts, rows: int, timeout_s: float = 10.0) -> pd.DataFrame:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data = live.buffer.data
        if len(data) >= rows:
            return data
        time.sleep(0.02)
    raise AssertionError(f"the Buffer holds {len(live.buffer.data)} rows, expected {rows}")


@pytest.fixture
def fed(settings: Settings) -> LiveCounts:
    clock_now = [T0]
    live = LiveCounts(
        settings, "process", window_s=10, sample_s=1, clock=lambda: clock_now[0], batch_s=0.05
    )
    live.ingest([Arrival(T0 + 0.2, b"4", record(4)) for _ in range(3)])
    live.ingest([Arrival(T0 + 0.4, b"5", json.dumps([{"machine": 5}] * 2).encode())])
    live.take_due_samples(T0 + 1)
    # Machine 6 appears late; machine 4 gets more; one message is malformed.
    live.ingest(
        [
            Arrival(T0 + 1.5, b"6", record(6)),
            Arrival(T0 + 1.6, b"4", record(4)),
            Arrival(T0 + 1.7, b"4", b"{broken"),
        ]
    )
    live.take_due_samples(T0 + 3)
    return live


def test_buffer_is_typed_and_holds_every_sample(fed: LiveCounts) -> None:
    data = wait_for_rows(fed, 2 + 3 + 3)
    assert list(data.columns) == [TIME, MACHINE, COUNT]
    assert str(data[TIME].dtype) == "datetime64[ns]"
    assert str(data[COUNT].dtype) == "int64"
    rows = {(t.timestamp() - T0, m): c for t, m, c in data.itertuples(index=False)}
    assert rows == {
        (1.0, "4"): 3, (1.0, "5"): 2,
        (2.0, "4"): 4, (2.0, "5"): 2, (2.0, "6"): 1,
        (3.0, "4"): 4, (3.0, "5"): 2, (3.0, "6"): 1,
    }  # fmt: skip


def test_chart_has_one_curve_per_machine_ending_at_the_cores_snapshot(fed: LiveCounts) -> None:
    wait_for_rows(fed, 8)
    overlay = fed.plot()[()]
    assert isinstance(overlay, hv.NdOverlay)
    assert list(overlay.keys()) == ["4", "5", "6"]
    latest = fed.latest()
    assert latest is not None and latest.at == T0 + 3
    core = fed.snapshot(latest.at)
    for machine, curve in overlay.items():
        assert isinstance(curve, hv.Curve)
        assert curve.label == f"machine {machine}"
        last_time, last_count = curve.data.iloc[-1][TIME], curve.data.iloc[-1][COUNT]
        assert last_time.timestamp() == latest.at
        assert last_count == core[machine] == latest.counts[machine]
    # Machine 6 joined late: its curve starts at the first sample after it appeared.
    assert overlay["6"].data[TIME].iloc[0].timestamp() == T0 + 2
    assert fed.status().malformed == {"not JSON": 1}


def test_axis_labels_and_legend_reach_the_bokeh_figure(fed: LiveCounts) -> None:
    hv.extension("bokeh")
    wait_for_rows(fed, 8)
    overlay = fed.plot()[()]
    assert overlay.get_dimension(TIME).label == X_LABEL
    assert overlay.last.vdims[0].label == "records in trailing 10 s"
    figure = hv.render(overlay, backend="bokeh")
    assert figure.xaxis[0].axis_label == X_LABEL
    assert figure.yaxis[0].axis_label == "records in trailing 10 s"
    legend_labels = [item.label["value"] for item in figure.legend[0].items]
    assert legend_labels == ["machine 4", "machine 5", "machine 6"]


def test_table_shows_the_latest_counts(fed: LiveCounts) -> None:
    table = fed.table()
    assert table.to_dict("list") == {
        "machine": ["4", "5", "6"],
        "records in trailing 10 s": [4, 2, 1],
    }


def test_empty_buffer_draws_a_waiting_placeholder_that_bokeh_can_render() -> None:
    hv.extension("bokeh")
    overlay = counts_overlay(empty_frame(), window_s=120)
    assert isinstance(overlay, hv.NdOverlay)
    assert list(overlay.keys()) == [WAITING]
    assert len(overlay[WAITING]) == 0
    figure = hv.render(overlay, backend="bokeh")
    assert figure.yaxis[0].axis_label == "records in trailing 2 min"
    assert figure.xaxis[0].axis_label == X_LABEL


def test_chart_drawn_before_data_updates_when_samples_arrive(settings: Settings) -> None:
    hv.extension("bokeh")
    live = LiveCounts(settings, "memory", window_s=10, sample_s=1, clock=lambda: T0)
    plot = hv.renderer("bokeh").get_plot(live.plot())
    assert plot.state.yaxis[0].axis_label == "records in trailing 10 s"
    live.ingest([Arrival(T0 + 0.5, b"4", record(4)), Arrival(T0 + 0.5, b"7", record(7))])
    live.take_due_samples(T0 + 1)
    wait_for_rows(live, 2)

    def legend() -> list[str]:
        return [item.label["value"] for item in plot.state.legend[0].items]

    # The redraw runs on streamz's thread after the Buffer send: wait for it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and legend() != ["machine 4", "machine 7"]:
        time.sleep(0.02)
    assert list(plot.current_frame.keys()) == ["4", "7"]
    assert legend() == ["machine 4", "machine 7"]


def test_a_chart_redrawn_from_a_pipe_moves_its_axes_with_the_data() -> None:
    # The workbench redraws each session's chart from its own Pipe (workbench.charts);
    # the axes must leave the placeholder's range (1970, 0..1) and follow the samples.
    hv.extension("bokeh")
    pipe = hv.streams.Pipe(data=empty_frame())
    chart = hv.DynamicMap(lambda data: counts_overlay(data, window_s=120), streams=[pipe])
    plot = hv.renderer("bokeh").get_plot(chart)
    for seconds, top in ((2, 3), (600, 40)):
        data = pd.DataFrame(
            {
                TIME: pd.to_datetime([T0, T0 + seconds], unit="s"),
                MACHINE: ["4", "5"],
                COUNT: [1, top],
            }
        )
        pipe.send(data)
        start, end = pd.Timestamp(plot.state.x_range.start), pd.Timestamp(plot.state.x_range.end)
        assert start <= data[TIME].min() <= data[TIME].max() <= end, (start, end)
        assert end - start < pd.Timedelta(hours=1), (start, end)
        assert plot.state.y_range.start <= 1 and top <= plot.state.y_range.end


@pytest.mark.parametrize(
    "window_s, label",
    [
        (120, "records in trailing 2 min"),
        (10, "records in trailing 10 s"),
        (90, "records in trailing 90 s"),
    ],
)
def test_window_label(window_s: float, label: str) -> None:
    assert window_label(window_s) == label


def test_a_message_the_decoder_fails_on_is_logged_with_its_place_and_counting_goes_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pipelines.live import pipeline

    def decode(key: bytes | None, value: bytes | None) -> Decoded:
        if value == b"boom":
            raise KeyError("a decoder bug")
        return decode_message(key, value)

    monkeypatch.setattr(pipeline, "decode_message", decode)
    live = LiveCounts(settings, "process", window_s=10, sample_s=1, clock=lambda: T0 + 2)
    with caplog.at_level(logging.ERROR, logger=pipeline.__name__):
        counted = live.ingest(
            [
                Arrival(T0 + 0.1, b"4", record(4)),
                Arrival(T0 + 0.2, b"4", b"boom", topic="t.process", partition=1, offset=41),
                Arrival(T0 + 0.3, b"5", record(5)),
            ]
        )
    assert counted == 2
    assert live.snapshot(T0 + 1) == {"4": 1, "5": 1}
    assert live.status().malformed == {UNDECODABLE: 1}
    assert "t.process partition 1 offset 41" in caplog.text


def fleet_frame(machines: int, samples: int) -> pd.DataFrame:
    """A Buffer-shaped frame: machine m counts m × i records at sample i (5 s apart)."""
    start = pd.Timestamp("2026-12-06 10:00")
    rows = [
        (start + pd.Timedelta(seconds=5 * i), str(m), m * i)
        for i in range(samples)
        for m in range(1, machines + 1)
    ]
    return pd.DataFrame(rows, columns=[TIME, MACHINE, COUNT])


def test_a_fleet_chart_draws_its_busiest_machines_and_says_of_how_many(settings: Settings) -> None:
    live = LiveCounts(settings, "process", window_s=120, sample_s=5)
    data = fleet_frame(500, 3)
    assert busiest_machines(data, 3) == ["500", "499", "498"]
    chart = live.overlay(data)
    assert len(chart) == CHART_MACHINES
    assert sorted(chart.keys(), key=int)[0] == "493"
    assert chart.opts.get().kwargs["title"].endswith(f"(the {CHART_MACHINES} busiest of 500)")
    # A picked machine is drawn whatever its count; a small set is drawn whole.
    assert list(live.overlay(data, ["7"]).keys()) == ["7"]
    assert len(live.overlay(fleet_frame(5, 3))) == 5


def test_the_heat_map_holds_every_machine_on_the_sample_grid(settings: Settings) -> None:
    live = LiveCounts(settings, "process", window_s=120, sample_s=5)
    image = live.heatmap(fleet_frame(300, 4))
    values = image.dimension_values(2, flat=False)
    assert values.shape == (300, 120)  # machines × 10 minutes of 5 s samples
    # The newest column (x = 0 minutes) holds each machine's newest count: m × 3.
    assert list(values[:3, -1]) == [3.0, 6.0, 9.0]
    assert pd.isna(values[0, 0])  # before the first sample: blank, not zero
    assert image.range("minutes")[1] <= 0.05
    assert "All 300 machines, last 10 min" in image.opts.get().kwargs["title"]

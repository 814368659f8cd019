"""The Detection and Health tabs (and the sidebar's detector line) from static feed values.

Nothing connects and no JVM starts: the feeds get plain parameter values, as the refresh
cycle and the health reader would set them, and the checks read the rendered models' text.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import panel as pn
import pytest

from pipelines.detector.window_view import RunSpan, classify_windows
from tests.unit.workbench.test_app_views import render, visible_text
from workbench.feeds import WorkbenchState
from workbench.feeds.detection import NO_GROUND_TRUTH, quality_frame, totals_frame
from workbench.tabs.detection import (
    alert_notice,
    alert_title,
    alerts_frame,
    counts_chart,
    detection_tab,
    new_high_alerts,
    rows_of,
    state_banner,
)
from workbench.tabs.health import detector_now_line, health_banner, health_tab, history_chart
from workbench.tabs.series_charts import series
from workbench.tabs.status import detector_line, live_line, sidebar

T0 = pd.Timestamp("2026-11-28 10:00")  # naive UTC, as Spark hands timestamps over


def counts() -> pd.DataFrame:
    """7a rows as window_counts_frame returns them: machines 4 and 5, two windows."""
    rows = [
        (4, T0, "process", 3),
        (4, T0, "memory", 2),
        (5, T0, "process", 1),
        (4, T0 + timedelta(minutes=2), "process", 6),
        (4, T0 + timedelta(minutes=2), "memory", 4),
        (5, T0 + timedelta(minutes=2), "memory", 7),
    ]
    frame = pd.DataFrame(rows, columns=["machine", "window_start", "stream", "count"])
    frame["window_end"] = frame["window_start"] + timedelta(minutes=2)
    return frame.loc[:, ["machine", "window_start", "window_end", "stream", "count"]]


def windows() -> pd.DataFrame:
    """The same rows as the feed classifies them at 10:03 into a run begun at 10:00: the
    10:00 windows are final, the 10:02 ones still open; machine 5's memory counted
    nothing at 10:00 (a zero)."""
    return classify_windows(counts(), watermark=T0 + timedelta(minutes=3), spans=[RunSpan(T0)])


def alerts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "machine": [5],
            "CMD": ["xmrig"],
            "PID": [4242],
            "window_start": [T0 + timedelta(minutes=2)],
            "window_end": [T0 + timedelta(minutes=4)],
            "pair_count": [3],
            "severity": ["high"],
            "severity_score": [0.9512],
            "process_probability": [0.98],
            "memory_probability": [0.9512],
            "first_process_event_time": [T0 + timedelta(minutes=2, seconds=4)],
            "first_memory_event_time": [T0 + timedelta(minutes=2, seconds=8)],
            "batch": [1],
        }
    )


def health_record(stream: str, batch_id: int, at: pd.Timestamp, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema_version": 1,
        "at": at.replace(tzinfo=UTC).isoformat(),
        "stream": stream,
        "batch_id": batch_id,
        "messages": 10,
        "records": 40,
        "records_per_s": 20.0,
        "quarantined": {"decode": 0, "parse": 1, "score": 0},
        "quarantined_total": 1,
        "scored": 39,
        "attacks": 4,
        "duration_s": 2.0,
        "lag": 12,
        "watermark": None,
        "alerts_total": 0,
    }
    record.update(extra)
    return record


@pytest.fixture
def callbacks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The session's periodic callbacks (the views' pulls from the feeds), kept to be run
    by hand instead of by a server."""
    kept: list[Any] = []
    monkeypatch.setattr(
        pn.state, "add_periodic_callback", lambda callback, period: kept.append(callback)
    )
    return kept


def _cells(text: str, header: str, n: int) -> list[str]:
    """The first ``n`` whitespace-separated cells after a table's header row.

    ``header`` is the header's cells, space-separated; the page text's order of tables
    is not fixed, so each table is found by its own header.
    """
    match = re.search(r"\s+".join(map(re.escape, header.split())) + r"\s", text)
    assert match, (header, text)
    return text[match.end() :].split()[:n]


# -- empty state ------------------------------------------------------------------------
def test_detection_and_health_say_they_wait_before_data(state: WorkbenchState) -> None:
    detection = visible_text(render(detection_tab(state.detection)))
    assert "Detector stopped." in detection
    assert "Waiting for data… (no attack counted in any window yet)" in detection
    assert "Attack events · Waiting for data… (none yet)" in detection
    assert f"Detection quality · {NO_GROUND_TRUTH}" in detection
    health = visible_text(render(health_tab(state.health, start=False)))
    assert "Waiting for data… (no health record yet)" in health
    assert "Detector: stopped" in visible_text(render(sidebar(state)))
    # The charts say so too (a labelled placeholder: Bokeh cannot start from nothing).
    for chart in (counts_chart(None, "process"), history_chart(None, "lag", "lag")):
        assert list(chart.get(0).keys()) == ["waiting for data"]


# -- normal state -----------------------------------------------------------------------
def test_detection_tab_shows_counts_events_totals_and_quality(
    state: WorkbenchState, callbacks: list[Any]
) -> None:
    tab = detection_tab(state.detection)
    root = render(tab)
    side = render(sidebar(state))
    per_stream = {
        "process": SimpleNamespace(batches=4, records=400, quarantined=2, scored=398, attacks=40),
        "memory": SimpleNamespace(batches=3, records=300, quarantined=0, scored=300, attacks=21),
    }
    scores = SimpleNamespace(tp=8, fp=2, fn=1, precision=0.8, recall=0.8889, f1=0.8421)
    quality = SimpleNamespace(streams={"process": scores, "memory": scores}, events=scores)
    state.detection.param.update(
        state="running",
        message="trigger 2 s",
        counts=counts(),
        windows=windows(),
        alerts=alerts(),
        alerts_total=1,
        totals=totals_frame(per_stream),
        refreshed_at="10:05:00 UTC",
        quality=quality_frame(quality),
        quality_note="against the ground truth in /data/generated",
    )
    for callback in callbacks:
        callback()
    text = visible_text(root)
    assert "Detector running. trigger 2 s" in text
    assert "Waiting for data" not in text
    # The newest window per machine and stream (machine 5 process: its only window),
    # and whether its count is final or still growing.
    latest = _cells(text, "machine Stream window_start count window", 4 * 6)
    assert latest == [
        "4", "memory", "2026-11-28", "10:02:00", "4", "open",
        "4", "process", "2026-11-28", "10:02:00", "6", "open",
        "5", "memory", "2026-11-28", "10:02:00", "7", "open",
        "5", "process", "2026-11-28", "10:00:00", "1", "final",
    ]  # fmt: skip
    assert "Attack events: 1 raised in this run; the newest 1 here (1 high severity)" in text
    (table,) = tab.select(pn.widgets.Tabulator)
    assert table.value.to_dict("records") == [
        {
            "severity": "high", "machine": 5, "CMD": "xmrig", "PID": 4242,
            "window_start": "2026-11-28 10:02:00", "pair_count": 3, "severity_score": 0.951,
            "first_process_event_time": "2026-11-28 10:02:04",
            "first_memory_event_time": "2026-11-28 10:02:08",
        }
    ]  # fmt: skip
    assert table.titles["pair_count"] == "Process–memory pairs"
    assert set(table.header_filters) == {"severity", "machine", "CMD"}
    assert _cells(text, "Stream batches records quarantined scored attacks", 6) == [
        "process",
        "4",
        "400",
        "2",
        "398",
        "40",
    ]
    assert "Detection quality (against the ground truth in /data/generated)" in text
    assert _cells(text, "scope tp fp fn precision recall f1", 7) == [
        "process",
        "records",
        "8",
        "2",
        "1",
        "0.8",
        "0.889",
    ]
    assert "attack events (7b)" in text
    assert "Detector: running, 1 alerts" in visible_text(side)


def test_tab_charts_redraw_from_the_feed_on_the_sessions_own_callback(
    state: WorkbenchState, callbacks: list[Any]
) -> None:
    # The periodic callbacks a served session would run on its loop, called by hand here.
    detection = [pane.object for pane in detection_tab(state.detection).select(pn.pane.HoloViews)]
    health = [
        pane.object for pane in health_tab(state.health, start=False).select(pn.pane.HoloViews)
    ]
    # One per chart, and the alerts view's.
    assert len(callbacks) == len(detection) + len(health) + 1 == 5
    assert all(list(chart[()].get(0).keys()) == ["waiting for data"] for chart in detection)

    state.detection.windows = windows()
    state.health.show([health_record("process", 0, T0, records_per_s=10.0, lag=100)])
    for callback in callbacks:
        callback()
    process, memory = (chart[()] for chart in detection)
    assert sorted(process.get(0).keys()) == ["machine 4", "machine 5"]
    # Machine 5's memory: a final zero at 10:00; its 7 so far at 10:02 is an open marker.
    assert list(series(memory, "machine 5")["count"]) == [0.0, 0.0]
    assert ("machine 5", 7.0) in set(
        zip(memory.get(1)["machine"], memory.get(1)["count"], strict=True)
    )
    rate, lag = (chart[()] for chart in health)
    assert list(series(rate, "process")["records_per_s"]) == [10.0]
    assert list(series(lag, "process")["lag"]) == [100.0]


def test_counts_chart_steps_through_final_windows_and_marks_the_open_one_apart() -> None:
    chart = counts_chart(windows(), "memory")
    assert sorted(chart.get(0).keys()) == ["machine 4", "machine 5"]
    # Machine 4's final 10:00 window (2) spans its two minutes; the open 10:02 window's
    # 4 so far is not on the line (it would read as a fall), but a hollow marker.
    four = series(chart, "machine 4")
    assert list(four["count"]) == [2.0, 2.0]
    assert list(four["time"]) == [T0, T0 + timedelta(minutes=2)]
    opened = chart.get(1).dframe()
    assert sorted(zip(opened["machine"], opened["count"], strict=True)) == [
        ("machine 4", 4.0),
        ("machine 5", 7.0),
    ]
    assert chart.get(1).label == "open window: count so far"


def test_counts_chart_of_a_fleet_draws_its_top_machines_and_says_so() -> None:
    rows = [(m, T0, "process", m) for m in range(1, 31)]
    frame = pd.DataFrame(rows, columns=["machine", "window_start", "stream", "count"])
    frame["window_end"] = frame["window_start"] + timedelta(minutes=2)
    chart = counts_chart(classify_windows(frame, watermark=T0 + timedelta(minutes=2)), "process")
    assert list(chart.get(0).keys()) == [f"machine {m}" for m in range(21, 31)]
    assert "(top 10 of 30 machines)" in chart.opts.get().kwargs["title"]


def test_health_tab_shows_the_latest_record_per_stream_and_curves(
    state: WorkbenchState,
) -> None:
    root = render(health_tab(state.health, start=False))
    state.health.show(
        [
            health_record("process", 0, T0, records_per_s=10.0, lag=100),
            health_record("memory", 0, T0 + timedelta(seconds=1), lag=None),
            health_record(
                "process", 1, T0 + timedelta(seconds=5), records_per_s=30.5, lag=0,
                watermark="2026-11-28T09:59:40.000Z", alerts_total=2,
            ),
        ]
    )  # fmt: skip
    text = visible_text(root)
    assert "Latest micro-batch per stream" in text and "no health record yet" not in text
    rows = _cells(text, "attacks alerts_at_batch", 2 * 12)
    assert rows[:12] == [
        "memory", "10:00:01", "0", "40", "20.0", "-", "-", "2.0", "1", "39", "4", "0",
    ]  # fmt: skip
    assert rows[12:] == [
        "process", "10:00:05", "1", "40", "30.5", "0", "2026-11-28T09:59:40.000Z",
        "2.0", "1", "39", "4", "2",
    ]  # fmt: skip
    chart = history_chart(state.health.history, "lag", "lag")
    assert list(chart.get(0).keys()) == ["process"]  # memory's only lag was unknown
    assert list(series(chart, "process")["lag"]) == [100.0, 0.0]
    rate = history_chart(state.health.history, "records_per_s", "records/s")
    assert sorted(rate.get(0).keys()) == ["memory", "process"]


def test_the_detector_now_line_sums_the_streams_totals() -> None:
    per_stream = {
        "process": SimpleNamespace(batches=4, records=1400, quarantined=2, scored=1398, attacks=9),
        "memory": SimpleNamespace(batches=3, records=300, quarantined=5, scored=295, attacks=2),
    }
    line = detector_now_line(totals_frame(per_stream), 1234)
    assert line.startswith("**Detector now**: 1,700 records read, 1,693 scored, 1,234 alerts")
    assert detector_now_line(None, 0).startswith(
        "**Detector now**: 0 records read, 0 scored, 0 alerts"
    )


def test_sidebar_detection_and_health_show_the_same_alert_total(
    state: WorkbenchState, callbacks: list[Any]
) -> None:
    # One feed behind all three: the health records' own total (a batch behind) differs.
    side = render(sidebar(state))
    detection = render(detection_tab(state.detection))
    health = render(health_tab(state.health, start=False, detection=state.detection))
    state.health.show([health_record("process", 0, T0, alerts_total=3)])
    per_stream = {
        "process": SimpleNamespace(batches=4, records=400, quarantined=2, scored=398, attacks=40),
        "memory": SimpleNamespace(batches=3, records=300, quarantined=0, scored=300, attacks=21),
    }
    for total in (7, 1507):
        state.detection.param.update(
            state="running", alerts=alerts(), alerts_total=total, totals=totals_frame(per_stream)
        )
        shown = f"{total:,}"
        assert f"Detector: running, {shown} alerts" in visible_text(side)
        assert f"Attack events: {shown} raised in this run" in visible_text(detection)
        health_text = visible_text(health)
        assert f"Detector now: 700 records read, 698 scored, {shown} alerts" in health_text
    # The health record's own total stays in its table (alerts_at_batch).
    assert _cells(health_text, "attacks alerts_at_batch", 12)[-1] == "3"


# -- failed detector --------------------------------------------------------------------
def test_a_failed_detector_shows_in_its_tab_and_the_sidebar(state: WorkbenchState) -> None:
    root = render(detection_tab(state.detection))
    side = render(sidebar(state))
    failure = "The detector failed: query attack_counts failed: java.lang.OutOfMemoryError"
    state.detection.param.update(state="failed", failure=failure, message="Detector failed.")
    assert f"Detector failed. {failure}" in visible_text(root)
    assert f"Detector: failed: {failure}" in visible_text(side)
    # The rest of the sidebar still reports the other parts.
    assert "Process producer: stopped, 0 records sent" in visible_text(side)


def test_a_detector_that_cannot_start_fails_with_the_reason_and_no_jvm(
    state: WorkbenchState, tmp_path: Path
) -> None:
    # The models folder of this state is empty: the detector must refuse before Spark.
    assert state.detection.start_now() is False
    assert state.detection.state == "failed"
    assert "ModelError" in state.detection.failure
    assert str(tmp_path / "process_pipeline_model") in state.detection.failure
    assert state.detection.detector is None and not state.detection.busy
    assert detector_line("failed", 0, state.detection.failure).startswith("**Detector**: **failed")


def test_status_line_of_the_detector() -> None:
    assert detector_line("stopped", 0, "") == "**Detector**: stopped"
    assert detector_line("starting", 0, "") == "**Detector**: starting"
    assert detector_line("running", 1234, "") == "**Detector**: running, 1,234 alerts"


@pytest.mark.parametrize("draw", ["counts", "history"])
def test_a_served_chart_redraws_from_waiting_to_data_and_back(
    draw: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The Bokeh plot of a tab chart follows its Pipe through every shape of data.

    Series appear, grow and vanish; the chart starts and may return to "waiting". (Layer
    names that followed the data once broke every redraw after the first in the served
    page.)
    """
    import holoviews as hv

    def frame(keys: list[str], points: int) -> pd.DataFrame:
        if draw == "counts":
            rows = [
                (int(key), T0 + timedelta(minutes=2 * i), "memory", i + 1)
                for key in keys
                for i in range(points)
            ]
            frame = pd.DataFrame(rows, columns=["machine", "window_start", "stream", "count"])
            frame["window_end"] = frame["window_start"] + timedelta(minutes=2)
            return classify_windows(frame, watermark=T0 + timedelta(hours=1))
        rows = [
            (T0 + timedelta(seconds=5 * i), key, float(i)) for key in keys for i in range(points)
        ]
        return pd.DataFrame(rows, columns=["at", "stream", "lag"])

    def chart(data: pd.DataFrame | None) -> hv.Overlay:
        if draw == "counts":
            return counts_chart(data, "memory")
        return history_chart(data, "lag", "lag")

    pipe = hv.streams.Pipe(data=None)
    plot = hv.renderer("bokeh").get_plot(hv.DynamicMap(chart, streams=[pipe]))

    def legend() -> list[str]:
        return [item.label.value for item in plot.state.legend[0].items]

    # The counts chart's legend also explains its hollow markers (open windows).
    explained = ["open window: count so far"] if draw == "counts" else []
    assert legend() == ["waiting for data", *explained]
    for keys, points in ((["4"], 1), (["4", "5"], 2), (["5"], 3), ([], 0), (["4", "5"], 1)):
        data = frame(keys, points) if keys else None
        pipe.send(data)
        named = [f"machine {k}" for k in keys] if draw == "counts" else keys
        expected = [*(named or ["waiting for data"]), *explained]
        assert sorted(legend()) == sorted(expected), (keys, points)
        if data is not None:
            # The x axis spans this frame's times (not the placeholder's 1970 range).
            x = data["window_start"] if draw == "counts" else data["at"]
            shown = pd.Timestamp(plot.state.x_range.start), pd.Timestamp(plot.state.x_range.end)
            assert shown[0] <= x.min() <= x.max() <= shown[1], (shown, keys, points)
            assert shown[1] - shown[0] < timedelta(hours=1), shown
    assert "Traceback" not in caplog.text and "must only contain" not in caplog.text


def test_only_alerts_not_seen_before_and_of_high_severity_are_notified() -> None:
    first = alerts()
    later = pd.concat(
        [
            first,
            first.assign(PID=7, severity="medium"),
            first.assign(PID=8, window_start=T0 + timedelta(minutes=4)),
        ],
        ignore_index=True,
    )
    fresh = new_high_alerts(first, later)
    assert list(fresh["PID"]) == [8]
    assert alert_notice(fresh.iloc[0]).startswith(
        "High-severity attack: xmrig (PID 8) on machine 5"
    )
    assert list(new_high_alerts(None, first)["PID"]) == [4242]
    assert new_high_alerts(later, later).empty


def test_the_alerts_view_lists_the_newest_first_with_readable_times() -> None:
    frame = pd.concat(
        [alerts(), alerts().assign(PID=1, window_start=T0 + timedelta(minutes=6))],
        ignore_index=True,
    )
    shown = alerts_frame(frame)
    assert list(shown["PID"]) == [1, 4242]
    assert list(shown.columns[:3]) == ["severity", "machine", "CMD"]
    assert shown["window_start"].iloc[0] == "2026-11-28 10:06:00"


@pytest.mark.parametrize(
    ("level", "alert_type", "colour"),
    [
        ("ok", "success", "#15803d"),
        ("behind", "warning", "#b45309"),
        ("growing", "danger", "#b91c1c"),
    ],
)
def test_the_delay_leads_the_banner_and_the_sidebar_in_its_colour(
    state: WorkbenchState, level: str, alert_type: str, colour: str
) -> None:
    delay = "detections trail the newest record by 12 s (windows final 58 s behind it)"
    state.detection.param.update(state="running", delay=delay, delay_level=level)
    banner = state_banner("running", "trigger 5 s", "", delay, level)
    assert banner.alert_type == alert_type
    assert banner.object.startswith(f"**Detector running**: {delay}.")
    line = detector_line("running", 3, "", delay, level)
    assert f'style="color: {colour}">{delay}</span>' in line
    assert delay in visible_text(render(sidebar(state)))
    # Once stopped, no delay is claimed.
    assert detector_line("stopped", 3, "", "", "") == "**Detector**: stopped"


def test_health_says_the_detector_stopped_instead_of_live_over_its_last_records() -> None:
    live = health_banner("live", "reading t", "t", "running")
    assert (live.alert_type, live.object) == ("success", "Live: reading t")
    stopped = health_banner("live", "reading t", "t", "stopped")
    assert stopped.alert_type == "secondary"
    assert stopped.object.startswith("**Detector stopped**: the records below are its last")
    assert "Live" not in stopped.object


def test_a_stopped_live_view_says_stopped_whatever_it_said_last(state: WorkbenchState) -> None:
    feed = state.live.process
    feed.param.update(state="live", message="counting")
    feed.stop()
    assert (feed.state, feed.message) == ("stopped", "stopped")
    assert "live view**: stopped" in live_line("process", feed.state, feed.accepted)


def write_pairs(output_dir: Path, rows: list[dict[str, Any]]) -> None:
    """A pairs output as the detector commits it: batch=0/part.parquet + _SUCCESS."""
    from pipelines.detector.layout import PAIRS_DIR, SUCCESS_MARKER

    batch = output_dir / PAIRS_DIR / "batch=0"
    batch.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(batch / "part-0.parquet", index=False)
    (batch / SUCCESS_MARKER).touch()


def test_clicking_an_alert_shows_the_pairs_behind_it(
    state: WorkbenchState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pn.state, "add_periodic_callback", lambda callback, period: None)

    def pair(pid: int, process_s: int, memory_s: int) -> dict[str, Any]:
        return {
            "machine": 5, "CMD": "xmrig", "PID": pid,
            "process_event_time": T0 + timedelta(minutes=2, seconds=process_s),
            "memory_event_time": T0 + timedelta(minutes=2, seconds=memory_s),
            "process_attack_probability": 0.98, "memory_attack_probability": 0.9512,
            "process_CPU": 1.5, "memory_RSIZE": 8716.0,
        }  # fmt: skip

    # Two pairs of the alert's program and window; one of another PID, one a window later.
    write_pairs(
        tmp_path, [pair(4242, 4, 8), pair(4242, 30, 20), pair(7, 5, 5), pair(4242, 130, 131)]
    )
    state.detection.param.update(output_dir=str(tmp_path), alerts=alerts(), alerts_total=1)
    tab = detection_tab(state.detection)
    (table,) = tab.select(pn.widgets.Tabulator)
    (detail,) = [c for c in tab.select(pn.Column) if "alert-detail" in c.css_classes]
    table.selection = [0]
    deadline = time.monotonic() + 10
    while len(detail.objects) < 2:
        assert time.monotonic() < deadline, detail.objects
        time.sleep(0.05)
    assert detail.objects[0].object.startswith(
        "**High alert**: xmrig (PID 4242) on machine 5, window 2026-11-28 10:02:00 UTC · "
        "2 of its 3 process–memory pairs"
    )
    shown = detail.objects[1].object
    assert list(shown["Process record (UTC)"]) == ["2026-11-28 10:02:04", "2026-11-28 10:02:30"]
    assert list(shown["Memory P(attack)"]) == [0.951, 0.951]


def test_the_selection_follows_its_alert_when_newer_alerts_arrive_above_it(
    state: WorkbenchState, callbacks: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[tuple[int, str, int]] = []
    monkeypatch.setattr(
        state.detection,
        "pairs_for",
        lambda machine, cmd, pid, window_start: loads.append((machine, cmd, pid)) or pd.DataFrame(),
    )
    tab = detection_tab(state.detection)
    (table,) = tab.select(pn.widgets.Tabulator)
    state.detection.alerts = alerts()
    for callback in callbacks:
        callback()
    table.selection = [0]  # xmrig 4242, the only alert
    newer = alerts().assign(PID=77, CMD="kworker", window_start=T0 + timedelta(minutes=4))
    state.detection.alerts = pd.concat([alerts(), newer], ignore_index=True)
    for callback in callbacks:
        callback()
    assert list(table.value["PID"]) == [77, 4242]  # newest first: the clicked one moved down
    assert table.selection == [1]
    # Once it is no longer among the rows shown, nothing is selected.
    state.detection.alerts = newer
    for callback in callbacks:
        callback()
    assert table.selection == []
    deadline = time.monotonic() + 10
    while not loads:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    assert loads == [(5, "xmrig", 4242)]  # its pairs read once, not again as its row moved


def test_rows_of_finds_an_alert_by_machine_program_pid_and_window() -> None:
    shown = alerts_frame(
        pd.concat([alerts(), alerts().assign(PID=1, window_start=T0)], ignore_index=True)
    )
    assert rows_of(shown, (5, "xmrig", 4242, "2026-11-28 10:02:00")) == [0]
    assert rows_of(shown, (5, "xmrig", 1, "2026-11-28 10:00:00")) == [1]
    assert rows_of(shown, (5, "xmrig", 1, "2026-11-28 10:02:00")) == []
    assert rows_of(shown, None) == []


def test_a_program_named_like_a_tag_stays_in_the_alert_detail_and_notice() -> None:
    # atop shows kernel-less processes as <dhclient>: Markdown took it for an HTML tag.
    alert = alerts().assign(CMD="<dhclient>").iloc[0]
    shown = visible_text(render(pn.pane.Markdown(alert_title(alert))))
    # The page's HTML holds the name as text (entities), which the browser shows as <dhclient>.
    assert "High alert: &lt;dhclient&gt; (PID 4242) on machine 5" in shown
    assert alert_notice(alert).startswith("High-severity attack: &lt;dhclient&gt; (PID 4242)")

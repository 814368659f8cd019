"""The served workbench in a real browser (headless Chromium).

One workbench server serves every check of this module; later issues add checks for
their tabs here. Screenshots go to test-results/screenshots/ (the README shows copies
from docs/images/).
"""

from __future__ import annotations

import contextlib
import json
import re
import statistics
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import Settings
from tests.conftest import free_port
from tests.e2e.conftest import (
    LIVE_TAB_DRAWN,
    PLOTS_JS,
    TITLES_JS,
    charts_show_data,
    keep_on_this_machine,
)
from tests.e2e.workbench_server import served_workbench


@pytest.fixture(scope="module")
def workbench_url(
    broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("workbench") / "panel-serve.log"
    with served_workbench(broker_settings, free_port(), log) as url:
        yield url


def test_page_renders_the_broker_tab_without_leaving_localhost(
    browser, workbench_url: str, broker_settings: Settings, screenshots_dir: Path
) -> None:
    outside: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()

    keep_on_this_machine(page, outside)
    page.goto(workbench_url, wait_until="domcontentloaded")
    page.get_by_text("StopHacking workbench").first.wait_for(timeout=60_000)
    page.get_by_text(f"Kafka at {broker_settings.kafka.bootstrap_servers}").first.wait_for(
        timeout=60_000
    )
    page.get_by_text("reachable").first.wait_for(timeout=60_000)
    page.screenshot(path=str(screenshots_dir / "broker.png"), full_page=True)
    context.close()

    # Users run the workbench behind firewalls: nothing may be fetched from elsewhere.
    assert not outside, f"requests left 127.0.0.1: {outside}"


TAB_MARKERS: dict[str, str | re.Pattern[str]] = {
    # tab → text only that tab shows once rendered
    "Broker": "Topics",
    "Producers": "Waiting for data: no records sent yet",
    "Process": "Malformed records",  # the chart's title is drawn on a canvas
    "Memory": "Malformed records",
    "Detection": "Start detector",
    "Models": "Models the detector loads",
    # Waiting, or the records of a detector that ran earlier on the same broker.
    "Health": re.compile("no health record yet|Latest micro-batch per stream"),
}


def test_every_tab_renders_beside_the_live_sidebar(
    browser, workbench_url: str, broker_settings: Settings, screenshots_dir: Path
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(workbench_url, wait_until="domcontentloaded")
    page.get_by_text("StopHacking workbench").first.wait_for(timeout=60_000)
    # The sidebar: broker, producers and live views, the start/stop pair.
    bootstrap = broker_settings.kafka.bootstrap_servers
    page.get_by_text(re.compile(rf"Kafka {re.escape(bootstrap)}: reachable")).first.wait_for(
        timeout=60_000
    )
    for line in (
        "Process producer: stopped, 0 records sent",
        "Memory producer: stopped, 0 records sent",
    ):
        page.get_by_text(line).first.wait_for(timeout=30_000)
    for stream in ("Process", "Memory"):
        page.get_by_text(
            re.compile(rf"{stream} live view: (waiting for data|live), [\d,]+ records counted")
        ).first.wait_for(timeout=60_000)
    for name in ("Start pipeline", "Stop pipeline"):
        assert page.get_by_role("button", name=name).is_visible()
    # No banner while Kafka answers.
    assert not page.get_by_text("Kafka is not reachable").first.is_visible()

    for tab, marker in TAB_MARKERS.items():
        page.locator(".bk-tab", has_text=tab).first.click()
        # Every tab stays in the page (hidden when not selected): look for a visible one.
        page.get_by_text(marker).locator("visible=true").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1_000)  # let the charts draw before the picture
        page.screenshot(path=str(screenshots_dir / f"tab-{tab.lower()}.png"), full_page=True)
    context.close()


@contextmanager
def sending_process_records(
    settings: Settings, machines: tuple[int, ...] = (4, 5)
) -> Iterator[None]:
    """Publish one process record per machine every 0.5 s while the block runs.

    The tabs' consumers start at the latest offsets when they start: keep sending until
    the page shows what the test waits for.
    """
    import json
    import threading

    from kafka import KafkaProducer

    from pipelines import kafka_io

    topic = settings.kafka.topics.process
    stop = threading.Event()

    def keep_sending() -> None:
        producer = KafkaProducer(**kafka_io.client_config(settings.kafka))
        try:
            while not stop.wait(0.5):
                for machine in machines:
                    producer.send(
                        topic,
                        key=str(machine).encode(),
                        value=json.dumps({"machine": machine}).encode(),
                    )
                producer.flush()
        finally:
            producer.close()

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        yield
    finally:
        stop.set()
        sender.join(30)


def open_process_tab(browser, url: str):  # type: ignore[no-untyped-def]
    """A new browser context and page showing the Process tab (the caller closes it)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("StopHacking workbench").first.wait_for(timeout=60_000)
    page.locator(".bk-tab", has_text="Process").first.click()
    page.get_by_text("Malformed records").first.wait_for(timeout=60_000)
    return context, page


CHART_POINTS_JS = """() => {
  // Points drawn by the session's charts: rows of every ColumnDataSource with an x column.
  let points = 0;
  for (const doc of Bokeh.documents) {
    for (const model of doc._all_models.values()) {
      if (model.type === "ColumnDataSource" && model.data !== undefined) {
        const data = model.data;
        const columns = data instanceof Map ? [...data.values()] : Object.values(data);
        if (columns.length > 0) points += columns[0].length;
      }
    }
  }
  return points;
}"""


def test_process_tab_draws_live_counts_per_machine(
    browser, workbench_url: str, broker_settings: Settings, screenshots_dir: Path
) -> None:
    context, page = open_process_tab(browser, workbench_url)
    with sending_process_records(broker_settings):
        page.get_by_text("Counts at").first.wait_for(timeout=90_000)
        # The counts table beside the chart (the chart itself is drawn on a canvas).
        table = page.locator("table").filter(has_text="records in trailing 2 min").first
        table.wait_for(timeout=30_000)
        machines = [
            cell.strip() for cell in table.locator("tbody tr td:first-child").all_inner_texts()
        ]
        assert {"4", "5"} <= set(machines), machines
        deadline = time.monotonic() + 30
        while not charts_show_data(page, "Process records per machine"):
            assert time.monotonic() < deadline, "the chart's axes never reached the data"
            time.sleep(1.0)
        page.wait_for_timeout(3_000)  # one more sample on the chart for the screenshot
    page.screenshot(path=str(screenshots_dir / "process.png"), full_page=True)
    context.close()


def test_charts_keep_redrawing_in_every_open_session(
    browser, workbench_url: str, broker_settings: Settings
) -> None:
    # A plain page fetch (a session that never connects, as a health check makes), and
    # earlier tests' sessions opened and closed: none of that may freeze a chart. Two
    # sessions at once, each must see its chart's points grow.
    with urllib.request.urlopen(workbench_url, timeout=60) as response:
        assert response.status == 200
    sessions = [open_process_tab(browser, workbench_url) for _ in range(2)]
    try:
        with sending_process_records(broker_settings):
            deadline = time.monotonic() + 90
            first = [page.evaluate(CHART_POINTS_JS) for _, page in sessions]
            grown = [False] * len(sessions)
            while not all(grown) and time.monotonic() < deadline:
                time.sleep(1.0)
                for i, (_, page) in enumerate(sessions):
                    grown[i] = grown[i] or page.evaluate(CHART_POINTS_JS) > first[i]
            # Two samples later each chart must still be growing (not frozen after one).
            again = [page.evaluate(CHART_POINTS_JS) for _, page in sessions]
            later = list(again)
            while time.monotonic() < deadline and not all(
                b > a for a, b in zip(again, later, strict=True)
            ):
                time.sleep(1.0)
                later = [page.evaluate(CHART_POINTS_JS) for _, page in sessions]
        assert all(grown), f"charts that never redrew: {first} → {later}"
        assert all(b > a for a, b in zip(again, later, strict=True)), (again, later)
    finally:
        for context, _ in sessions:
            context.close()


PICK_JS = """(machines) => {
  for (const doc of Bokeh.documents) {
    for (const model of doc._all_models.values()) {
      if (model.type === "MultiChoice") model.value = machines;
    }
  }
}"""


HEAT_END_JS = """() => {
  // The end of the heat map's x range: it moves on with each new sample drawn.
  for (const doc of Bokeh.documents) for (const model of doc._all_models.values()) {
    const t = model.title;
    if (model.x_range && t && String(t.text ?? t).startsWith("All ")) return model.x_range.end;
  }
  return null;
}"""
FLEET = tuple(range(1001, 1501))
"""500 machines: the fleet of the real-time issue (each sends a record every 0.5 s here)."""


def _seconds_until(page: Any, condition: str, arg: Any, timeout_s: float = 120.0) -> float:
    started = time.monotonic()
    page.wait_for_function(condition, arg=arg, timeout=timeout_s * 1000)
    return time.monotonic() - started


def test_a_fleet_of_500_shows_its_busiest_machines_as_curves_and_every_machine_in_a_heat_map(
    browser, workbench_url: str, broker_settings: Settings, screenshots_dir: Path
) -> None:
    """500 machines: 8 curves, a heat map of all of them, the picker; and the page stays
    responsive: the time for a tab switch (Memory → Process, chart drawn), for a chart
    update (the heat map's newest sample moving on) and for the page to answer a script
    are measured and printed (``-s``), bounded only by the waits (a benchmark, not a
    timed test: ``tools/fleet_console_probe.py`` measures a whole run)."""
    context, page = open_process_tab(browser, workbench_url)
    try:
        with sending_process_records(broker_settings, FLEET):
            deadline = time.monotonic() + 180
            while True:
                curves = page.evaluate(PLOTS_JS, "Process records per machine (the 8 busiest")
                heat = page.evaluate(TITLES_JS, "All ")
                counted = [int(t.split()[1]) for t in heat if t.split()[1].isdigit()]
                if curves and len(curves[0]["labels"]) == 8 and counted and counted[0] >= 500:
                    break
                assert time.monotonic() < deadline, (curves, heat)
                time.sleep(1.0)
            page.wait_for_timeout(2_000)
            page.screenshot(path=str(screenshots_dir / "process-fleet.png"), full_page=True)
            answers = []
            for _ in range(5):
                before = time.monotonic()
                page.evaluate("() => 1")
                answers.append(time.monotonic() - before)
                time.sleep(0.5)
            # A chart update: the heat map's x range moves when a new sample is drawn.
            end = page.evaluate(f"() => ({HEAT_END_JS})()")
            update_s = _seconds_until(page, f"(old) => ({HEAT_END_JS})() !== old", end)
            page.locator(".bk-tab", has_text="Memory").first.click()
            page.wait_for_function(
                f"() => ({TITLES_JS})('Memory records per machine').length > 0", timeout=60_000
            )
            before = time.monotonic()
            page.locator(".bk-tab", has_text="Process").first.click()
            page.locator(LIVE_TAB_DRAWN).first.wait_for(timeout=120_000)
            page.wait_for_function(
                f"() => ({PLOTS_JS})('Process records per machine (the 8 busiest')"
                ".some((p) => p.labels.length === 8)",
                timeout=120_000,
            )
            switch_s = time.monotonic() - before
            print(
                f"500 machines: tab switch {switch_s:.2f} s, chart update {update_s:.2f} s "
                f"(one sample), page answer median {statistics.median(answers):.3f} s, "
                f"max {max(answers):.3f} s"
            )
        # The picker draws a chosen machine instead of the busiest.
        # (Set on the widget's model, as a choice in its list does: synced to the server.)
        page.evaluate(PICK_JS, ["1001"])
        deadline = time.monotonic() + 30
        while page.evaluate(PLOTS_JS, "Process records per machine")[0]["labels"] != [
            "machine 1001"
        ]:
            assert time.monotonic() < deadline, page.evaluate(PLOTS_JS, "Process records")
            time.sleep(0.5)
    finally:
        context.close()


def data_events(frames: list[str | bytes]) -> list[dict[str, Any]]:
    """The document events of Bokeh's messages among websocket frames that change a data
    source: ``ColumnsStreamed`` (new rows appended) or a whole ``data`` replaced."""
    events = []
    for frame in frames:
        if not isinstance(frame, str) or '"events"' not in frame:
            continue
        with contextlib.suppress(ValueError):
            for event in json.loads(frame).get("events", []):
                kind = event.get("kind")
                if kind in ("ColumnsStreamed", "ColumnDataChanged", "ColumnsPatched") or (
                    kind == "ModelChanged" and event.get("attr") == "data"
                ):
                    events.append(event)
    return events


def column_rows(value: Any) -> int:
    """Rows of one serialised column: a JSON list or Bokeh's ndarray reference."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict) and value.get("type") == "ndarray":
        return int(value["shape"][0])
    raise AssertionError(f"unexpected column encoding: {str(value)[:200]}")


def columns_of(data: Any) -> dict[str, Any]:
    """A serialised ``data`` mapping (Bokeh sends dicts as ``{"type": "map", ...}``)."""
    if isinstance(data, dict) and data.get("type") == "map":
        return {key: value for key, value in data.get("entries", [])}
    assert isinstance(data, dict), str(data)[:200]
    return data


CURVE_POINTS_JS = """() => {
  // Rows of the longest live curve drawn (visible renderers whose data have a time column).
  let rows = 0;
  for (const doc of Bokeh.documents) {
    for (const model of doc._all_models.values()) {
      if (model.type !== "GlyphRenderer" || !model.visible) continue;
      const source = model.data_source;
      if (source === undefined || source.data === undefined) continue;
      const data = source.data instanceof Map ? source.data : new Map(Object.entries(source.data));
      const times = data.get("time");
      if (times !== undefined) rows = Math.max(rows, times.length);
    }
  }
  return rows;
}"""


OFFERED_JS = """(machines) => {
  // Whether the Process tab's picker (the one offering machine 401…) offers them all.
  for (const doc of Bokeh.documents)
    for (const model of doc._all_models.values())
      if (model.type === "MultiChoice" && machines.every((m) => model.options.includes(m)))
        return true;
  return false;
}"""


def test_live_chart_updates_send_only_the_new_samples(
    browser, workbench_url: str, broker_settings: Settings
) -> None:
    # Issue 16: with a long history, a redraw must not resend it. Record what the server
    # pushes to the page once the curves hold a history, and check that each update
    # carries only the newest sample(s): a streamed row per curve, a streamed column of
    # the heat map, never a whole data source again.
    context, page = open_process_tab(browser, workbench_url)
    frames: list[str | bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
    page.reload(wait_until="domcontentloaded")  # the page's websocket is recorded from here
    page.locator(".bk-tab", has_text="Process").first.click()
    page.get_by_text("Malformed records").first.wait_for(timeout=60_000)
    try:
        with sending_process_records(broker_settings, (401, 402)):
            # Picked machines: the curves stay the same (no ranking of the busiest, which
            # redraws the chart whole once a minute). The picker takes machines it offers.
            deadline = time.monotonic() + 120
            while not page.evaluate(OFFERED_JS, ["401", "402"]):
                assert time.monotonic() < deadline, "the picker never offered 401 and 402"
                time.sleep(1.0)
            page.evaluate(PICK_JS, ["401", "402"])
            picked = ["machine 401", "machine 402"]
            deadline = time.monotonic() + 60
            while [p["labels"] for p in page.evaluate(PLOTS_JS, "Process records")] != [picked]:
                assert time.monotonic() < deadline, page.evaluate(PLOTS_JS, "Process")
                time.sleep(1.0)
            deadline = time.monotonic() + 120
            while page.evaluate(CURVE_POINTS_JS) < 6:  # a history of 6 samples or more
                assert time.monotonic() < deadline, page.evaluate(PLOTS_JS, "Process")
                time.sleep(1.0)
            history = page.evaluate(CURVE_POINTS_JS)
            steady_from = len(frames)
            deadline = time.monotonic() + 60
            # Three samples (every 5 s) streamed after the history was on the page.
            while page.evaluate(CURVE_POINTS_JS) < history + 3:
                assert time.monotonic() < deadline, "the curves stopped growing"
                time.sleep(1.0)
            steady = frames[steady_from:]
        events = data_events(steady)
        streamed = [e for e in events if e["kind"] == "ColumnsStreamed"]
        replaced = [e for e in events if e["kind"] != "ColumnsStreamed"]
        curve_rows = [
            column_rows(columns_of(e["data"])["time"])
            for e in streamed
            if "time" in columns_of(e["data"])
        ]
        heat_rows = [
            column_rows(columns_of(e["data"])["image"])
            for e in streamed
            if "image" in columns_of(e["data"])
        ]
        # Both curves got each new sample as one streamed row (two at most when a pull
        # found two samples), and the heat map one column per sample.
        assert len(curve_rows) >= 2 * 3 and max(curve_rows) <= 2, curve_rows
        assert heat_rows and max(heat_rows) <= 2, heat_rows
        # No update replaced a source's data (that would resend the whole history).
        assert not replaced, [str(e)[:300] for e in replaced]
        # Every array the page received (Bokeh sends them as binary frames) holds two
        # samples at most: one heat map column of every machine is the biggest (the whole
        # heat map is 120 columns, the curves' history is growing).
        title = page.evaluate(TITLES_JS, "All ")
        machines = int(re.match(r"All (\d+) machines", title[0]).group(1))  # type: ignore[union-attr]
        biggest = max(len(f) for f in steady if isinstance(f, bytes))
        assert biggest <= 2 * machines * 4, (biggest, machines, history)
    finally:
        context.close()


def test_a_failing_producer_shows_in_its_tab_and_the_sidebar_and_the_app_stays_up(
    browser, workbench_url: str, tmp_path: Path, screenshots_dir: Path
) -> None:
    # Keep this check last in the module: it leaves the process producer's file set.
    missing = tmp_path / "no-such-file.csv"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(workbench_url, wait_until="domcontentloaded")
    page.get_by_text("StopHacking workbench").first.wait_for(timeout=60_000)
    page.locator(".bk-tab", has_text="Producers").first.click()
    file_input = page.get_by_placeholder("demo data").first
    file_input.fill(str(missing))
    file_input.press("Enter")
    page.get_by_role("button", name="Start", exact=True).first.click()
    # The sidebar and the tab both say so; the child's last stderr line names the file.
    page.get_by_text(re.compile(r"Process producer: failed \(exit code \d+\)")).first.wait_for(
        timeout=90_000
    )
    alert = page.get_by_text("The process producer exited with code").locator("visible=true")
    alert.first.wait_for(timeout=30_000)
    assert missing.name in alert.first.inner_text()
    page.screenshot(path=str(screenshots_dir / "producer-failed.png"), full_page=True)
    # The app is still up: another tab still renders and the other producer is fine.
    page.locator(".bk-tab", has_text="Broker").first.click()
    page.get_by_text("Topics").locator("visible=true").first.wait_for(timeout=30_000)
    assert page.get_by_text("Memory producer: stopped").first.is_visible()
    context.close()

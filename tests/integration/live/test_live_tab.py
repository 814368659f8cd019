"""The Process tab of the workbench against the real broker: waiting, then live counts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import holoviews as hv
import panel as pn
from bokeh.document import Document
from kafka import KafkaProducer
from pyviz_comms import Comm

from pipelines import kafka_io
from pipelines.config import Settings, replace
from workbench.feeds import WorkbenchState
from workbench.tabs.live import live_tab


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


def markdown_text(view: pn.viewable.Viewable) -> str:
    return " ".join(
        str(pane.object) for pane in view.select(lambda o: isinstance(o, pn.pane.Markdown))
    )


def test_process_tab_waits_then_shows_counts_per_machine(
    broker_settings: Settings, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("live-tab")
    settings = replace(
        broker_settings,
        {"kafka.topics.process": topic, "live.window_s": 30.0, "live.sample_s": 1.0},
    )
    state = WorkbenchState(settings)
    feed = state.live.process
    try:
        tab = live_tab(feed)
        root = tab.get_root(Document(), Comm())  # the Bokeh model a browser would get
        assert root is not None
        chart = tab.select(pn.pane.HoloViews)[0]
        assert isinstance(chart.object, hv.DynamicMap)
        # Each session's chart has its own Buffer of the samples it drew, appended to
        # from the shared Buffer on the session's loop (workbench.live_charts).
        own = chart.object.streams[0]
        assert isinstance(own, hv.streams.Buffer) and own is not feed.buffer

        assert feed.live.wait_ready(60), feed.message
        wait_until(lambda: feed.state == "waiting", 10, "the waiting state")
        assert "Waiting for data" in markdown_text(tab)

        producer = KafkaProducer(**kafka_io.client_config(settings.kafka, acks="all"))
        for machine, n in ((4, 3), (5, 2)):
            for _ in range(n):
                producer.send(
                    topic,
                    key=str(machine).encode(),
                    value=json.dumps({"machine": machine}).encode(),
                )
        producer.send(topic, key=b"4", value=b"{oops")
        producer.flush()
        producer.close()

        expected = {"machine": ["4", "5"], "records in trailing 30 s": [3, 2]}
        # A sample taken just before the records arrived lists the machines with 0.
        wait_until(
            lambda: feed.table is not None and feed.table.to_dict("list") == expected,
            30,
            "the counts table",
        )
        assert feed.state == "live"
        assert feed.malformed_total == 1 and feed.malformed == {"not JSON": 1}
        text = markdown_text(tab)
        assert "Malformed records: **1**" in text
        assert "not JSON: 1" in text
        # A second session gets its own chart (its own Buffer) over the same shared
        # Buffer, starting with the samples taken so far (both machines' curves).
        wait_until(lambda: feed.machines() == ["4", "5"], 10, "the samples in the Buffer")
        second = live_tab(feed).select(pn.pane.HoloViews)[0].object.streams[0]
        assert isinstance(second, hv.streams.Buffer) and second is not own
        assert len(second.data) >= 1 and second.data[["slot 0", "slot 1"]].notna().all().all()
    finally:
        state.live.stop_all()
    assert feed.state == "stopped"

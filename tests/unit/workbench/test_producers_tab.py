"""Producers tab and feed without a broker: the child's command line and the view."""

from __future__ import annotations

import json
import sys

import panel as pn
import pytest
from bokeh.document import Document
from pyviz_comms import Comm

from pipelines.config import Settings, load_settings, replace
from pipelines.replay.report import ReplayReport
from workbench.feeds.producers import (
    ProducerFeed,
    ProducersFeed,
    producer_command,
    producer_environment,
)
from workbench.tabs.producers import producers_tab, records_table


@pytest.fixture
def wb_settings() -> Settings:
    return replace(
        load_settings(),
        {
            "home": "/tmp/wb-home",
            "kafka.bootstrap_servers": "h1:9092,h2:9092",
            "kafka.extra": {"security_protocol": "SASL_SSL", "retries": 5},
            "kafka.topics.memory": "my.memory",
            "replay.connect_timeout_s": 7.0,
        },
    )


def test_child_command_carries_the_workbench_settings(wb_settings: Settings) -> None:
    command = producer_command(wb_settings, "memory", file="/d/m.csv", speed=4, seed=3, cycles=10)
    assert command[:3] == [sys.executable, "-m", "pipelines.cli"]
    assert command[3:7] == ["--bootstrap-servers", "h1:9092,h2:9092", "--home", "/tmp/wb-home"]
    assert not any("SASL_SSL" in part or "retries" in part for part in command), (
        "client keys (passwords among them) stay off the command line"
    )
    tail = command[command.index("produce") :]
    assert tail == [
        "produce", "memory", "--progress", "json", "--topic", "my.memory", "--speed", "4.0",
        "--file", "/d/m.csv", "--seed", "3", "--cycles", "10",
    ]  # fmt: skip


def test_defaults_leave_file_seed_and_cycles_to_the_producer(wb_settings: Settings) -> None:
    command = producer_command(wb_settings, "process")
    assert not {"--file", "--seed", "--cycles"} & set(command)


def test_child_environment_passes_replay_settings_as_json(
    wb_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOPHACKING_REPLAY__CONNECT_TIMEOUT_S", "99")
    monkeypatch.setenv("STOPHACKING_KAFKA__EXTRA__RETRIES", "9")
    env = producer_environment(wb_settings)
    assert "STOPHACKING_REPLAY__CONNECT_TIMEOUT_S" not in env
    assert "STOPHACKING_KAFKA__EXTRA__RETRIES" not in env
    assert json.loads(env["STOPHACKING_REPLAY"])["connect_timeout_s"] == 7.0
    assert json.loads(env["STOPHACKING_KAFKA__EXTRA"]) == wb_settings.kafka.extra


def test_records_table_lists_machines_in_numeric_order() -> None:
    table = records_table({"10": 5, "4": 7}, {"4": 6})
    assert table.to_dict("list") == {
        "machine": ["4", "10"],
        "sent": [7, 5],
        "acknowledged": [6, 0],
    }


def test_tab_renders_and_follows_the_feed(wb_settings: Settings) -> None:
    feeds = ProducersFeed(wb_settings)
    tab = producers_tab(feeds)
    tab.get_root(Document(), Comm())  # builds the Bokeh models like a session would
    waiting = [m.object for m in tab.select(pn.pane.Markdown) if "no records sent" in str(m.object)]
    assert len(waiting) == 2, "both producers say they are waiting for data"
    feed: ProducerFeed = feeds.process
    feed._show(ReplayReport("process", "t", "r", "f", 2, {4: 30, 6: 20}, {4: 30, 6: 19}))
    frames = [
        pane.object
        for pane in tab.select(pn.pane.DataFrame)
        if pane.object is not None and len(pane.object)
    ]
    assert [f.to_dict("list") for f in frames] == [
        {"machine": ["4", "6"], "sent": [30, 20], "acknowledged": [30, 19]}
    ]
    process_card, memory_card, agent_card = tab.select(pn.Card)
    numbers = {n.label: n.value for n in process_card.select(pn.indicators.Number)}
    assert numbers == {"records acknowledged": 49, "records/s": 0.0, "errors": 0}
    assert {n.value for n in memory_card.select(pn.indicators.Number)} == {0}
    assert agent_card.title == "This machine, live (agent)"


def test_the_agent_card_follows_its_feed(wb_settings: Settings) -> None:
    feeds = ProducersFeed(wb_settings)
    tab = producers_tab(feeds)
    tab.get_root(Document(), Comm())
    agent_card = tab.select(pn.Card)[-1]
    feeds.agent.machine = 30362
    feeds.agent.param.update(running=True, pid=4321)
    feeds.agent._show(
        ReplayReport("agent", "p + m", "r", "this machine (live)", 3, {30362: 600}, {30362: 580})
    )
    numbers = {n.label: n.value for n in agent_card.select(pn.indicators.Number)}
    assert numbers == {"rows acknowledged": 580, "rows dropped (Kafka away)": 0}
    status = [str(m.object) for m in agent_card.select(pn.pane.Markdown)]
    assert any("Running (pid 4321), 3 intervals" in text for text in status)
    start, stop = (b for b in agent_card.select(pn.widgets.Button))
    assert (start.disabled, stop.disabled) == (True, False)


def test_stopping_a_feed_that_never_started_is_harmless(wb_settings: Settings) -> None:
    feed = ProducerFeed(wb_settings, "memory")
    assert feed.stop() is None
    assert feed.wait(timeout_s=0.1) is None
    assert not feed.running

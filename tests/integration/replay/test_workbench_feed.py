"""The workbench's producers feed: child processes, live counts, clean stop."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from pipelines.config import Settings, replace
from tests.support.replay import ROWS_PER_MACHINE, write_streaming_csv
from workbench.feeds import WorkbenchState
from workbench.feeds.producers import ProducerFeed


def wait_for(condition, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_a_bounded_run_shows_records_per_machine_that_match_the_topic(
    broker_settings: Settings, topic_factory, consume, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    topic = topic_factory("feed")
    settings = replace(broker_settings, {"kafka.topics.process": topic})
    feed = ProducerFeed(settings, "process")
    feed.param.update(
        file=str(write_streaming_csv(tmp_path, "process")), speed=50.0, seed=4, cycles=3
    )
    seen: list[dict[str, int]] = []
    feed.param.watch(lambda event: seen.append(event.new), "acked_per_machine")
    feed.start()
    assert feed.running and feed.pid
    summary = feed.wait(timeout_s=120)

    assert summary is not None, feed.message
    assert (feed.running, feed.exit_code, feed.pid) == (False, 0, None)
    assert (summary.cycles, summary.errors) == (3, 0)
    records = consume(topic, summary.total_acked)
    per_machine = Counter(key.decode() for key, _ in records)
    assert feed.acked_per_machine == dict(per_machine)
    assert set(feed.acked_per_machine) == {str(m) for m in ROWS_PER_MACHINE}
    assert feed.total_acked == len(records) == summary.total_acked
    assert seen and seen[-1] == dict(per_machine)
    assert feed.cycles_done == 3
    assert "3 cycles" in feed.message


def test_workbench_shutdown_stops_a_running_producer_cleanly(
    broker_settings: Settings, topic_factory, consume, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    topic = topic_factory("shutdown")
    state = WorkbenchState(replace(broker_settings, {"kafka.topics.memory": topic}))
    feed = state.producers.memory
    feed.param.update(file=str(write_streaming_csv(tmp_path, "memory")), speed=20.0)
    feed.start()
    pid = feed.pid
    wait_for(lambda: feed.cycles_done >= 2)
    state.shutdown()

    assert (feed.running, feed.exit_code) == (False, 0)
    assert feed.summary is not None and feed.summary.reason == "stopped"
    assert feed.summary.errors == 0
    records = consume(topic, feed.summary.total_acked)
    assert len(records) == feed.summary.total_acked == feed.summary.total_sent
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the child is gone (and was reaped)


def test_a_producer_that_fails_says_why(broker_settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sequence,machine\n1,4\n")
    feed = ProducerFeed(broker_settings, "process")
    feed.param.update(file=str(bad), cycles=1)
    feed.start()
    assert feed.wait(timeout_s=60) is None
    assert feed.exit_code == 2
    assert "bad.csv, line 1: missing column(s) PID" in feed.message


def test_the_agent_feed_publishes_this_machine_and_stops_cleanly(
    broker_settings: Settings, topic_factory, consume
) -> None:  # type: ignore[no-untyped-def]
    process_topic, memory_topic = topic_factory("agent-p"), topic_factory("agent-m")
    settings = replace(
        broker_settings,
        {"kafka.topics.process": process_topic, "kafka.topics.memory": memory_topic},
    )
    state = WorkbenchState(settings)
    feed = state.producers.agent
    feed.interval_s = 1.0
    feed.start()
    wait_for(lambda: feed.cycles_done >= 2 and feed.total_acked > 0, timeout_s=90)
    assert feed.machine is not None and "Sampling this machine" in feed.message
    assert list(feed.acked_per_machine) == [str(feed.machine)]
    state.producers.stop_all()  # what the workbench does at shutdown
    assert (feed.running, feed.exit_code) == (False, 0), feed.message
    assert feed.message.startswith("Stopped after")
    records = consume(process_topic, 1)
    assert {key.decode() for key, _ in records} == {str(feed.machine)}

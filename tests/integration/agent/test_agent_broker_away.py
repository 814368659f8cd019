"""The agent with no broker to talk to: it keeps sampling, keeps a bounded number of
intervals, drops the oldest and counts exactly what it lost; it never crashes."""

from __future__ import annotations

from pipelines.agent.run import Agent
from pipelines.config import Settings, replace
from tests.conftest import free_port


def test_without_a_broker_the_oldest_intervals_are_dropped_and_counted(
    settings: Settings,
) -> None:
    away = replace(
        settings,
        {
            "kafka.bootstrap_servers": f"127.0.0.1:{free_port()}",  # nothing listens
            "agent.max_buffered_intervals": 2,
            "agent.connect_timeout_s": 0.3,
        },
    )
    agent = Agent(away, machine=4343, interval_s=0.5)
    report = agent.run(intervals=5)
    assert report.intervals == 5
    kept = agent.outbox.intervals()
    assert [i.index for i in kept] == [4, 5]
    kept_records = sum(m.records for i in kept for m in i.messages)
    assert report.acked == 0
    assert report.waiting == kept_records
    assert report.dropped == report.sampled - kept_records > 0
    assert agent.outbox.counts.dropped_intervals == 3
    assert report.last_error and away.kafka.bootstrap_servers in report.last_error

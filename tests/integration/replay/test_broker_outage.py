"""A broker stopped for a few seconds mid-run: nothing lost, nothing duplicated.

This test is about restarting a broker, so it starts its own embedded broker on
free ports (storage kept across stop/start) instead of the session's.
"""

from __future__ import annotations

import threading
import time

from pipelines.replay.kafka_producer import Replayer
from pipelines.replay.report import ReplayReport
from tests.support.replay import planned_identities, write_streaming_csv

OUTAGE_S = 4.0
CYCLES = 24
SPEED = 10.0  # a process cycle every 0.5 s: the run spans the outage and the restart


def test_a_short_outage_loses_and_duplicates_nothing(own_broker, consume_from, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings, broker = own_broker
    path = write_streaming_csv(tmp_path, "process")
    topic = "test.process.outage"
    reached_cycle_4 = threading.Event()
    latest: list[ReplayReport] = []

    def watch(report: ReplayReport) -> None:
        latest.append(report)
        if report.cycles >= 4:
            reached_cycle_4.set()

    result: dict[str, ReplayReport] = {}

    def produce() -> None:
        with Replayer(
            settings,
            "process",
            file=path,
            seed=9,
            speed=SPEED,
            clock="simulated",
            start_ts=1_700_000_000.0,
            topic=topic,
            on_progress=watch,
        ) as replayer:
            result["report"] = replayer.run(cycles=CYCLES)

    producer = threading.Thread(target=produce)
    producer.start()
    assert reached_cycle_4.wait(60), "the producer never got going"
    broker.stop()
    stopped_at = time.monotonic()
    time.sleep(OUTAGE_S)  # the outage itself, not a readiness wait
    during = latest[-1]
    broker.start()  # same storage: what was written before is kept
    outage_s = time.monotonic() - stopped_at
    producer.join(timeout=180)
    assert not producer.is_alive()

    report = result["report"]
    assert report.errors == 0, report.last_error
    assert report.cycles == CYCLES
    # The outage fell inside the run: cycles went on while records waited for the broker.
    assert during.cycles < CYCLES
    assert during.total_sent > during.total_acked
    assert report.elapsed_s > outage_s
    expected = planned_identities(
        path, "process", settings.replay.process, seed=9, cycles=CYCLES, start_ts=1_700_000_000.0
    )
    records = [value for _, value in consume_from(settings.kafka, topic, len(expected))]
    identities = [(r["machine"], r["pass"], r["sequence"], r["ts"]) for r in records]
    assert len(identities) == len(set(identities)), "a record was duplicated"
    assert sorted(identities) == sorted(expected), "a record was lost"
    assert report.total_acked == len(expected)

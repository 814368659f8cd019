"""The live pipeline against the real broker, with a producer whose send times the test controls.

Bursts of known sizes per machine go out at known times; with a 10 s window sampled
every second, the counts the pipeline emits into the Buffer at each sample must match
the counts computed from the send schedule, allowing each burst up to one sample period
of delivery delay (send → broker → consumer poll).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaProducer

from pipelines import kafka_io
from pipelines.config import Settings
from pipelines.live.pipeline import COUNT, MACHINE, TIME, LiveCounts

WINDOW_S = 10.0
SAMPLE_S = 1.0
MAX_DELAY_S = SAMPLE_S
"""Delivery delay allowed per burst: one sample period."""


@dataclass(frozen=True)
class Burst:
    offset_s: float  # after the schedule's start
    machine: int
    records: int
    as_array: bool = False  # all records in one message (a JSON array)


SCHEDULE = (
    Burst(0.3, 4, 5),
    Burst(1.3, 5, 3),
    Burst(2.3, 4, 2, as_array=True),
    Burst(4.3, 6, 7),
    Burst(5.3, 4, 1),
    Burst(6.3, 5, 4, as_array=True),
)
"""Each machine's bursts span at most 6 s, so with a 10 s window and up to 1 s of delay
there are samples where all of them sit in the window together (the peaks below)."""


def record(machine: int, sequence: int) -> dict[str, object]:
    return {"sequence": sequence, "machine": machine, "PID": 100 + sequence, "CMD": "sshd"}


def send_burst(producer: KafkaProducer, topic: str, burst: Burst) -> None:
    key = str(burst.machine).encode()
    rows = [record(burst.machine, i) for i in range(burst.records)]
    if burst.as_array:
        producer.send(topic, key=key, value=json.dumps(rows).encode())
    else:
        for row in rows:
            producer.send(topic, key=key, value=json.dumps(row).encode())
    producer.flush()


def bounds(sent: list[tuple[float, Burst]], at: float, machine: int) -> tuple[int, int]:
    """Least and most records of ``machine`` that can be in (at - W, at] at sample ``at``
    when each burst arrives between its send time s and s + MAX_DELAY_S."""
    low = sum(
        b.records for s, b in sent if b.machine == machine and at - WINDOW_S < s <= at - MAX_DELAY_S
    )
    high = sum(
        b.records for s, b in sent if b.machine == machine and at - WINDOW_S - MAX_DELAY_S < s <= at
    )
    return low, high


def test_counts_at_each_sample_match_the_send_schedule(
    broker_settings: Settings, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("live")
    live = LiveCounts(broker_settings, "process", topic=topic, window_s=WINDOW_S, sample_s=SAMPLE_S)
    producer = KafkaProducer(**kafka_io.client_config(broker_settings.kafka, acks="all"))
    live.start(duration_s=120)
    try:
        assert live.wait_ready(60), live.status().message
        # Start just after a whole second so bursts sit mid-way between samples.
        start = math.floor(time.time()) + 1.0
        sent: list[tuple[float, Burst]] = []
        for burst in SCHEDULE:
            time.sleep(max(0.0, start + burst.offset_s - time.time()))
            sent_at = time.time()
            send_burst(producer, topic, burst)
            sent.append((sent_at, burst))
        # Malformed messages mid-run: counted, not fatal.
        producer.send(topic, value=b"this is not JSON")
        producer.send(topic, value=json.dumps({"PID": 1}).encode())  # no key, no machine
        producer.flush()
        last_sent = sent[-1][0]
        # Run until every burst has left the window (plus the delay allowance).
        end = last_sent + WINDOW_S + MAX_DELAY_S + SAMPLE_S
        latest = live.wait_for_sample(None, 30)
        while latest is not None and latest.at < end:
            latest = live.wait_for_sample(latest.at, 10)
    finally:
        producer.close()
        live.stop()

    # The Buffer (what the chart draws) gets the last batch a moment after the sample.
    deadline = time.monotonic() + 10
    series = live.series()
    while time.monotonic() < deadline:
        data = live.buffer.data
        if len(data) and data[TIME].iloc[-1].timestamp() == series[-1].at:
            break
        time.sleep(0.05)
    data = live.buffer.data
    emitted = {
        (t.timestamp(), machine): count
        for t, machine, count in data[[TIME, MACHINE, COUNT]].itertuples(index=False)
    }
    sample_times = sorted({t for t, _ in emitted})
    # Samples before the first record have no rows (no machine known yet).
    assert sample_times == [s.at for s in series if s.counts]
    assert all(b - a == SAMPLE_S for a, b in itertools.pairwise(sample_times))
    checked = 0
    for at in sample_times:
        for machine in (4, 5, 6):
            low, high = bounds(sent, at, machine)
            actual = emitted.get((at, str(machine)), 0)  # absent before its first record
            assert low <= actual <= high, (at - start, machine, actual, (low, high))
            checked += 1
    assert checked >= 3 * 15
    # The plateaus every allowance agrees on were reached: all of machine 4's bursts
    # (8 records) and all of machine 5's (7) sat in one window together at some sample.
    peak = {m: max(c for (_, mm), c in emitted.items() if mm == m) for m in ("4", "5", "6")}
    assert peak == {"4": 8, "5": 7, "6": 7}
    # Quiet at the end: every curve back at 0.
    assert dict(series[-1].counts) == {"4": 0, "5": 0, "6": 0}
    status = live.status()
    assert status.malformed == {"not JSON": 1, "no machine id": 1}
    assert status.accepted == sum(b.records for b in SCHEDULE)


def test_reads_from_the_beginning_when_asked(
    broker_settings: Settings, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("live-earliest")
    producer = KafkaProducer(**kafka_io.client_config(broker_settings.kafka, acks="all"))
    for i in range(6):
        producer.send(topic, key=b"7", value=json.dumps(record(7, i)).encode())
    producer.flush()
    producer.close()
    live = LiveCounts(
        broker_settings,
        "memory",
        topic=topic,
        window_s=WINDOW_S,
        sample_s=SAMPLE_S,
        from_beginning=True,
    )
    live.start(max_messages=6, duration_s=60)
    assert live.wait(90)
    # Records read now arrived now: all six in the trailing window.
    assert live.snapshot() == {"7": 6}
    assert live.status().messages == 6

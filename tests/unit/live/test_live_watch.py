"""The terminal view of ``stophacking watch``, from plain values."""

from __future__ import annotations

from pipelines.live.counts import Sample
from pipelines.live.pipeline import LiveStatus
from pipelines.live.watch import format_table

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


def test_table_lists_machines_in_numeric_order_with_their_counts() -> None:
    sample = Sample(at=T0, counts={"10": 3, "4": 1_250, "5": 0})
    status = LiveStatus(
        state="live",
        message="reading",
        accepted=1_253,
        malformed={"not JSON": 2},
        latest=sample,
        messages=1_255,
    )
    text = format_table("process", 120.0, sample, status)
    lines = text.splitlines()
    assert lines[0] == "process · records in trailing 2 min · live"
    assert lines[1] == "  sample at 2027-01-15 08:00:00 UTC"
    assert [line.split() for line in lines[3:6]] == [["4", "1,250"], ["5", "0"], ["10", "3"]]
    assert lines[-1] == "  messages 1,255 · records 1,253 · malformed 2 (not JSON: 2)"


def test_waiting_and_broker_down_say_so() -> None:
    waiting = LiveStatus(state="waiting", message="waiting for data on t…")
    assert "waiting for data on t…" in format_table("memory", 10.0, None, waiting)
    sample = Sample(at=T0, counts={"4": 7})
    down = LiveStatus(
        state="broker down", message="Kafka at h:1 not reachable since 08:00:00 UTC; retrying"
    )
    text = format_table("memory", 10.0, sample, down)
    assert "memory · records in trailing 10 s · broker down" in text
    assert "! Kafka at h:1 not reachable since 08:00:00 UTC; retrying" in text

"""The benchmarks' summaries of plain values: trends, progress ranges, process figures."""

from __future__ import annotations

import os

from pipelines.bench.probes import children_of, cpu_seconds, rss_bytes, slope_per_min
from pipelines.detector.latency import batch_progress


def test_a_flat_series_has_no_slope_and_a_rising_one_has_its_rate() -> None:
    assert slope_per_min([(0.0, 5.0), (30.0, 5.0), (60.0, 5.0)]) == 0.0
    # 2 messages more every 10 s: 12 per minute.
    assert abs(slope_per_min([(t, 2.0 * t / 10) for t in range(0, 100, 10)]) - 12.0) < 1e-9
    assert slope_per_min([(0.0, 1.0)]) == 0.0


def test_this_process_has_cpu_time_memory_and_is_its_own_root() -> None:
    me = os.getpid()
    assert (cpu_seconds(me) or 0) > 0
    assert (rss_bytes(me) or 0) > 10 * 2**20
    assert me in children_of([me])
    assert cpu_seconds(2**22 + 12345) is None  # no such process


def test_a_progress_gives_each_partition_its_offset_range_and_the_end_time() -> None:
    progress = {
        "name": "attack_counts",
        "batchId": 7,
        "timestamp": "2026-12-06T10:00:00.000Z",
        "durationMs": {"triggerExecution": 1500},
        "sources": [
            {"startOffset": '{"a": {"0": 10}}', "endOffset": '{"a": {"0": 25, "1": 3}}'},
            {"startOffset": None, "endOffset": {"b": {"0": 4}}},
        ],
    }
    batch = batch_progress(progress)
    assert batch.query == "attack_counts" and batch.batch_id == 7
    assert batch.ended_s == 1796551200.0 + 1.5
    assert batch.ranges == {("a", 0): (10, 25), ("a", 1): (0, 3), ("b", 0): (0, 4)}
    assert batch.ends() == {("a", 0): 25, ("a", 1): 3, ("b", 0): 4}

"""The detector benchmark's arithmetic and report (plain values)."""

from __future__ import annotations

import pytest

from pipelines.bench.detector import DetectorBenchmark, DrainRun, cycles_for, drained_span_s
from pipelines.config import ReplaySettings
from pipelines.detector.health import BatchStatus
from pipelines.errors import ConfigError


def test_cycles_for_covers_the_wanted_records() -> None:
    replay = ReplaySettings()
    # Process: 30 rows per machine per cycle on average; 5 machines → 150 per cycle.
    assert cycles_for(3000, replay.process, machines=5) == 20
    assert cycles_for(3001, replay.process, machines=5) == 21
    # Memory: 50 new + 2.5 held-back rows per machine per cycle → 262.5 per cycle.
    assert cycles_for(3000, replay.memory, machines=5) == 12
    assert cycles_for(1, replay.memory, machines=5) == 1


def test_cycles_for_refuses_a_rule_that_sends_nothing() -> None:
    rule = ReplaySettings().process.model_copy(update={"rows_min": 0, "rows_max": 0})
    with pytest.raises(ConfigError):
        cycles_for(10, rule, machines=3)


def _run(records: int, drain_s: float, ceiling_per_s: float, warmup_per_s: float = 0.0) -> DrainRun:
    return DrainRun(
        records={"process": records, "memory": records},
        drain_s=drain_s,
        batches={"process": 1, "memory": 2},
        batch_s={"process": (drain_s,), "memory": (drain_s / 2, drain_s / 2)},
        ceiling_per_s=ceiling_per_s,
        warmup_per_s=warmup_per_s,
    )


def test_benchmark_medians_ratio_and_summary() -> None:
    result = DetectorBenchmark(
        runs=(
            _run(500, 10.0, 300.0, warmup_per_s=40.0),
            _run(500, 20.0, 100.0, warmup_per_s=90.0),
            _run(500, 5.0, 200.0, warmup_per_s=95.0),
        ),
        layout="record",
    )
    assert [r.records_per_s for r in result.runs] == [100.0, 50.0, 200.0]
    assert result.median_per_s == 100.0
    assert result.median_ceiling_per_s == 200.0
    # Each run's own ratio (1/3, 1/2, 1), then their median.
    assert result.median_ratio == 0.5
    lines = result.summary_lines()
    assert lines[0] == (
        "run 1: 1,000 records drained in 10.0 s = 100 rec/s; ceiling 300 rec/s (ratio 0.33); "
        "process 500 rec in 1 batch(es) (10.0 s), memory 500 rec in 2 batch(es) (5.0, 5.0 s); "
        "its warm-up drained at 40 rec/s"
    )
    # The cold JVM's rate is the first run's warm-up, whatever the later runs did.
    assert result.cold_per_s == 40.0
    assert lines[-1].startswith("detector: median 100 rec/s over 3 run(s), record messages")
    assert lines[-1].endswith("median 200 rec/s; ratio 0.50; cold JVM (the first warm-up) 40 rec/s")


def _status(stream: str, ended_at: float | None, duration_s: float) -> BatchStatus:
    return BatchStatus(
        stream=stream, batch_id=0, messages=1, records=1, quarantined={}, scored=1,
        attacks=0, duration_s=duration_s, ended_at=ended_at,
    )  # fmt: skip


def test_drained_span_runs_from_the_first_batch_start_to_the_last_end() -> None:
    statuses = [
        _status("process", ended_at=110.0, duration_s=10.0),  # 100 → 110
        _status("memory", ended_at=104.0, duration_s=6.0),  # 98 → 104
        _status("memory", ended_at=None, duration_s=50.0),  # unknown end: not counted
    ]
    assert drained_span_s(statuses) == 12.0
    assert drained_span_s([]) == 0.0

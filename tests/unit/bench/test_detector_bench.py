"""The detector benchmark's arithmetic and report (plain values)."""

from __future__ import annotations

import pytest

from pipelines.bench.detector import DetectorBenchmark, DrainRun, cycles_for
from pipelines.config import ReplaySettings
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


def _run(records: int, drain_s: float, ceiling_per_s: float) -> DrainRun:
    return DrainRun(
        records={"process": records, "memory": records},
        drain_s=drain_s,
        batches={"process": 1, "memory": 2},
        batch_s={"process": (drain_s,), "memory": (drain_s / 2, drain_s / 2)},
        ceiling_per_s=ceiling_per_s,
    )


def test_benchmark_medians_ratio_and_summary() -> None:
    result = DetectorBenchmark(
        runs=(_run(500, 10.0, 300.0), _run(500, 20.0, 100.0), _run(500, 5.0, 200.0)),
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
        "process 500 rec in 1 batch(es) (10.0 s), memory 500 rec in 2 batch(es) (5.0, 5.0 s)"
    )
    assert lines[-1].startswith("detector: median 100 rec/s over 3 run(s), record messages")
    assert lines[-1].endswith("median 200 rec/s; ratio 0.50")

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


def _run(records: int, drain_s: float) -> DrainRun:
    return DrainRun(
        records={"process": records, "memory": records},
        drain_s=drain_s,
        settle_s=1.0,
        batches={"process": 2, "memory": 3},
        median_batch_s={"process": 1.5, "memory": 1.25},
    )


def test_benchmark_medians_and_summary() -> None:
    result = DetectorBenchmark(
        runs=(_run(500, 10.0), _run(500, 20.0), _run(500, 5.0)),
        ceiling_per_s=(300.0, 100.0, 200.0),
        max_offsets_per_trigger=500,
    )
    assert [r.records_per_s for r in result.runs] == [100.0, 50.0, 200.0]
    assert result.median_per_s == 100.0
    assert result.median_ceiling_per_s == 200.0
    lines = result.summary_lines()
    assert lines[0] == (
        "run 1: 1000 records drained in 10.0 s = 100.0 rec/s (monitors settled +1.0 s); "
        "process 500 rec in 2 batches (median 1.50 s/batch), "
        "memory 500 rec in 3 batches (median 1.25 s/batch)"
    )
    assert lines[-1] == (
        "detector: median 100.0 rec/s over 3 runs (max offsets per trigger 500); "
        "batch-job ceiling: median 200.0 rec/s"
    )

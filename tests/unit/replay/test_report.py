"""Progress reports: JSON lines for the workbench and a human summary."""

from __future__ import annotations

import json

from pipelines.replay.report import ReplayReport

REPORT = ReplayReport(
    stream="memory",
    topic="stophacking.memory.v1",
    run_id="abc",
    file="/data/Streaming_Linux_memory.csv",
    cycles=3,
    sent={4: 150, 6: 120},
    acked={4: 150, 6: 118},
    errors=2,
    last_error="machine 6: KafkaTimeoutError: expired",
    elapsed_s=2.0,
    done=True,
    reason="failed",
)


def test_json_line_round_trips() -> None:
    line = json.dumps(REPORT.to_json())
    data = json.loads(line)
    assert data["event"] == "summary"
    assert data["acked"] == {"4": 150, "6": 118}
    assert (data["total_sent"], data["total_acked"], data["records_per_s"]) == (270, 268, 134.0)
    assert ReplayReport.from_json(data) == REPORT


def test_progress_lines_are_not_summaries() -> None:
    running = ReplayReport("process", "t", "r", "f", 1, {4: 10}, {4: 0})
    assert running.to_json()["event"] == "progress"
    assert running.records_per_s == 0.0


def test_summary_names_totals_machines_and_the_last_error() -> None:
    lines = REPORT.summary_lines()
    assert lines[0] == (
        "memory producer: 3 cycles, 268 of 270 records acknowledged on stophacking.memory.v1 "
        "in 2.0 s (134 records/s), 2 errors"
    )
    assert lines[1] == "records per machine: 4: 150, 6: 118"
    assert "ended by: failed" in lines
    assert lines[-1] == "last error: machine 6: KafkaTimeoutError: expired"


def test_skipped_rows_are_in_the_json_line_and_the_summary() -> None:
    skipping = ReplayReport("process", "t", "r", "f", 1, {4: 10}, {4: 10}, skipped_rows=3)
    data = skipping.to_json()
    assert data["skipped_rows"] == 3
    assert ReplayReport.from_json(data) == skipping
    assert "bad rows skipped: 3 (not sent)" in skipping.summary_lines()
    assert not any("skipped" in line for line in REPORT.summary_lines())

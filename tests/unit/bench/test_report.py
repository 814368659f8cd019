"""The benchmark report: what a reader concludes from its table must match the figures."""

from __future__ import annotations

from typing import Any

from pipelines.bench.fleet import DETECTOR_JVM
from pipelines.bench.report import TARGETS, render


def _fleet(machines: int, scored_p95: float, alert_p95: float, rss_mb: float) -> dict[str, Any]:
    latency = {
        "send_to_scored": {
            "p50": 1.0,
            "p95": scored_p95,
            "p99": scored_p95,
            "max": 20.0,
            "count": 10,
        },
        "send_to_alert": {"p50": 2.0, "p95": alert_p95, "p99": alert_p95, "max": 40.0, "count": 3},
    }
    return {
        "options": {"machines": machines, "layout": "array"},
        "offered_per_s": 5500.0,
        "achieved_per_s": 5400.0,
        "lag_bounded": True,
        "max_lag_messages": 10,
        "lag_slope_per_min": -1.0,
        "latency_s": latency,
        "cores_busy": {DETECTOR_JVM: 1.2},
        "peak_rss_mb": {DETECTOR_JVM: rss_mb},
        "live": {"process": {"records": 7, "machines": machines}},
        "produced": {"process": 7},
        "batches": {
            "ingest_process": {
                "batches": 4,
                "median_rows": 650,
                "median_interval_s": 6.5,
                "median_addBatch_s": 5.4,
                "median_queryPlanning_s": 0.7,
                "median_walCommit_s": 0.1,
                "median_commitOffsets_s": 0.1,
            },
        },
    }


def _figures(drain_per_s: float, fleet: dict[str, Any]) -> dict[str, Any]:
    run = {
        "records": {"process": 100, "memory": 100},
        "drain_s": 1.0,
        "records_per_s": drain_per_s,
        "ceiling_per_s": 2 * drain_per_s,
        "batch_s": {"process": [1.0], "memory": [1.0]},
        "warmup_per_s": 9_000.0,
    }
    return {
        "generated_at": "2026-12-06T00:00:00+00:00",
        "took_s": 60,
        "quick": False,
        "machine": {"cores": 2},
        "targets": TARGETS,
        "drain": {
            "median_per_s": drain_per_s,
            "median_ceiling_per_s": 2 * drain_per_s,
            "median_ratio": 0.5,
            "runs": [run],
        },
        "fleets": {"fleet": fleet},
    }


def _row(report: str, starts: str) -> str:
    rows = [line for line in report.splitlines() if line.startswith(starts)]
    assert len(rows) == 1, (starts, rows)
    return rows[0]


def test_each_bar_is_marked_met_or_missed_by_its_own_figure() -> None:
    report = render(_figures(15_000, _fleet(500, scored_p95=9.0, alert_p95=16.0, rss_mb=1600)))
    assert _row(report, "| drain, warm").endswith("**missed** |")
    assert "15,000 rec/s" in _row(report, "| drain, warm")
    # The cold JVM's figure is shown beside it, with no bar of its own.
    assert _row(report, "| drain in a cold JVM") == (
        "| drain in a cold JVM (the first run's warm-up, not in the median) | 9,000 rec/s | | |"
    )
    assert _row(report, "| drain / ceiling").endswith("met |")
    assert _row(report, "| fleet: 500 hosts, array messages: send → scored p95").endswith("met |")
    alert = _row(report, "| fleet: 500 hosts, array messages: send → alert p95")
    assert "16.00 s" in alert and alert.endswith("**missed** |")
    rss = _row(report, "| fleet: 500 hosts, array messages: detector driver peak RSS")
    assert "1,600 MiB" in rss and rss.endswith("met |")


def test_the_step_table_shows_each_query_s_medians() -> None:
    report = render(_figures(25_000, _fleet(500, scored_p95=12.0, alert_p95=10.0, rss_mb=2500)))
    row = _row(report, "| fleet | ingest_process |")
    assert row == "| fleet | ingest_process | 4 | 650 | 6.50 s | 5.40 s | 0.70 s | 0.20 s |"
    assert _row(report, "| drain, warm").endswith("met |")
    assert _row(report, "| fleet: 500 hosts, array messages: detector driver peak RSS").endswith(
        "**missed** |"
    )


def test_the_first_line_says_where_the_run_s_time_went() -> None:
    figures = _figures(20_000, _fleet(500, scored_p95=8.0, alert_p95=12.0, rss_mb=1600))
    figures["parts_s"] = {"drain": 330, "fleet": 420}
    first = render(figures).splitlines()[2]
    assert "in 60 s (drain 330 s, fleet 420 s). " in first
    del figures["parts_s"]  # a report written before the parts were timed
    assert "in 60 s. " in render(figures).splitlines()[2]

"""The detector's running figures, fed as its callbacks feed them."""

from __future__ import annotations

from pipelines.detector.delay import BEHIND
from pipelines.detector.health import BatchStatus
from pipelines.detector.ingest import IngestFigures
from pipelines.detector.stats import DetectorStats


def figures(stream: str, oldest: float | None, newest: float | None, end: float) -> IngestFigures:
    return IngestFigures(
        stream=stream,  # type: ignore[arg-type]
        batch_id=0,
        messages=1,
        records=1,
        quarantined={},
        scored=1,
        attacks=0,
        newest_event_s=newest,
        duration_s=1.0,
        finished_at=end,
        oldest_event_s=oldest,
    )


def status(stream: str, duration_s: float, lag: int) -> BatchStatus:
    return BatchStatus(
        stream=stream, batch_id=0, messages=10, records=40, quarantined={"parse": 1},
        scored=39, attacks=4, duration_s=duration_s, lag=lag,
        watermark="2026-12-06T10:00:00.000Z",
    )  # fmt: skip


def test_the_runs_event_time_span_and_each_streams_wall_delay() -> None:
    stats = DetectorStats()
    stats.add_figures(figures("process", 1_000.0, 1_010.0, 1_012.5))
    stats.add_figures(figures("memory", 995.0, 1_004.0, 1_013.0))
    stats.add_figures(figures("process", None, None, 1_020.0))  # nothing cleaned
    assert (stats.first_event_s, stats.newest_event_s) == (995.0, 1_010.0)
    assert stats.wall_delay_s == {"process": 2.5, "memory": 9.0}


def test_totals_add_up_and_a_slow_batch_makes_the_delay_amber() -> None:
    stats = DetectorStats()
    stats.add_status(status("process", 2.0, 5))
    stats.add_status(status("process", 7.5, 3))
    totals = stats.per_stream["process"]
    assert (totals.batches, totals.records, totals.quarantined, totals.attacks) == (2, 80, 2, 8)
    stats.add_figures(figures("process", 1_000.0, 1_010.0, 1_012.5))
    delay = stats.delay(trigger_s=5.0)
    assert delay.level == BEHIND and delay.wall_s == 2.5


def test_the_watermark_and_the_runs_span_as_the_charts_take_them() -> None:
    import pandas as pd

    stats = DetectorStats()
    assert (stats.watermark(), stats.spans()) == (None, [])
    stats.add_status(status("process", 1.0, 0))
    stats.add_figures(figures("process", 1_800_000_000.0, 1_800_000_010.0, 1_800_000_012.0))
    assert stats.watermark() == pd.Timestamp("2026-12-06 10:00:00")
    (span,) = stats.spans()
    assert span.first == pd.Timestamp(1_800_000_000, unit="s") and span.last is None


def test_a_stopped_runs_span_ends_at_its_newest_record() -> None:
    import pandas as pd

    stats = DetectorStats()
    stats.add_figures(figures("memory", 1_800_000_000.0, 1_800_000_050.0, 1_800_000_052.0))
    (span,) = stats.spans(ended=True)
    assert (span.first, span.last) == (
        pd.Timestamp(1_800_000_000, unit="s"),
        pd.Timestamp(1_800_000_050, unit="s"),
    )

"""What a demo run did, as one dataclass: printed as text and written as JSON (pure)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.live.counts import machine_sort_key


@dataclass(frozen=True)
class StreamSummary:
    """One stream's figures at the end of a demo run.

    Attributes:
        produced: records the broker acknowledged to the producer.
        sent: records the producer handed to its Kafka client.
        producer_errors: records that failed to be delivered.
        cycles: producer cycles completed.
        cleaned: rows of the detector's cleaned parquet.
        scored: rows of the detector's scored parquet.
        predicted_attacks: scored rows predicted as attack.
        quarantined: stage (``decode``, ``parse``, ``score``) → quarantined rows.
        live_records: records the streamz live pipeline counted (from the earliest offset).
        live_latest: machine → records in the live pipeline's trailing window at its last
            sample (what its chart shows last).
    """

    produced: int
    sent: int
    producer_errors: int
    cycles: int
    cleaned: int
    scored: int
    predicted_attacks: int
    quarantined: dict[str, int] = field(default_factory=dict)
    live_records: int = 0
    live_latest: dict[str, int] = field(default_factory=dict)

    @property
    def quarantined_before_cleaning(self) -> int:
        """Records refused before they became cleaned rows (stages decode and parse)."""
        return self.quarantined.get("decode", 0) + self.quarantined.get("parse", 0)

    @property
    def accounted(self) -> bool:
        """produced = cleaned + quarantined before cleaning, and cleaned = scored +
        score-quarantined (SPEC §5 accounting)."""
        return (
            self.produced == self.cleaned + self.quarantined_before_cleaning
            and self.cleaned == self.scored + self.quarantined.get("score", 0)
        )


@dataclass(frozen=True)
class DemoTimings:
    """Wall-clock seconds of the phases of a demo run."""

    prepare_s: float = 0.0
    """Data, models, broker and the Spark session."""
    detector_start_s: float = 0.0
    """Loading the models and starting the queries."""
    replay_s: float = 0.0
    """The producers' run (the requested duration, or less after Ctrl-C)."""
    drain_s: float = 0.0
    """The detector catching up with everything produced."""
    summary_s: float = 0.0
    """Counting the outputs and evaluating detection quality."""
    total_s: float = 0.0


@dataclass(frozen=True)
class DemoSummary:
    """Everything a demo run reports.

    Attributes:
        run_id: this run's id (part of its topic names and the producers' run ids).
        home: the demo's state folder.
        output_dir: the detector's parquet outputs of this run.
        broker: which Kafka the run used.
        broker_started: True when the run started (and stopped) the embedded broker.
        topics: role → topic name of this run.
        duration_s: requested replay duration, seconds.
        speed: replay speed (cycle periods divided by it).
        cycle_periods_s: stream → seconds between cycles at that speed.
        trigger_s: the detector's micro-batch interval, seconds.
        streams: per-stream figures.
        window_rows: 7a rows in the memory sink (machine × 2-min window × stream).
        attack_pairs: 7b (process, memory) pairs in ``process_memory_attack``.
        attack_events: alerts raised (one per machine, CMD, PID and window).
        first_alert_after_s: seconds from the producers' start to the first alert, or None.
        quality_lines: printable detection-quality lines (empty: not evaluated).
        quality: the same as data (None: not evaluated).
        timings: phase durations.
        interrupted: True when Ctrl-C/SIGTERM ended the replay early.
        problems: what went wrong (empty on success).
        notes: what a reader should know but is not a failure.
    """

    run_id: str
    home: str
    output_dir: str
    broker: str
    broker_started: bool
    topics: dict[str, str]
    duration_s: float
    speed: float
    cycle_periods_s: dict[str, float]
    trigger_s: float
    streams: dict[str, StreamSummary]
    window_rows: int
    attack_pairs: int
    attack_events: int
    first_alert_after_s: float | None
    quality_lines: list[str]
    quality: dict[str, Any] | None
    timings: DemoTimings
    interrupted: bool = False
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the file ``--summary-json`` writes)."""
        data = dataclasses.asdict(self)
        for stream, figures in self.streams.items():
            data["streams"][stream]["quarantined_before_cleaning"] = (
                figures.quarantined_before_cleaning
            )
            data["streams"][stream]["accounted"] = figures.accounted
        data["ok"] = self.ok
        return data


def accounting_problems(streams: Mapping[str, StreamSummary]) -> list[str]:
    """One line per stream whose records are not all accounted for."""
    problems = []
    for stream, s in streams.items():
        if s.produced != s.cleaned + s.quarantined_before_cleaning:
            problems.append(
                f"{stream}: produced {s.produced} != cleaned {s.cleaned} + quarantined "
                f"{s.quarantined_before_cleaning}"
            )
        if s.cleaned != s.scored + s.quarantined.get("score", 0):
            problems.append(
                f"{stream}: cleaned {s.cleaned} != scored {s.scored} + score-quarantined "
                f"{s.quarantined.get('score', 0)}"
            )
    return problems


def _machines(counts: Mapping[str, int]) -> str:
    if not counts:
        return "(no sample)"
    ordered = sorted(counts.items(), key=lambda kv: machine_sort_key(kv[0]))
    return ", ".join(f"{machine}: {n}" for machine, n in ordered)


def _seconds(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.0f} s"


def format_summary(summary: DemoSummary) -> list[str]:
    """The summary as printable lines (the end of ``stophacking demo``)."""
    periods = ", ".join(f"{s} every {p:g} s" for s, p in summary.cycle_periods_s.items())
    t = summary.timings
    lines = [
        "== StopHacking demo summary ==",
        f"run {summary.run_id}: {_seconds(summary.duration_s)} of replay at speed "
        f"{summary.speed:g} ({periods}); detector trigger {summary.trigger_s:g} s"
        + (" — stopped early (Ctrl-C)" if summary.interrupted else ""),
        f"broker: {summary.broker}"
        + (" (started for this run, stopped at the end)" if summary.broker_started else ""),
        f"state: {summary.home} (detector outputs {summary.output_dir})",
        "",
        f"{'':<8} {'produced':>9} {'cleaned':>8} {'scored':>8} {'quarant.':>8} "
        f"{'attacks':>8} {'live':>8}  accounted",
    ]
    for stream, s in summary.streams.items():
        lines.append(
            f"{stream:<8} {s.produced:>9} {s.cleaned:>8} {s.scored:>8} "
            f"{sum(s.quarantined.values()):>8} {s.predicted_attacks:>8} {s.live_records:>8}  "
            f"{'yes' if s.accounted else 'NO'}"
        )
    lines.append(
        "  (produced = acknowledged by Kafka; quarantined = decode/parse/score stages; "
        "attacks = records predicted attack; live = records the streamz pipeline counted)"
    )
    for stream, s in summary.streams.items():
        if s.quarantined:
            stages = ", ".join(f"{k} {v}" for k, v in sorted(s.quarantined.items()))
            lines.append(f"  {stream} quarantined by stage: {stages}")
    lines.append("latest live counts per machine (records in the trailing window):")
    for stream, s in summary.streams.items():
        lines.append(f"  {stream:<8} {_machines(s.live_latest)}")
    lines += [
        f"windows counted (7a rows, machine x 2-min window x stream): {summary.window_rows}",
        f"attack pairs (7b, process_memory_attack): {summary.attack_pairs}",
        f"attack events (alerts): {summary.attack_events}"
        + (
            f", the first {summary.first_alert_after_s:.0f} s after the producers started"
            if summary.first_alert_after_s is not None
            else ""
        ),
    ]
    if summary.quality_lines:
        lines += summary.quality_lines
    lines.append(
        f"timings: prepare {_seconds(t.prepare_s)}, detector start {_seconds(t.detector_start_s)}, "
        f"replay {_seconds(t.replay_s)}, drain {_seconds(t.drain_s)}, "
        f"summary {_seconds(t.summary_s)}, total {_seconds(t.total_s)}"
    )
    lines += [f"note: {note}" for note in summary.notes]
    lines += [f"PROBLEM: {problem}" for problem in summary.problems]
    lines.append("demo OK" if summary.ok else "demo FAILED")
    return lines

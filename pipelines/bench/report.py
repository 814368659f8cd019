"""``make bench``: every benchmark in one run, written to ``docs/benchmarks.md`` and JSON.

:func:`run_all` runs, in order: the drain benchmark (3 warm runs, the median), the fleet
of 500 hosts (5 measured minutes after a 1-minute warm-up), a larger fleet for a
shorter window (where the limit lies), and the brief's own 5 machines (per-record
messages, as the brief's producers send them; a 30-second warm-up). :func:`render`
turns the figures into the report; the JSON beside it holds every raw figure.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pipelines.bench.detector import (
    DEFAULT_RECORDS_PER_STREAM,
    DEFAULT_WARMUP_RECORDS,
    DetectorBenchmark,
    measure_detector_rate,
)
from pipelines.bench.fleet import (
    DEFAULT_WARMUP_S,
    DETECTOR_JVM,
    FleetOptions,
    FleetResult,
    measure_fleet,
    result_lines,
)
from pipelines.config import Settings

FLEET_MACHINES: Final = 500
FLEET_DURATION_S: Final = 300.0
LARGER_FLEET_MACHINES: Final = 1000
LARGER_FLEET_DURATION_S: Final = 120.0
BRIEF_MACHINES: Final = 5
BRIEF_DURATION_S: Final = 120.0
BRIEF_WARMUP_S: Final = 30.0
"""Five hosts' tiny micro-batches need less warm-up than a fleet's (keeps `make bench`
under 20 minutes)."""
TARGETS: Final = {
    "drain_per_s": 20_000,
    "drain_ceiling_ratio": 0.3,
    "fleet_alert_p95_s": 15.0,
    "fleet_scored_p95_s": 10.0,
    "brief_scored_p95_s": 3.0,
    "driver_rss_mb": 2048,
}
"""The bars of the real-time issue (SPEC §5 "Real time")."""


def drain_json(result: DetectorBenchmark) -> str:
    data = {
        "layout": result.layout,
        "median_per_s": result.median_per_s,
        "median_ceiling_per_s": result.median_ceiling_per_s,
        "median_ratio": result.median_ratio,
        "runs": [{**asdict(run), "records_per_s": run.records_per_s} for run in result.runs],
    }
    return json.dumps(data, indent=2)


def machine_facts() -> dict[str, Any]:
    """What this machine is: cores, memory, CPU model, versions."""
    from importlib.metadata import version

    facts: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "pyspark": version("pyspark"),
        "platform": platform.platform(),
    }
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()[0].split()
        facts["memory_gib"] = round(int(meminfo[1]) / 2**20, 1)
        model = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        facts["cpu"] = model[0] if model else "?"
    except OSError:
        pass
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
        facts["java"] = (java.stderr.splitlines() or ["?"])[0]
    except OSError:
        facts["java"] = "?"
    try:
        from pipelines.config import BrokerSettings

        facts["kafka_broker"] = BrokerSettings().kafka_version
    except Exception:
        facts["kafka_broker"] = "?"
    return facts


def run_all(
    settings: Settings, out: Path, *, quick: bool = False, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run every benchmark and write the report (``out``) and its JSON (``out.json``)."""
    started = time.monotonic()
    scale = 0.1 if quick else 1.0
    echo("bench: drain (warm, no cap, every output on) beside the ceiling")
    drain = measure_detector_rate(
        settings,
        records_per_stream=int(DEFAULT_RECORDS_PER_STREAM * scale),
        warmup_records=int(DEFAULT_WARMUP_RECORDS * scale),
        runs=1 if quick else 3,
        echo=echo,
    )
    for line in drain.summary_lines():
        echo(line)
    parts_s = {"drain": round(time.monotonic() - started)}
    fleets: dict[str, FleetResult] = {}
    plans = [
        ("fleet", FLEET_MACHINES, FLEET_DURATION_S, DEFAULT_WARMUP_S, "array"),
        ("larger fleet", LARGER_FLEET_MACHINES, LARGER_FLEET_DURATION_S, DEFAULT_WARMUP_S, "array"),
        ("brief cadence", BRIEF_MACHINES, BRIEF_DURATION_S, BRIEF_WARMUP_S, "record"),
    ]
    for name, machines, duration_s, warmup_s, layout in plans:
        if quick:
            machines, duration_s, warmup_s = max(5, machines // 20), 30.0, 20.0
        echo(f"bench: {name}")
        part_started = time.monotonic()
        result = measure_fleet(
            settings,
            FleetOptions(
                machines=machines,
                duration_s=duration_s,
                warmup_s=warmup_s,
                layout=layout,  # type: ignore[arg-type]
            ),
            echo=echo,
        )
        for line in result_lines(result):
            echo(line)
        fleets[name] = result
        parts_s[name] = round(time.monotonic() - part_started)
    figures = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "took_s": round(time.monotonic() - started),
        "parts_s": parts_s,
        "quick": quick,
        "machine": machine_facts(),
        "targets": TARGETS,
        "drain": json.loads(drain_json(drain)),
        "fleets": {name: result.to_json() for name, result in fleets.items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(figures, indent=2, default=str))
    out.write_text(render(figures))
    echo(f"bench: wrote {out} and {out.with_suffix('.json')} in {figures['took_s']} s")
    return figures


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _latency(fleet: dict[str, Any], name: str, point: str = "p95") -> float | None:
    value = fleet["latency_s"].get(name, {}).get(point)
    return None if value is None else float(value)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _p95_row(what: str, value: float | None, bar: float) -> str:
    """A table row of a p95 latency against its bar (missed when there is no figure)."""
    met = value is not None and value <= bar
    return f"| {what} | {_seconds(value)} | ≤ {bar:g} s | {_mark(met)} |"


def _parts(parts_s: dict[str, int] | None) -> str:
    """`` (drain 300 s, fleet 420 s, …)``: where the run's time went."""
    if not parts_s:
        return ""
    return " (" + ", ".join(f"{name} {seconds} s" for name, seconds in parts_s.items()) + ")"


def render(figures: dict[str, Any]) -> str:
    """The Markdown report of :func:`run_all`'s figures."""
    drain = figures["drain"]
    fleets = figures["fleets"]
    machine = figures["machine"]
    targets = figures["targets"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`stophacking bench all`) on {figures['generated_at']} in "
        f"{figures['took_s']} s{_parts(figures.get('parts_s'))}"
        f"{' (quick mode: short smoke runs)' if figures['quick'] else ''}. "
        "Raw figures: [`benchmarks.json`](benchmarks.json). Every latency runs from a "
        "record's send time (its Kafka timestamp) to the moment the output holding it was "
        "complete (see `pipelines/detector/latency.py`).",
        "",
        f"Machine: {machine.get('cores')} cores ({machine.get('cpu', '?')}), "
        f"{machine.get('memory_gib', '?')} GiB; Python {machine.get('python')}, PySpark "
        f"{machine.get('pyspark')}, {machine.get('java')}, Kafka broker "
        f"{machine.get('kafka_broker')} (embedded, one node). Everything below ran on it at "
        "once: broker, producers, live consumers, detector.",
        "",
        "## The table",
        "",
        "| what | figure | bar | |",
        "|---|---|---|---|",
    ]
    ratio = drain["median_ratio"]
    lines.append(
        f"| drain, warm, no cap, every output on (`bench detector`, median of "
        f"{len(drain['runs'])}) | {drain['median_per_s']:,.0f} rec/s | "
        f"≥ {targets['drain_per_s']:,} rec/s | "
        f"{_mark(drain['median_per_s'] >= targets['drain_per_s'])} |"
    )
    cold = drain["runs"][0].get("warmup_per_s") if drain["runs"] else None
    if cold:
        lines.append(
            f"| drain in a cold JVM (the first run's warm-up, not in the median) | "
            f"{cold:,.0f} rec/s | | |"
        )
    lines.append(
        f"| ceiling: Kafka → JSON → same models → parquet, same topics and JVM | "
        f"{drain['median_ceiling_per_s']:,.0f} rec/s | | |"
    )
    lines.append(
        f"| drain / ceiling | {ratio:.2f} | ≥ {targets['drain_ceiling_ratio']} | "
        f"{_mark(ratio >= targets['drain_ceiling_ratio'])} |"
    )
    for name, fleet in fleets.items():
        options = fleet["options"]
        alert95 = _latency(fleet, "send_to_alert")
        scored95 = _latency(fleet, "send_to_scored")
        head = f"{name}: {options['machines']} hosts, {options['layout']} messages"
        lines.append(
            f"| {head}: offered / achieved | {fleet['offered_per_s']:,.0f} / "
            f"{fleet['achieved_per_s']:,.0f} rec/s | lag bounded | "
            f"{_mark(bool(fleet['lag_bounded']))} (max {fleet['max_lag_messages']} messages, "
            f"{fleet['lag_slope_per_min']:+.1f}/min) |"
        )
        # The brief's 5 hosts have their own scored bar and no alert bar.
        brief = name == "brief cadence"
        scored_bar = targets["brief_scored_p95_s" if brief else "fleet_scored_p95_s"]
        lines.append(_p95_row(f"{head}: send → scored p95", scored95, scored_bar))
        if not brief:
            lines.append(
                _p95_row(f"{head}: send → alert p95", alert95, targets["fleet_alert_p95_s"])
            )
        rss = fleet["peak_rss_mb"].get(DETECTOR_JVM, 0.0)
        lines.append(
            f"| {head}: detector driver peak RSS | {rss:,.0f} MiB | ≤ "
            f"{targets['driver_rss_mb']:,} MiB | {_mark(rss <= targets['driver_rss_mb'])} |"
        )
    lines += ["", "## Latency percentiles", ""]
    lines.append("| run | output | p50 | p95 | p99 | max | records or alerts |")
    lines.append("|---|---|---|---|---|---|---|")
    for name, fleet in fleets.items():
        for output, values in fleet["latency_s"].items():
            if not values.get("count"):
                lines.append(f"| {name} | {output} | — | — | — | — | 0 |")
                continue
            lines.append(
                f"| {name} | {output} | {values['p50']:.2f} s | {values['p95']:.2f} s | "
                f"{values['p99']:.2f} s | {values['max']:.2f} s | {values['count']:,} |"
            )
    lines += ["", "## How busy each part kept the cores, and its memory", ""]
    lines.append("| run | part | cores busy (of 2) | peak RSS |")
    lines.append("|---|---|---|---|")
    for name, fleet in fleets.items():
        for part, cores in fleet["cores_busy"].items():
            lines.append(
                f"| {name} | {part} | {cores:.2f} | {fleet['peak_rss_mb'].get(part, 0):,.0f} MiB |"
            )
    lines += [
        "",
        "## Where each micro-batch spends its time",
        "",
        "Medians over the measured window of each query's progress (`durationMs`): "
        "`addBatch` is the batch's own work (for the ingest: decode, clean, score, the "
        "parquet writes and the attack publish; for 7b: the join, pairs and alerts), "
        "`queryPlanning` Spark's planning of the batch, `walCommit` and `commitOffsets` "
        "the checkpoint writes; the interval is the time from one batch's start to the "
        "next.",
        "",
        "| run | query | batches | input rows per batch (ingest: Kafka messages) | interval "
        "| addBatch | queryPlanning | walCommit + commitOffsets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, fleet in fleets.items():
        for query, steps in sorted(fleet.get("batches", {}).items()):
            label = query if query.startswith(("ingest_", "attack_pairs")) else f"{query} (7a)"
            commits = steps.get("median_walCommit_s", 0.0) + steps.get(
                "median_commitOffsets_s", 0.0
            )
            lines.append(
                f"| {name} | {label} | {steps.get('batches', 0):.0f} | "
                f"{steps.get('median_rows', 0):,.0f} | {steps.get('median_interval_s', 0):.2f} s "
                f"| {steps.get('median_addBatch_s', 0):.2f} s | "
                f"{steps.get('median_queryPlanning_s', 0):.2f} s | {commits:.2f} s |"
            )
    lines += ["", "## Live consumers", ""]
    for name, fleet in fleets.items():
        for stream, counted in fleet["live"].items():
            lines.append(
                f"- {name}, {stream}: {counted.get('records', 0):,} records counted of "
                f"{fleet['produced'].get(stream, 0):,} produced, "
                f"{counted.get('machines', 0)} machines"
            )
    lines += [
        "",
        "## Drain runs",
        "",
    ]
    for i, run in enumerate(drain["runs"], 1):
        lines.append(
            f"- run {i}: {sum(run['records'].values()):,} records in {run['drain_s']:.1f} s = "
            f"{run['records_per_s']:,.0f} rec/s; ceiling {run['ceiling_per_s']:,.0f} rec/s; "
            "ingest batch durations "
            + "; ".join(
                f"{s} {', '.join(f'{d:.1f}' for d in durations)} s"
                for s, durations in run["batch_s"].items()
            )
        )
    lines += [
        "",
        "## Reproduce",
        "",
        "```",
        "make bench                                      # all of the above (~20 min)",
        "stophacking bench detector --records 100000 --runs 3",
        "stophacking bench fleet --machines 500 --duration 300",
        "stophacking bench fleet --machines 1000 --duration 120",
        "stophacking bench fleet --machines 5 --duration 120 --warmup 30 --layout record",
        "```",
        "",
        "Run on an otherwise idle machine: every part shares the same two cores, so any "
        'other load shows in every figure. `docs/detector.md` ("Throughput and latency") '
        "has the profile behind these numbers (Java Flight Recorder samples of the "
        "executor threads: what the CPU time goes to) and what each rework step changed. "
        "The detector's peak RSS is the Spark JVM's own resident memory (in local mode "
        "the driver is that JVM).",
        "",
    ]
    return "\n".join(lines)

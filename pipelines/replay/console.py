"""Running a producer from a terminal: progress line, JSON progress, Ctrl-C, exit code.

The CLI's ``stophacking produce`` calls :func:`produce`; the workbench starts that
command as a child process with ``--progress json`` and reads one JSON object per
line from its stdout (events ``start``, ``progress`` and ``summary``).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TextIO

from pipelines.config import Settings
from pipelines.replay.clock import ClockKind
from pipelines.replay.message import MessageLayout
from pipelines.replay.report import ReplayReport
from pipelines.schema.columns import Stream
from pipelines.signals import stop_on_signals

ProgressMode = Literal["json", "bar", "none"]
PROGRESS_MODES: tuple[ProgressMode, ...] = ("json", "bar", "none")
EXIT_OK = 0
EXIT_DELIVERY_ERRORS = 1
SKIPPED_ROWS_SHOWN = 5
"""Bad rows named one per line on stderr when skipped; the rest are only counted."""
"""Some records were not acknowledged (the broker went away for too long)."""


def _json_line(out: TextIO, payload: dict[str, Any]) -> None:
    out.write(json.dumps(payload) + "\n")
    out.flush()  # the workbench reads line by line from a pipe


class ProgressBar:
    """One live terminal line (tqdm): cycles, records acknowledged, rate, errors."""

    def __init__(self, stream: str, total_cycles: int | None, out: TextIO) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total_cycles, unit="cycle", desc=f"{stream} producer", file=out, leave=True
        )

    def update(self, report: ReplayReport) -> None:
        self._bar.n = report.cycles
        self._bar.set_postfix_str(
            f"{report.total_acked}/{report.total_sent} records, "
            f"{report.records_per_s:.0f}/s, {report.errors} errors",
            refresh=False,
        )
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def produce(
    settings: Settings,
    stream: Stream,
    *,
    file: Path | None = None,
    cycles: int | None = None,
    duration_s: float | None = None,
    seed: int | None = None,
    speed: float = 1.0,
    max_rate: bool = False,
    clock: ClockKind = "wall",
    start_ts: float | None = None,
    topic: str | None = None,
    layout: MessageLayout = "record",
    progress: ProgressMode = "bar",
    skip_bad_rows: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one producer in the foreground and report; return the process exit code.

    Args:
        settings: the product settings.
        stream: ``process`` or ``memory``.
        file: streaming CSV (default: the generated demo data).
        cycles: bound on cycles (``None``: unbounded).
        duration_s: bound on seconds (``None``: unbounded).
        seed: seed of the random draws.
        speed: divides the cycle period.
        max_rate: no pacing (benchmarks).
        clock: ``wall`` or ``simulated`` event time.
        start_ts: first ``ts`` of the simulated clock.
        topic: overrides the stream's topic.
        layout: ``record`` (one JSON object per message) or ``array`` (one JSON array of
            a machine's rows per cycle).
        progress: ``bar`` (one live line on ``err``), ``json`` (one JSON object per line
            on ``out``) or ``none``.
        skip_bad_rows: leave out the file's bad rows, each named on ``err`` (the
            first few) and counted in the progress and the summary, instead of
            stopping at the first with its file, line and column.
        out: where summaries and JSON lines go (default stdout).
        err: where the progress bar goes (default stderr).

    Returns:
        0 when every record was acknowledged, 1 when some were not.

    Raises:
        BrokerUnavailable: no broker answered within ``replay.connect_timeout_s``.
        ParseError: the file is not a valid streaming file.
    """
    from pipelines.replay.kafka_producer import Replayer

    out = out or sys.stdout
    err = err or sys.stderr
    stop = threading.Event()
    bar: ProgressBar | None = None
    on_progress: Callable[[ReplayReport], None] | None = None
    if progress == "json":

        def on_progress(report: ReplayReport) -> None:
            try:
                _json_line(out, report.to_json())
            except (BrokenPipeError, ValueError):
                # Whoever read our progress (the workbench) is gone: stop cleanly
                # rather than replay forever as an orphan.
                stop.set()

    elif progress == "bar":
        bar = ProgressBar(stream, cycles, err)
        on_progress = bar.update
    try:
        replayer = Replayer(
            settings,
            stream,
            file=file,
            seed=seed,
            speed=speed,
            max_rate=max_rate,
            clock=clock,
            start_ts=start_ts,
            topic=topic,
            layout=layout,
            on_progress=on_progress,
            skip_bad_rows=skip_bad_rows,
        )
        with stop_on_signals(stop), replayer:
            skipped = replayer.rows.skipped
            for error in skipped[:SKIPPED_ROWS_SHOWN]:
                err.write(f"stophacking: skipped bad row: {error}\n")
            if len(skipped) > SKIPPED_ROWS_SHOWN:
                err.write(f"stophacking: … and {len(skipped) - SKIPPED_ROWS_SHOWN} more bad rows\n")
            if progress == "json":
                _json_line(
                    out,
                    {
                        "event": "start",
                        "stream": stream,
                        "topic": replayer.topic,
                        "run_id": replayer.run_id,
                        "file": str(replayer.file),
                        "machines": sorted(replayer.rows.machines),
                    },
                )
            report = replayer.run(cycles=cycles, duration_s=duration_s, stop=stop)
    finally:
        if bar is not None:
            bar.close()
    if progress == "json":
        with contextlib.suppress(BrokenPipeError, ValueError):
            _json_line(out, report.to_json())
    else:
        for line in report.summary_lines():
            out.write(line + "\n")
        out.flush()
    if report.errors:
        err.write(
            f"stophacking: error: {report.errors} {stream} records were not delivered to "
            f"{report.topic} ({report.last_error})\n"
        )
        return EXIT_DELIVERY_ERRORS
    return EXIT_OK

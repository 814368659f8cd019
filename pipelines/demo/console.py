"""``stophacking demo``: run the bounded demo, print its summary, optionally write it as JSON."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TextIO

from pipelines.config import Settings
from pipelines.demo.run import Demo, DemoOptions
from pipelines.demo.summary import format_summary
from pipelines.signals import stop_on_signals

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
"""Ctrl-C ended the replay early; everything was still stopped and summarised."""


def demo(
    settings: Settings,
    options: DemoOptions,
    *,
    summary_json: Path | None = None,
    out: TextIO,
) -> int:
    """Run the demo with progress lines on ``out``, then print (and write) its summary.

    Args:
        settings: the product settings.
        options: duration, speed, seed, state folder, trigger.
        summary_json: also write the summary to this file as JSON.
        out: where progress and summary lines go.

    Returns:
        :data:`EXIT_OK`; :data:`EXIT_FAILED` when a component failed or records are
        missing; :data:`EXIT_INTERRUPTED` after Ctrl-C/SIGTERM.

    Raises:
        StopHackingError: the broker, data or models could not be prepared.
    """

    def echo(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    stop = threading.Event()
    with Demo(settings, options, echo=echo) as run:
        # prepare() makes the Spark session (which installs PySpark's SIGINT handler);
        # ours goes in after it, so Ctrl-C stops the replay and the run still summarises.
        run.prepare()
        with stop_on_signals(stop):
            summary = run.run(stop)
    for line in format_summary(summary):
        echo(line)
    if summary_json is not None:
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary_json.write_text(json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8")
        echo(f"summary written to {summary_json}")
    if not summary.ok:
        return EXIT_FAILED
    return EXIT_INTERRUPTED if summary.interrupted else EXIT_OK

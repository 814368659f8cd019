"""``stophacking watch process|memory``: the live counts as a terminal table, and a PNG.

The table is redrawn after every sample; ``--png`` saves the chart with HoloViews' own
export through its matplotlib backend (Bokeh's PNG export needs a browser driven by
Selenium, which a headless server or a firewalled laptop usually lacks; matplotlib needs
nothing beyond the installed packages).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pipelines.config import Settings
from pipelines.live.counts import Sample, machine_sort_key
from pipelines.live.pipeline import LiveCounts, LiveStatus, window_label
from pipelines.schema.columns import Stream

CLEAR_SCREEN = "\x1b[H\x1b[2J"


def format_table(stream: str, window_s: float, sample: Sample | None, status: LiveStatus) -> str:
    """The terminal view: one line per machine with its count, then the status lines."""
    lines = [f"{stream} · {window_label(window_s)} · {status.state}"]
    if sample is None or not sample.counts:
        lines.append(f"  {status.message}")
    else:
        at = datetime.fromtimestamp(sample.at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"  sample at {at}")
        lines.append(f"  {'machine':>10}  {'records':>9}")
        for machine in sorted(sample.counts, key=machine_sort_key):
            lines.append(f"  {machine:>10}  {sample.counts[machine]:>9,}")
        if status.state == "broker down":
            lines.append(f"  ! {status.message}")
    malformed = ", ".join(f"{reason}: {n}" for reason, n in sorted(status.malformed.items()))
    lines.append(
        f"  messages {status.messages:,} · records {status.accepted:,}"
        f" · malformed {status.malformed_total:,}" + (f" ({malformed})" if malformed else "")
    )
    return "\n".join(lines)


def export_png(live: LiveCounts, path: Path) -> Path:
    """Save the chart of everything sampled so far as a PNG (HoloViews + matplotlib).

    Args:
        live: the pipeline whose Buffer to draw.
        path: the PNG file to write (folders are created).
    """
    import holoviews as hv
    import holoviews.plotting.mpl  # registers the matplotlib renderer

    path.parent.mkdir(parents=True, exist_ok=True)
    hv.save(live.chart(), path, fmt="png", backend="matplotlib", dpi=110)
    return path


def watch(
    settings: Settings,
    stream: Stream,
    *,
    duration_s: float | None = None,
    window_s: float | None = None,
    sample_s: float | None = None,
    from_beginning: bool | None = None,
    png: Path | None = None,
    redraw: bool = False,
    echo: Callable[[str], None] = print,
) -> LiveStatus:
    """Run the live pipeline of ``stream``, printing the table after every sample.

    Args:
        settings: product settings (Kafka cluster, ``live.*`` defaults).
        stream: ``"process"`` or ``"memory"``.
        duration_s: stop after this many seconds (None: until Ctrl-C).
        window_s: trailing window, seconds (default ``settings.live.window_s``).
        sample_s: sample period, seconds (default ``settings.live.sample_s``).
        from_beginning: read the topic from its earliest offsets.
        png: when given, save the chart there at the end.
        redraw: clear the screen before each table (a terminal), else append.
        echo: where the text goes.

    Returns:
        The final status (counters, malformed records, last sample).
    """
    if png is not None:
        # Load the renderer first: the chart's options are set for the loaded backends.
        import holoviews.plotting.mpl  # noqa: F401

    # kafka-python logs every failed reconnect; the table reports the broker state.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    live = LiveCounts(
        settings,
        stream,
        window_s=window_s,
        sample_s=sample_s,
        from_beginning=from_beginning,
    )
    live.start(duration_s=duration_s)
    last: float | None = None
    try:
        while live.running:
            sample = live.wait_for_sample(last, timeout_s=live.sample_s + 1.0)
            if live.wait(timeout_s=0):
                break
            if sample is not None and sample.at == last:
                continue
            last = sample.at if sample is not None else None
            text = format_table(stream, live.window_s, sample, live.status())
            echo(CLEAR_SCREEN + text if redraw else text + "\n")
    except KeyboardInterrupt:
        pass
    finally:
        live.stop()
    status = live.status()
    echo(format_table(stream, live.window_s, live.latest(), status))
    if png is not None:
        echo(f"chart saved to {export_png(live, png)}")
    return status

"""One live consumer (the streamz pipeline of SPEC §4) for a benchmark, in its own process.

``python -m pipelines.bench.live_probe process --topic T --duration 300 --out live.json``
runs :class:`~pipelines.live.pipeline.LiveCounts` on a topic for a bounded time, as the
workbench does, and writes what it counted: records, messages, machines seen, malformed
records, and the machines of the last sample. Run in its own process so that its CPU
is measured apart from the detector's.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipelines.config import load_settings
from pipelines.live.pipeline import LiveCounts


@click.command()
@click.argument("stream", type=click.Choice(["process", "memory"]))
@click.option("--topic", required=True)
@click.option("--bootstrap-servers", required=True)
@click.option("--duration", type=float, required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(stream: str, topic: str, bootstrap_servers: str, duration: float, out: Path) -> None:
    """Count one topic's records per machine for DURATION seconds; write a JSON summary."""
    settings = load_settings({"kafka.bootstrap_servers": bootstrap_servers})
    # From the beginning: the benchmark's topics are fresh, so every record is counted
    # however long this process takes to start.
    live = LiveCounts(settings, stream, topic=topic, from_beginning=True)  # type: ignore[arg-type]
    status = live.run(duration)
    machines = sorted(live.counts.machines)
    latest = status.latest
    out.write_text(
        json.dumps(
            {
                "stream": stream,
                "records": status.accepted,
                "messages": status.messages,
                "machines": len(machines),
                "machines_in_last_sample": len(latest.counts) if latest else 0,
                "malformed": dict(status.malformed),
            }
        )
    )


if __name__ == "__main__":
    main()

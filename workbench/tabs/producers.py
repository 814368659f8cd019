"""Producers tab: start and stop the process and memory producers, records per machine."""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.feeds.producers import AgentFeed, ProducerFeed, ProducersFeed
from workbench.feeds.worker import submit
from workbench.tabs.status import producer_failed

TITLES = {
    "process": "Process events (every 5 s at speed 1)",
    "memory": "Memory events (every 10 s at speed 1, with late rows)",
}


def records_table(sent: dict[str, int], acked: dict[str, int]) -> pd.DataFrame:
    """Records per machine: handed to Kafka and acknowledged by it."""
    machines = sorted(set(sent) | set(acked), key=int)
    return pd.DataFrame(
        {
            "machine": machines,
            "sent": [sent.get(m, 0) for m in machines],
            "acknowledged": [acked.get(m, 0) for m in machines],
        }
    )


def _status(
    running: bool,
    pid: int | None,
    cycles: int,
    message: str,
    exit_code: int | None,
    unit: str,
) -> str:
    if not running and producer_failed(exit_code):
        return "**Failed**"  # the message is in the alert below
    state = f"Running (pid {pid}), {cycles} {unit}" if running else "Stopped"
    return f"**{state}**\n\n{message}"


def _table(sent: dict[str, int], acked: dict[str, int]) -> pn.viewable.Viewable:
    if not sent and not acked:
        return pn.pane.Markdown("_Waiting for data: no records sent yet (start the producer)._")
    return pn.pane.DataFrame(records_table(sent, acked), index=False, sizing_mode="stretch_width")


def _start_stop(feed: ProducerFeed, *settings: pn.widgets.Widget) -> pn.Row:
    """Start and Stop for a child-process feed; its settings are locked while it runs."""
    start = pn.widgets.Button(label="Start", color="success", width=100)
    stop = pn.widgets.Button(label="Stop", color="danger", width=100)

    # Starting spawns a process and stopping waits for it: keep both off the event loop.
    def on_start(_event: object) -> None:
        submit(feed.start)

    def on_stop(_event: object) -> None:
        submit(feed.stop)

    start.on_click(on_start)
    stop.on_click(on_stop)
    start.disabled = feed.param.running
    stop.disabled = feed.param.running.rx.not_()
    for widget in settings:
        widget.disabled = feed.param.running
    return pn.Row(start, stop)


def _state_panes(feed: ProducerFeed, unit: str) -> list[pn.viewable.Viewable]:
    """The feed's state line and, when its child failed, the error in red."""
    return [
        pn.pane.Markdown(
            pn.bind(
                _status,
                feed.param.running,
                feed.param.pid,
                feed.param.cycles_done,
                feed.param.message,
                feed.param.exit_code,
                unit=unit,
            )
        ),
        pn.pane.Alert(
            feed.param.message,
            alert_type="danger",
            visible=pn.bind(producer_failed, feed.param.exit_code),
        ),
    ]


def producer_card(feed: ProducerFeed) -> pn.Card:
    """One producer's controls (file, speed, seed, cycles), status and live counts."""
    file = pn.widgets.TextInput.from_param(
        feed.param.file,
        label="Streaming CSV (empty: demo data)",
        placeholder="demo data",
        sizing_mode="stretch_width",
    )
    speed = pn.widgets.FloatInput.from_param(feed.param.speed, label="Speed ×", step=1.0, width=110)
    seed = pn.widgets.IntInput.from_param(
        feed.param.seed, label="Seed (empty: random)", sizing_mode="stretch_width"
    )
    cycles = pn.widgets.IntInput.from_param(
        feed.param.cycles, label="Cycles (empty: unbounded)", sizing_mode="stretch_width"
    )
    controls = _start_stop(feed, file, speed, seed, cycles)
    numbers = pn.Row(
        pn.indicators.Number(
            label="records acknowledged", value=feed.param.total_acked, format="{value:,}",
            font_size="28pt", title_size="10pt",
        ),
        pn.indicators.Number(
            label="records/s", value=feed.param.records_per_s, format="{value:,.0f}",
            font_size="28pt", title_size="10pt",
        ),
        pn.indicators.Number(
            label="errors", value=feed.param.errors, font_size="28pt", title_size="10pt",
            colors=[(0.5, "green"), (1e12, "red")],
        ),
    )  # fmt: skip
    return pn.Card(
        pn.Row(file, speed, sizing_mode="stretch_width"),
        pn.Row(seed, cycles, sizing_mode="stretch_width"),
        controls,
        *_state_panes(feed, "cycles"),
        numbers,
        pn.panel(pn.bind(_table, feed.param.sent_per_machine, feed.param.acked_per_machine)),
        title=TITLES.get(feed.stream, feed.stream),
        collapsible=False,
        sizing_mode="stretch_width",
    )


def agent_card(feed: AgentFeed) -> pn.Card:
    """This machine, live: start and stop ``stophacking agent``, its rows acknowledged."""
    interval = pn.widgets.FloatInput.from_param(
        feed.param.interval_s, label="Interval, s", step=1.0, width=120
    )
    controls = _start_stop(feed, interval)
    numbers = pn.Row(
        pn.indicators.Number(
            label="rows acknowledged", value=feed.param.total_acked, format="{value:,}",
            font_size="28pt", title_size="10pt",
        ),
        pn.indicators.Number(
            label="rows dropped (Kafka away)", value=feed.param.errors, font_size="28pt",
            title_size="10pt", colors=[(0.5, "green"), (1e12, "red")],
        ),
    )  # fmt: skip
    return pn.Card(
        pn.pane.Markdown(
            "Publish **this machine's** processes every interval, as atop's process and "
            "memory rows, beside or instead of the replayed ones (docs/agent.md). The "
            "live tabs and the detector show it under its machine id."
        ),
        pn.Row(interval, controls),
        *_state_panes(feed, "intervals"),
        numbers,
        title="This machine, live (agent)",
        collapsible=False,
        sizing_mode="stretch_width",
    )


def producers_tab(feeds: ProducersFeed) -> pn.viewable.Viewable:
    """The Producers tab's content (displayable in Jupyter too)."""
    return pn.Column(
        pn.pane.Markdown(
            "### Producers\n\nReplay the streaming files onto Kafka: each machine sends its "
            "next rows every cycle, in order, wrapping around at the end of its rows."
        ),
        pn.Row(
            producer_card(feeds.process),
            producer_card(feeds.memory),
            sizing_mode="stretch_width",
        ),
        agent_card(feeds.agent),
        name="Producers",
        sizing_mode="stretch_width",
    )

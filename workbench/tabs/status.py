"""The sidebar (status of every part, start/stop the whole pipeline) and the broker banner.

The status lines are pure functions of feed parameters (tested without a browser); the
Panel objects bind them to the shared feeds, so every session shows state changes as
they are pushed, without reloading the page.
"""

from __future__ import annotations

import signal

import panel as pn

from workbench.feeds import WorkbenchState
from workbench.feeds.broker import BrokerFeed
from workbench.feeds.detection import DetectionFeed
from workbench.feeds.live import LiveFeed
from workbench.feeds.pipeline import PipelineFeed
from workbench.feeds.producers import ProducerFeed
from workbench.tabs.series_charts import start_stop_buttons

STOPPED_BY_SIGNALS = (-signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL)
"""Exit codes of a child the workbench stopped itself: not a failure."""


def broker_line(bootstrap: str, reachable: bool, checked: bool, busy: bool, kind: str) -> str:
    """One Markdown line: the broker in use and whether it answers."""
    if busy or not checked:
        state = "checking…"
    elif reachable:
        state = f"reachable ({kind})" if kind != "unknown" else "reachable"
    else:
        state = "**not reachable**"
    return f"**Kafka** `{bootstrap}`: {state}"


def producer_failed(exit_code: int | None) -> bool:
    """Whether a producer's exit code is a failure (not a clean or requested stop)."""
    return exit_code is not None and exit_code != 0 and exit_code not in STOPPED_BY_SIGNALS


def producer_line(
    stream: str, running: bool, pid: int | None, total_acked: int, exit_code: int | None
) -> str:
    """One Markdown line: a producer's state and the records Kafka acknowledged."""
    if running:
        state = f"running (pid {pid})"
    elif producer_failed(exit_code):
        state = f"**failed** (exit code {exit_code})"
    else:
        state = "stopped"
    return f"**{stream.capitalize()} producer**: {state}, {total_acked:,} records sent"


def live_line(stream: str, state: str, accepted: int) -> str:
    """One Markdown line: a live pipeline's state and the records it counted."""
    shown = {"waiting": "waiting for data", "broker down": "**broker down**"}.get(state, state)
    return f"**{stream.capitalize()} live view**: {shown}, {accepted:,} records counted"


DELAY_COLOURS = {"ok": "#15803d", "behind": "#b45309", "growing": "#b91c1c"}
"""Green, amber, red: keeping up, batches longer than the trigger, backlog growing."""


def delay_markdown(delay: str, level: str) -> str:
    """The delay line coloured by its level (empty when there is none)."""
    if not delay:
        return ""
    colour = DELAY_COLOURS.get(level, "inherit")
    return f'<span class="delay-{level}" style="color: {colour}">{delay}</span>'


def detector_line(
    state: str, alerts_total: int, failure: str, delay: str = "", level: str = ""
) -> str:
    """One Markdown line: the streaming detector's state (its failure text when failed),
    and while it runs how far its detections trail the newest record."""
    if state == "failed":
        return f"**Detector**: **failed**: {failure}"
    if state == "running":
        line = f"**Detector**: running, {alerts_total:,} alerts"
        return f"{line}; {delay_markdown(delay, level)}" if delay else line
    if state == "stopping":
        return f"**Detector**: stopping (scoring what was sent), {alerts_total:,} alerts"
    return f"**Detector**: {state}"


def broker_banner(feed: BrokerFeed) -> pn.viewable.Viewable:
    """The main area's banner: visible while the broker does not answer (every tab sees it)."""

    def banner(reachable: bool, checked: bool, busy: bool, bootstrap: str, message: str) -> str:
        if busy:
            return f"Looking for the Kafka broker `{bootstrap}`… {message}"
        if reachable or not checked:
            return ""  # hidden; and no stale text for anything that searches the page
        return (
            f"**Kafka is not reachable at `{bootstrap}`.** The views resume by themselves "
            f"when it returns. ({message})"
        )

    def visible(reachable: bool, checked: bool, busy: bool) -> bool:
        return busy or (checked and not reachable)

    def kind(busy: bool) -> str:
        # Looking for (or starting) a broker is not an error: blue, not red.
        return "info" if busy else "danger"

    params = (feed.param.reachable, feed.param.checked, feed.param.busy)
    return pn.pane.Alert(
        pn.bind(banner, *params, feed.param.bootstrap_servers, feed.param.message),
        alert_type=pn.bind(kind, feed.param.busy),
        visible=pn.bind(visible, *params),
        sizing_mode="stretch_width",
        css_classes=["broker-banner"],
    )


def _producer_status(feed: ProducerFeed) -> pn.pane.Markdown:
    return pn.pane.Markdown(
        pn.bind(
            producer_line,
            feed.stream,
            feed.param.running,
            feed.param.pid,
            feed.param.total_acked,
            feed.param.exit_code,
        ),
        margin=(0, 10),
    )


def _live_status(feed: LiveFeed) -> pn.pane.Markdown:
    return pn.pane.Markdown(
        pn.bind(live_line, feed.stream, feed.param.state, feed.param.accepted), margin=(0, 10)
    )


def _detector_status(feed: DetectionFeed) -> pn.pane.Markdown:
    return pn.pane.Markdown(
        pn.bind(
            detector_line,
            feed.param.state,
            feed.param.alerts_total,
            feed.param.failure,
            feed.param.delay,
            feed.param.delay_level,
        ),
        margin=(0, 10),
        css_classes=["detector-status"],
    )


def pipeline_controls(feed: PipelineFeed) -> pn.Column:
    """The "Start pipeline" / "Stop pipeline" pair with its progress message."""
    return pn.Column(
        start_stop_buttons(feed, "pipeline", width=135),
        pn.pane.Markdown(feed.param.message, margin=(0, 10)),
    )


def sidebar(state: WorkbenchState) -> pn.Column:
    """The sidebar: broker, producers, live pipelines, the detector; start/stop all."""
    broker = state.broker
    return pn.Column(
        pn.pane.Markdown("### Pipeline"),
        pipeline_controls(state.pipeline),
        pn.pane.Markdown("### Status"),
        pn.pane.Markdown(
            pn.bind(
                broker_line,
                broker.param.bootstrap_servers,
                broker.param.reachable,
                broker.param.checked,
                broker.param.busy,
                broker.param.kind,
            ),
            margin=(0, 10),
        ),
        *[_producer_status(feed) for feed in state.producers.by_stream.values()],
        *[_live_status(feed) for feed in state.live.feeds.values()],
        _detector_status(state.detection),
        sizing_mode="stretch_width",
    )

"""Broker tab: which Kafka is in use, whether it answers, its topics."""

from __future__ import annotations

import panel as pn

from workbench.feeds import BrokerFeed


def broker_tab(feed: BrokerFeed) -> pn.viewable.Viewable:
    """The Broker tab's content, bound to ``feed`` (displayable in Jupyter too)."""

    def _summary(bootstrap: str, reachable: bool, kind: str, pid: int | None, message: str) -> str:
        state = "**reachable**" if reachable else "**not reachable** (waiting for a broker)"
        where = f"{kind} broker" + (f" (pid {pid})" if pid else "")
        return f"### Kafka at `{bootstrap}`\n\n{state} · {where}\n\n{message}"

    def _topics(topics: list[str]) -> str:
        if not topics:
            return "_No topics yet: waiting for data._"
        return "\n".join(f"- `{t}`" for t in topics)

    start = pn.widgets.Button(label="Start / connect", color="primary", width=160)
    start.on_click(lambda _event: feed.ensure())
    refresh = pn.widgets.Button(label="Refresh", width=100)
    refresh.on_click(lambda _event: feed.refresh())
    spinner = pn.indicators.LoadingSpinner(value=feed.param.busy, size=24)
    return pn.Column(
        pn.pane.Markdown(
            pn.bind(
                _summary,
                feed.param.bootstrap_servers,
                feed.param.reachable,
                feed.param.kind,
                feed.param.embedded_pid,
                feed.param.message,
            )
        ),
        pn.Row(start, refresh, spinner),
        pn.pane.Markdown("#### Topics"),
        pn.pane.Markdown(pn.bind(_topics, feed.param.topics)),
        name="Broker",
    )

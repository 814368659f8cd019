"""Broker tab: which Kafka is in use, whether it answers, the workbench's topics.

The workbench's own topics come first, each with what it carries and how many messages
were written to it (its end offset: a topic that stays at 0 shows at a glance that
nothing arrives). Other topics on the same cluster (other runs', other teams') are only
counted, and listed on demand.
"""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.feeds import BrokerFeed
from workbench.tabs.series_charts import table_pane

OWN_COLUMNS = ["topic", "carries", "messages written"]


def own_topics_frame(own: dict[str, str], present: list[str], ends: dict[str, int]) -> pd.DataFrame:
    """The workbench's topics: name, what it carries, messages written (pure).

    Args:
        own: what the topic carries → its name (``BrokerFeed.own_topics()``).
        present: the topics on the cluster.
        ends: topic → messages written (end offset); missing: not asked yet.

    Returns:
        :data:`OWN_COLUMNS`, in ``own``'s order; "not created yet" for a topic that
        does not exist (the producers or the detector create theirs).
    """
    rows = []
    for carries, topic in own.items():
        if topic not in present:
            written = "not created yet"
        elif topic in ends:
            written = f"{ends[topic]:,}"
        else:
            written = "…"
        rows.append({"topic": topic, "carries": carries, "messages written": written})
    return pd.DataFrame(rows, columns=OWN_COLUMNS)


def other_topics_text(own: dict[str, str], present: list[str]) -> str:
    """How many other topics the cluster holds, and their names."""
    others = [t for t in present if t not in set(own.values())]
    if not others:
        return "_No other topics on this cluster._"
    names = ", ".join(f"`{t}`" for t in others)
    return f"**{len(others)} other topics** on this cluster (not the workbench's): {names}"


def broker_tab(feed: BrokerFeed) -> pn.viewable.Viewable:
    """The Broker tab's content, bound to ``feed`` (displayable in Jupyter too)."""

    def _summary(bootstrap: str, reachable: bool, kind: str, pid: int | None, message: str) -> str:
        state = "**reachable**" if reachable else "**not reachable** (waiting for a broker)"
        where = f"{kind} broker" + (f" (pid {pid})" if pid else "")
        return f"### Kafka at `{bootstrap}`\n\n{state} · {where}\n\n{message}"

    own = feed.own_topics()

    def _topics(topics: list[str], ends: dict[str, int]) -> pn.viewable.Viewable:
        if not topics:
            return pn.pane.Markdown("_No topics yet: waiting for data._")
        return pn.Column(
            table_pane(own_topics_frame(own, topics, ends), "own-topics"),
            pn.pane.Markdown(other_topics_text(own, topics)),
            sizing_mode="stretch_width",
        )

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
        pn.pane.Markdown("#### Topics of this workbench"),
        pn.bind(_topics, feed.param.topics, feed.param.ends),
        name="Broker",
    )

"""Every tab, the sidebar and the broker banner rendered from static feeds, no browser.

Each view is built into Bokeh models as a session would (``get_root``); the feeds get
plain parameter values (nothing connects: the broker address is a closed port and no
pipeline is started), and the checks read the text of the models that are visible.
"""

from __future__ import annotations

import html
import re

import pandas as pd
import panel as pn
from bokeh.document import Document
from bokeh.model import Model
from pyviz_comms import Comm

from workbench.access import is_allowed_client
from workbench.feeds import WorkbenchState
from workbench.tabs.broker import broker_tab
from workbench.tabs.live import live_tab
from workbench.tabs.producers import producers_tab
from workbench.tabs.status import (
    broker_banner,
    broker_line,
    live_line,
    producer_failed,
    producer_line,
    sidebar,
)

TAG = re.compile(r"<[^>]+>")


def render(view: pn.viewable.Viewable) -> Model:
    return view.get_root(Document(), Comm())


def _shown(model: Model) -> bool:
    return getattr(model, "visible", True) is not False


def visible_text(root: Model) -> str:
    """The text of every visible model under ``root`` (a hidden parent hides its children)."""
    parts: list[str] = []

    def walk(model: Model) -> None:
        if not _shown(model):
            return
        text = getattr(model, "text", None)
        if isinstance(text, str):
            parts.append(TAG.sub("", html.unescape(text)))
        for child in model.references() - {model}:
            if child in seen:
                continue
            seen.add(child)
            walk(child)

    seen: set[Model] = {root}
    walk(root)
    return "\n".join(parts)


# -- status lines (pure) ----------------------------------------------------------------
def test_status_lines_say_what_each_part_does() -> None:
    assert broker_line("h:9092", False, False, False, "unknown") == "**Kafka** `h:9092`: checking…"
    assert broker_line("h:9092", True, True, False, "embedded").endswith("reachable (embedded)")
    assert broker_line("h:9092", False, True, False, "unknown").endswith("**not reachable**")
    assert producer_line("memory", True, 41, 1234, None) == (
        "**Memory producer**: running (pid 41), 1,234 records sent"
    )
    assert "**failed** (exit code 2)" in producer_line("process", False, None, 0, 2)
    assert live_line("process", "waiting", 0) == (
        "**Process live view**: waiting for data, 0 records counted"
    )
    assert "**broker down**" in live_line("memory", "broker down", 7)


def test_only_real_failures_count_as_producer_failures() -> None:
    assert [producer_failed(c) for c in (None, 0, -2, -15, -9, 1, 2)] == [
        False, False, False, False, False, True, True,
    ]  # fmt: skip


def test_loopback_clients_only_unless_remote_access_is_allowed() -> None:
    allowed = [
        is_allowed_client(ip, allow_remote=False)
        for ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1", None, "192.168.1.20", "10.0.0.1", "x")
    ]
    assert allowed == [True, True, True, True, False, False, False]
    assert is_allowed_client("192.168.1.20", allow_remote=True)


# -- empty state: every view says it waits for data -------------------------------------
def test_every_view_says_it_waits_before_data(state: WorkbenchState) -> None:
    broker = visible_text(render(broker_tab(state.broker)))
    assert "waiting for data" in broker.lower()
    producers = visible_text(render(producers_tab(state.producers)))
    assert producers.count("Waiting for data: no records sent yet") == 2
    for feed in state.live.feeds.values():
        text = visible_text(render(live_tab(feed, start=False)))
        assert "Waiting for data…" in text, feed.stream
    side = visible_text(render(sidebar(state)))
    assert "Process producer**: stopped" not in side  # Markdown is rendered, not shown raw
    assert "Process producer: stopped, 0 records sent" in side
    assert "Memory live view: stopped, 0 records counted" in side
    assert "Kafka 127.0.0.1:9: checking…" in side


# -- normal state -----------------------------------------------------------------------
def test_views_show_the_feeds_values(state: WorkbenchState) -> None:
    broker_root = render(broker_tab(state.broker))
    side_root = render(sidebar(state))
    banner_root = render(broker_banner(state.broker))
    live_root = render(live_tab(state.live.memory, start=False))

    state.broker.param.update(
        checked=True, reachable=True, kind="external", topics=["process", "memory"]
    )
    state.producers.process.param.update(running=True, pid=4321, total_acked=1500)
    state.live.memory.param.update(
        state="live",
        message="reading memory",
        accepted=96,
        latest_at="10:00:05 UTC",
        table=pd.DataFrame({"machine": ["4", "7"], "records in trailing 2 min": [48, 48]}),
    )

    assert "- process" not in visible_text(broker_root)  # Markdown list rendered
    assert {"process", "memory"} <= set(visible_text(broker_root).split())
    side = visible_text(side_root)
    assert "Kafka 127.0.0.1:9: reachable (external)" in side
    assert "Process producer: running (pid 4321), 1,500 records sent" in side
    assert "Memory live view: live, 96 records counted" in side
    assert visible_text(banner_root) == "", "no banner while Kafka answers"
    live = visible_text(live_root)
    assert "Counts at 10:00:05 UTC" in live and "Waiting for data" not in live
    cells = live[live.index("records in trailing 2 min") :].split()[5:9]
    assert cells == ["4", "48", "7", "48"], live


def test_a_failed_producer_shows_in_its_tab_and_in_the_sidebar(state: WorkbenchState) -> None:
    tab_root = render(producers_tab(state.producers))
    side_root = render(sidebar(state))
    assert "exited with code" not in visible_text(tab_root)
    state.producers.memory.param.update(
        running=False,
        exit_code=2,
        message="The memory producer exited with code 2: ParseError: bad.csv line 3",
    )
    assert "exited with code 2: ParseError: bad.csv line 3" in visible_text(tab_root)
    assert "Memory producer: failed (exit code 2)" in visible_text(side_root)
    assert "Process producer: stopped" in visible_text(side_root)


# -- broker down ------------------------------------------------------------------------
def test_banner_appears_while_kafka_is_away_and_goes_when_it_returns(
    state: WorkbenchState,
) -> None:
    root = render(broker_banner(state.broker))
    assert visible_text(root) == "", "no banner before the first check"
    state.broker.param.update(checked=True, reachable=False, message="no broker answered")
    down = visible_text(root)
    assert "Kafka is not reachable at 127.0.0.1:9" in down and "no broker answered" in down
    state.broker.param.update(reachable=True)
    assert visible_text(root) == ""


def test_the_broker_tab_puts_the_workbenchs_topics_first_with_messages_written() -> None:
    from workbench.tabs.broker import other_topics_text, own_topics_frame

    own = {"process records": "p.v1", "memory records": "m.v1", "alerts (7b)": "a.v1"}
    frame = own_topics_frame(own, ["m.v1", "old-run.p", "p.v1"], {"p.v1": 1500})
    assert frame.to_dict("records") == [
        {"topic": "p.v1", "carries": "process records", "messages written": "1,500"},
        {"topic": "m.v1", "carries": "memory records", "messages written": "…"},
        {"topic": "a.v1", "carries": "alerts (7b)", "messages written": "not created yet"},
    ]
    assert other_topics_text(own, ["m.v1", "old-run.p", "p.v1"]) == (
        "**1 other topics** on this cluster (not the workbench's): `old-run.p`"
    )


def test_looking_for_a_broker_is_a_blue_banner_and_a_failed_check_meanwhile_is_not_shown(
    state: WorkbenchState,
) -> None:
    banner = broker_banner(state.broker)
    state.broker.param.update(busy=True, message="Looking for a Kafka broker…")
    assert banner.alert_type == "info" and banner.visible
    # A check while the broker is being started neither runs nor turns the banner red.
    state.broker.refresh()
    state.broker.check()  # nothing answers at 127.0.0.1:9
    assert state.broker.message == "Looking for a Kafka broker…"
    assert banner.alert_type == "info"
    state.broker.busy = False
    state.broker.check()
    assert banner.alert_type == "danger" and not state.broker.reachable


def test_the_live_banner_explains_counts_that_climb_while_the_window_fills() -> None:
    from workbench.tabs.live import filling_note

    note = filling_note(1_000.0, 120.0, 1_045.0)
    assert note == (
        " The trailing 2-minute window is still filling (started 45 s ago): the counts climb "
        "until it is full."
    )
    assert filling_note(1_000.0, 120.0, 1_120.0) == ""
    assert filling_note(None, 120.0, 1_045.0) == ""


def test_a_fleets_counts_table_shows_its_busiest_machines_and_says_so() -> None:
    from workbench.tabs.live import busiest_rows

    column = "records in trailing 2 min"
    table = pd.DataFrame({"machine": [str(m) for m in range(1, 31)], column: list(range(30))})
    shown, note = busiest_rows(table, limit=3)
    assert list(shown["machine"]) == ["30", "29", "28"]
    assert note == " (the 3 busiest of 30 machines)"
    small = table.head(3)
    whole, no_note = busiest_rows(small, limit=3)
    assert whole is small and no_note == ""

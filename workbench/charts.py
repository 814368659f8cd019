"""Live charts that redraw on their own browser session's event loop.

The streamz pipelines fill one shared ``hv.streams.Buffer`` per stream from their
consumer threads. Drawing a ``DynamicMap`` straight off that Buffer in every session makes
HoloViews push each redraw from the sending thread into every session's document; with
several sessions open, some sessions' charts stopped redrawing for good (tables bound to
``param`` kept updating). Measured on a toy app with two tabs: 3 of 6 sessions stalled
with the shared Buffer, 0 of 9 with the per-session pull below.

So each session's chart gets its own ``hv.streams.Pipe`` and a periodic callback, owned
by that session, that hands the Buffer's latest frame to the Pipe when it changed. The
redraw then always happens on the session's loop, and it stops with the session.

The Detection and Health charts use the same pull on their feeds' ``param`` frames, which
the feeds replace from worker threads: rebuilding those charts through ``pn.bind`` on
every change stalled the page for minutes on a loaded machine. Their data change at most
once per read-back (3 s) and their rows are restated (a window's count revised, an open
window closed), so they are redrawn whole, not appended to; but a chart that draws only
part of the frame (``select``, e.g. one stream's windows) redraws only when that part
changed, so an unchanged chart sends nothing. The Process and Memory charts, which only
ever append, send only their new samples instead (:mod:`workbench.live_charts`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import holoviews as hv
import pandas as pd
import panel as pn

REDRAW_PERIOD_MS: Final = 1000
"""How often a session looks for new data in the shared Buffer (the live views promise
a refresh every 2 s or faster)."""


def session_chart(
    read: Callable[[], Any],
    draw: Callable[[Any], Any],
    *,
    period_ms: int = REDRAW_PERIOD_MS,
    redraw_on: tuple[Any, str] | None = None,
    select: Callable[[Any], Any] | None = None,
) -> hv.DynamicMap:
    """A chart of ``read()`` for the current session, redrawn from its own event loop.

    Args:
        read: returns the current data (for example ``lambda: buffer.data`` or
            ``lambda: feed.counts``); its owner replaces the object on every change and
            never mutates it, so identity says "changed" cheaply.
        draw: data → HoloViews element (for example one curve per machine); called with
            the data as its one argument.
        period_ms: how often the session checks for new data, milliseconds.
        redraw_on: (object, parameter name), e.g. a widget's ``value``, whose changes
            redraw the chart with the data it has (``draw`` reads the widget).
        select: the part of the data the chart draws (for example one stream's rows);
            a new object whose part equals the part last drawn redraws nothing.

    Returns:
        A DynamicMap fed by a per-session Pipe; a periodic callback of the current
        session (or notebook) keeps it up to date.
    """
    pipe = hv.streams.Pipe(data=read())
    pn.state.add_periodic_callback(follower(read, pipe, select), period=period_ms)
    if redraw_on is not None:
        owner, name = redraw_on
        owner.param.watch(lambda _event: pipe.send(pipe.data), name)

    def redraw(data: Any) -> Any:
        # HoloViews passes the Pipe's value as the keyword ``data``; ``draw`` may name
        # its argument otherwise (``functools.partial(counts_chart, stream=…)``).
        return draw(data)

    return hv.DynamicMap(redraw, streams=[pipe])


def follower(
    read: Callable[[], Any], pipe: hv.streams.Pipe, select: Callable[[Any], Any] | None = None
) -> Callable[[], None]:
    """A callable that sends ``read()`` to ``pipe`` when it is not the object last sent.

    The pipe's current data counts as sent, so an unchanged source never redraws. With
    ``select``, a new object is sent only when its selected part differs from the last
    one sent (compared by value: :func:`same_part`).
    """
    last = {"data": pipe.data}

    def pull() -> None:
        data = read()
        if data is last["data"]:
            return
        previous, last["data"] = last["data"], data
        if select is not None and same_part(select(previous), select(data)):
            return
        pipe.send(data)

    return pull


def same_part(old: Any, new: Any) -> bool:
    """Whether two selected parts are equal (frames by value and dtypes, None as None)."""
    if old is None or new is None:
        return old is new
    if isinstance(old, pd.DataFrame) and isinstance(new, pd.DataFrame):
        return old.reset_index(drop=True).equals(new.reset_index(drop=True))
    return bool(old == new)

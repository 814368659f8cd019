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
    source: hv.streams.Buffer,
    draw: Callable[[pd.DataFrame], Any],
    *,
    period_ms: int = REDRAW_PERIOD_MS,
) -> hv.DynamicMap:
    """A chart of ``source`` for the current session, redrawn from its own event loop.

    Args:
        source: the shared Buffer (read only: its ``data`` is replaced on every send).
        draw: frame → HoloViews element (for example one curve per machine).
        period_ms: how often the session checks the Buffer for new data, milliseconds.

    Returns:
        A DynamicMap fed by a per-session Pipe; a periodic callback of the current
        session (or notebook) keeps it up to date.
    """
    pipe = hv.streams.Pipe(data=source.data)
    last = {"frame": source.data}

    def pull() -> None:
        frame = source.data
        # Buffer.send replaces .data with a new frame: identity says "changed" cheaply.
        if frame is not last["frame"]:
            last["frame"] = frame
            pipe.send(frame)

    pn.state.add_periodic_callback(pull, period=period_ms)
    return hv.DynamicMap(draw, streams=[pipe])

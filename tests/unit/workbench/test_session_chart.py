"""workbench.charts: a session's chart follows its source by identity, on its own loop."""

from __future__ import annotations

import holoviews as hv
import pandas as pd

from workbench.charts import follower, session_chart


def test_follower_sends_only_a_new_object() -> None:
    frames = [pd.DataFrame({"x": [1]})]
    pipe = hv.streams.Pipe(data=frames[0])
    sent: list[object] = []
    pipe.add_subscriber(lambda data: sent.append(data))
    pull = follower(lambda: frames[-1], pipe)

    pull()  # nothing new since the pipe was made
    assert sent == []
    frames.append(pd.DataFrame({"x": [1, 2]}))
    pull()
    pull()  # the same object again: no second redraw
    assert len(sent) == 1 and sent[0] is frames[-1]
    assert pipe.data is frames[-1]
    frames.append(None)  # a feed cleared (for example a new run): drawn as waiting
    pull()
    assert len(sent) == 2 and pipe.data is None


def test_session_chart_starts_from_the_sources_current_data() -> None:
    frame = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
    chart = session_chart(lambda: frame, lambda data: hv.Curve(data, "x", "y"))
    pipe = chart.streams[0]
    assert isinstance(pipe, hv.streams.Pipe) and pipe.data is frame
    assert list(chart[()].dframe()["y"]) == [3, 4]

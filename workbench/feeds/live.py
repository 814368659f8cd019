"""Live feeds: the streamz pipelines of the Process and Memory tabs (SPEC §4).

One :class:`LiveFeed` per stream, shared by every browser session and by notebooks:
it wraps one :class:`pipelines.live.pipeline.LiveCounts`, started once, whose
HoloViews Buffer holds the data every session's chart draws. The feed mirrors the
pipeline's status (waiting, live, broker down, malformed records, latest counts) in
``param`` parameters, updated from the pipeline's threads in one batch per change;
Panel forwards such updates to each session's own event loop.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import holoviews as hv
import param

from pipelines.config import Settings
from pipelines.live.pipeline import LiveCounts, LiveStatus, machines_in
from pipelines.schema.columns import STREAMS, Stream
from workbench.live_charts import StreamedCurves, StreamedHeatmap

STATES = ["stopped", "waiting", "live", "broker down"]


class LiveFeed(param.Parameterized):
    """One stream's live counts: the pipeline, its chart and its status for the tabs."""

    stream = param.String(default="process", constant=True)
    topic = param.String(default="", constant=True)
    state: param.Selector = param.Selector(default="stopped", objects=STATES)
    message = param.String(default="not started")
    accepted = param.Integer(default=0, doc="records counted")
    messages = param.Integer(default=0, doc="Kafka messages received")
    malformed_total = param.Integer(default=0)
    malformed = param.Dict(default={}, doc="malformed records by reason")
    latest_at = param.String(default="", doc="time of the latest sample (UTC)")
    table = param.DataFrame(default=None, allow_None=True, doc="latest counts per machine")
    started_at = param.Number(
        default=None, allow_None=True, doc="unix time the pipeline last started"
    )

    def __init__(self, settings: Settings, stream: Stream, **params: Any) -> None:
        live = LiveCounts(settings, stream)
        super().__init__(stream=stream, topic=live.topic, **params)
        self.live = live
        self._lock = threading.Lock()
        live.subscribe(self._on_status)

    @property
    def buffer(self) -> hv.streams.Buffer:
        """The HoloViews streaming DataFrame shared by every chart of this stream."""
        return self.live.buffer

    @property
    def window_s(self) -> float:
        return self.live.window_s

    def ensure_started(self) -> None:
        """Start the pipeline unless it runs (cheap: it starts threads and returns)."""
        with self._lock:
            if not self.live.running:
                self.live.start()
                self.started_at = time.time()

    def stop(self) -> None:
        """Stop the pipeline (its consumer closes; the chart keeps its data)."""
        with self._lock:
            self.live.stop()
        # Its consumer is closed: nothing counts any more, whatever the last status said.
        self.param.update(state="stopped", message="stopped")

    def plot(self) -> hv.DynamicMap:
        """A new live chart over the shared Buffer (one per session or notebook cell)."""
        return self.live.plot()

    def session_plot(self, picked: Any = None, **pane_params: Any) -> StreamedCurves:
        """A live chart of this session that streams only new samples (see live_charts).

        Args:
            picked: a widget whose ``value`` lists the machines to draw (empty: the
                busiest ones); the chart redraws when it changes. None: the default.
            pane_params: sizing of its pane (``.pane``).
        """
        buffer = self.buffer
        return StreamedCurves(
            lambda: buffer.data,
            window_s=self.window_s,
            title=self.live.title,
            length=self.live.settings.live.max_samples,
            picked=picked,
            **pane_params,
        )

    def session_heatmap(self, **pane_params: Any) -> StreamedHeatmap:
        """Every machine over the last minutes, one new column per sample (see live_charts)."""
        buffer = self.buffer
        return StreamedHeatmap(
            lambda: buffer.data,
            window_s=self.window_s,
            sample_s=self.live.sample_s,
            **pane_params,
        )

    def machines(self) -> list[str]:
        """The machines the chart's data holds, in id order."""
        return machines_in(self.buffer.data)

    def _on_status(self, status: LiveStatus) -> None:
        latest = status.latest
        updates: dict[str, Any] = {
            "state": status.state,
            "message": status.message,
            "accepted": status.accepted,
            "messages": status.messages,
            "malformed_total": status.malformed_total,
            "malformed": dict(status.malformed),
        }
        if latest is not None:
            at = datetime.fromtimestamp(latest.at, tz=UTC).strftime("%H:%M:%S UTC")
            if at != self.latest_at:
                updates["latest_at"] = at
                updates["table"] = self.live.table()
        self.param.update(**updates)


class LiveFeeds:
    """The Process and Memory live feeds of one workbench."""

    def __init__(self, settings: Settings) -> None:
        self.feeds: dict[Stream, LiveFeed] = {s: LiveFeed(settings, s) for s in STREAMS}

    @property
    def process(self) -> LiveFeed:
        return self.feeds["process"]

    @property
    def memory(self) -> LiveFeed:
        return self.feeds["memory"]

    def stop_all(self) -> None:
        """Stop both pipelines (server shutdown)."""
        for feed in self.feeds.values():
            feed.stop()

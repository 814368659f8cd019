"""Every streaming query's progress, as Spark reports it, kept for whoever drains it."""

from __future__ import annotations

import queue
from typing import Any

from pyspark.sql.streaming import StreamingQueryListener


class QueryProgressLog(StreamingQueryListener):
    """Keeps every query progress of a session's streaming queries, to be drained (the
    benchmarks' own record, beside the detector's monitor)."""

    def __init__(self) -> None:
        self.events: queue.Queue[Any] = queue.Queue()

    def onQueryStarted(self, event: Any) -> None:
        pass

    def onQueryProgress(self, event: Any) -> None:
        self.events.put(event.progress)

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass

    def drain(self) -> list[Any]:
        items = []
        while True:
            try:
                items.append(self.events.get_nowait())
            except queue.Empty:
                return items

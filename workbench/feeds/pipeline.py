"""The whole pipeline at once: the sidebar's "Start pipeline" / "Stop pipeline" pair.

Starting makes sure a broker answers (the embedded one is started when none does) and
the two topics exist, then starts both live pipelines, both producers and the streaming
detector. Stopping stops the producers first (each flushes what it sent), then lets the
detector score what they sent (bounded by ``settings.detector.drain_timeout_s``) before
stopping its queries, then the live pipelines; the message says how many records, if
any, remain for the detector's next start.
Both run on the worker pool (they wait for processes and for Kafka), never on the Bokeh
event loop, and a second press while one runs is ignored rather than queued.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import param

from pipelines import kafka_io
from pipelines.errors import StopHackingError
from workbench.feeds.broker import BrokerFeed
from workbench.feeds.detection import DetectionFeed
from workbench.feeds.live import LiveFeeds
from workbench.feeds.producers import ProducersFeed
from workbench.feeds.worker import submit

DETECTOR_START_WAIT_S = 300.0
"""Longest a stop waits for a detector start in progress (JVM, models, queries)."""


class PipelineFeed(param.Parameterized):
    """Starts and stops broker, producers, live pipelines and the detector together."""

    busy = param.Boolean(default=False, doc="a start or stop is in progress")
    message = param.String(default="Pipeline not started.")

    def __init__(
        self,
        broker: BrokerFeed,
        producers: ProducersFeed,
        live: LiveFeeds,
        detection: DetectionFeed | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.broker = broker
        self.producers = producers
        self.live = live
        self.detection = detection
        self._lock = threading.Lock()

    def start(self) -> Future[bool] | None:
        """Start everything on a worker thread; ``None`` when a start or stop runs."""
        return None if self.busy else submit(self.start_now)

    def stop(self) -> Future[bool] | None:
        """Stop everything on a worker thread; ``None`` when a start or stop runs."""
        return None if self.busy else submit(self.stop_now)

    def start_now(self) -> bool:
        """Start the broker if needed, both producers and both live pipelines (blocking).

        Returns:
            True when everything was started; False when no broker could be reached
            (the message says why) or another start or stop was running.
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self.param.update(busy=True, message="Starting the pipeline…")
            if not self.broker.reachable:
                self.broker.ensure_now()
            if not self.broker.reachable:
                self.message = f"Cannot start the pipeline: {self.broker.message}"
                return False
            # The topics must exist before the consumers subscribe: a consumer that
            # subscribed to a missing topic only sees it at its next metadata refresh
            # (minutes), so a live view started before the topic existed is restarted.
            topics = {stream: feed.topic for stream, feed in self.live.feeds.items()}
            try:
                created = set(kafka_io.ensure_topics(self.broker.settings.kafka, topics.values()))
            except StopHackingError as exc:
                self.message = f"Cannot start the pipeline: {exc}"
                return False
            # Consumers first, so that the live views see the producers' first records.
            for stream, feed in self.live.feeds.items():
                if topics[stream] in created:
                    feed.stop()
                feed.ensure_started()
            for producer in self.producers.by_stream.values():
                producer.start()
            if self.detection is None:
                self.message = "Pipeline started: broker, producers and live consumers."
                return True
            # The detector last, and without waiting for it: its JVM and models take tens
            # of seconds, and it reads the topics from the earliest offsets on its first
            # start (from its checkpoints afterwards), so it misses none of the records
            # the producers sent meanwhile. The producers and live views need not wait.
            self.detection.start()
            # An event, not a state: the detector's state (starting, running, …) is the
            # Detector line of the status below, which follows it; a "starting" here
            # read as stale once the detector ran.
            self.message = (
                "Pipeline started: broker, producers, live consumers and the detector "
                "(its state: the Detector line below)."
            )
            return True
        finally:
            self.busy = False
            self._lock.release()

    def stop_now(self) -> bool:
        """Stop both producers (in parallel, each flushes), drain and stop the detector,
        then stop both live pipelines.

        The broker keeps running: other clients may use it, and the workbench stops the
        embedded one it started when it shuts down.

        Returns:
            True when stopped; False when another start or stop was running.
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self.param.update(busy=True, message="Stopping the pipeline: the producers…")
            # The producers first: once they have flushed, the topics' end offsets are
            # final, and the detector can score everything they sent before its queries
            # stop (stopping them first cut micro-batches short and left records unread).
            self.producers.stop_all()
            message = "Pipeline stopped."
            if self.detection is not None:
                self.message = "Stopping the pipeline: the detector scores what was sent…"
                # A detector still starting is waited for, so that it is stopped too.
                stopped = self.detection.stop_now(wait_s=DETECTOR_START_WAIT_S)
                report = self.detection.last_stop
                if stopped and report is not None:  # None: the detector was not running
                    message = report.sentence("Pipeline")
            # The live views last: they keep counting the producers' last records.
            self.live.stop_all()
            self.message = message
            return True
        finally:
            self.busy = False
            self._lock.release()

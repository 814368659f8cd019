"""The workbench's only bridge to ``pipelines``: controllers and data feeds for the tabs.

Feeds are ``param.Parameterized`` objects shared by every browser session (and by a
notebook); tabs only read their parameters and call their methods. Blocking work
(asking Kafka, starting processes, Spark SQL) runs on a worker thread
(:mod:`workbench.feeds.worker`), never on the Bokeh event loop. One module per area:
``broker``, ``producers``, ``live``, ``models``, ``detection`` (the Spark detector in
this process), ``health`` (the detector's health topic), ``pipeline`` (all at once).
"""

from __future__ import annotations

import threading
from pathlib import Path

from pipelines.config import Settings, load_settings
from pipelines.data.demo_set import demo_folder
from pipelines.data.generator import files_in
from workbench.feeds.broker import BrokerFeed
from workbench.feeds.detection import DetectionFeed
from workbench.feeds.health import HealthFeed
from workbench.feeds.live import LiveFeeds
from workbench.feeds.models import ModelsFeed
from workbench.feeds.pipeline import PipelineFeed
from workbench.feeds.producers import ProducersFeed


class WorkbenchState:
    """Everything the tabs share, built once per server (or notebook) process."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.broker = BrokerFeed(self.settings)
        self.producers = ProducersFeed(self.settings)
        self.live = LiveFeeds(self.settings)
        self.models = ModelsFeed(self.settings)
        self.detection = DetectionFeed(
            self.settings,
            model_paths=lambda: (
                self.models.model_path("process"),
                self.models.model_path("memory"),
            ),
            data_file=self.replayed_process_file,
        )
        self.health = HealthFeed(self.settings)
        self.pipeline = PipelineFeed(self.broker, self.producers, self.live, self.detection)

    def replayed_process_file(self) -> Path:
        """The process file the producer replays (its own, else the generated demo data)."""
        chosen = self.producers.process.file.strip()
        return Path(chosen).expanduser() if chosen else files_in(demo_folder(self.settings)).process

    def poll(self) -> None:
        """Refresh what is not pushed to the views (the broker's state); non-blocking.

        Producers and live pipelines push their state from their own threads; only the
        broker has to be asked. Called by every session's periodic callback.
        """
        self.broker.refresh()

    def shutdown(self) -> None:
        """Stop what this workbench started (called when the server unloads)."""
        # The detector first (its JVM must not outlive the server), then the producers:
        # they flush into the broker, which may be ours to stop.
        self.detection.shutdown()
        self.producers.stop_all()
        self.live.stop_all()
        self.health.stop()
        self.broker.stop_embedded()


_STATE: WorkbenchState | None = None
_STATE_LOCK = threading.Lock()


def shared_state(settings: Settings | None = None) -> WorkbenchState:
    """The process-wide workbench state (created on first use)."""
    global _STATE
    with _STATE_LOCK:
        if _STATE is None:
            _STATE = WorkbenchState(settings)
        return _STATE


def reset_shared_state() -> None:
    """Shut down and forget the process-wide state (tests, server unload)."""
    global _STATE
    with _STATE_LOCK:
        if _STATE is not None:
            _STATE.shutdown()
        _STATE = None

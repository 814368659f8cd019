"""Broker feed: which Kafka the workbench uses, whether it answers, its topics."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import param

from pipelines import kafka_io
from pipelines.broker import EmbeddedBroker, ensure_broker
from pipelines.config import Settings
from pipelines.detector.layout import DetectorTopics
from pipelines.errors import StopHackingError
from pipelines.kafka_security import scrub, secret_values
from workbench.feeds.worker import submit

TOPIC_ROLES = {
    "process": "process records",
    "memory": "memory records",
    "process_attacks": "process attacks (detector)",
    "memory_attacks": "memory attacks (detector)",
    "window_counts": "window counts (7a)",
    "alerts": "alerts (7b)",
    "health": "detector health",
}
"""What each of the detector's topic roles carries, as the Broker tab says it."""


class BrokerFeed(param.Parameterized):
    """Which Kafka the workbench uses, whether it answers, and its topics."""

    bootstrap_servers = param.String(default="", doc="Kafka bootstrap servers in use")
    kind: param.Selector = param.Selector(
        default="unknown", objects=["unknown", "embedded", "external"]
    )
    reachable = param.Boolean(default=False)
    topics = param.List(default=[])
    ends = param.Dict(default={}, doc="the workbench's own topics → messages written (end offset)")
    message = param.String(default="Checking for a Kafka broker…")
    busy = param.Boolean(default=False)
    checked = param.Boolean(default=False, doc="asked the broker at least once")
    embedded_pid = param.Integer(default=None, allow_None=True)

    def __init__(self, settings: Settings, **params: Any) -> None:
        super().__init__(bootstrap_servers=settings.kafka.bootstrap_servers, **params)
        self.settings = settings
        self._embedded = EmbeddedBroker(settings)
        self._lock = threading.Lock()
        self._lock_pending = threading.Lock()
        self.started_embedded = False
        self._pending_check: Future[None] | None = None

    def _said(self, exc: Exception) -> str:
        """An error's text for the page, any configured secret blanked out."""
        return scrub(str(exc), secret_values(self.settings.kafka.extra))

    def own_topics(self) -> dict[str, str]:
        """The topics this workbench reads and writes, by what they carry."""
        names = DetectorTopics.from_settings(self.settings).names()
        return {TOPIC_ROLES[role]: topic for role, topic in names.items()}

    @property
    def is_embedded_address(self) -> bool:
        return self.settings.kafka.bootstrap_servers == self._embedded.bootstrap_servers

    def refresh(self) -> None:
        """Ask the broker on a worker thread and update the parameters (non-blocking).

        Every browser session calls this periodically; while a check is still waiting
        for Kafka (up to its timeout when the broker is down) further calls are dropped,
        so checks never pile up on the worker pool.
        """
        with self._lock_pending:
            if self.busy:  # looking for or starting a broker: it checks when done
                return
            if self._pending_check is not None and not self._pending_check.done():
                return
            self._pending_check = submit(self.check)

    def check(self) -> None:
        """Ask the broker now (blocking) and update the parameters."""
        try:
            topics = kafka_io.list_topics(self.settings.kafka, timeout_s=3.0)
            own = [t for t in self.own_topics().values() if t in topics]
            ends = kafka_io.end_offsets(self.settings.kafka, own) if own else {}
        except StopHackingError as exc:
            if self.busy:  # a broker being started does not answer yet: not an error
                return
            self.param.update(reachable=False, checked=True, topics=[], message=self._said(exc))
            return
        pid = self._embedded.status().pid if self.is_embedded_address else None
        self.param.update(
            reachable=True,
            checked=True,
            topics=topics,
            ends=ends,
            embedded_pid=pid,
            kind="embedded" if pid else "external",
            message=f"Connected to Kafka at {self.settings.kafka.bootstrap_servers}",
        )

    def ensure(self) -> None:
        """Connect, or start the embedded broker, on a worker thread (non-blocking)."""
        submit(self.ensure_now)

    def ensure_now(self) -> None:
        """Use the configured broker, or start the embedded one when none answers."""
        with self._lock:
            self.param.update(
                busy=True,
                message="Looking for a Kafka broker (the embedded one is started when "
                "none answers: about 10 s)…",
            )
            try:
                choice = ensure_broker(self.settings)
                if choice.started_now:
                    self.started_embedded = True
                    seconds = choice.embedded.startup_s if choice.embedded else None
                    self.message = f"Started the embedded Kafka broker in {seconds or 0:.1f} s"
            except StopHackingError as exc:
                self.param.update(reachable=False, message=f"Kafka unavailable: {self._said(exc)}")
            finally:
                self.busy = False
        self.check()

    def stop_embedded(self) -> bool:
        """Stop the embedded broker if this workbench started it."""
        if self.started_embedded:
            self.started_embedded = False
            return self._embedded.stop()
        return False

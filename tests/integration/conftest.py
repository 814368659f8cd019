"""Fixtures of the integration tier beyond the session's shared broker and Spark.

- ``own_broker_settings``: settings for a second, private embedded broker (own ports and
  state folder), for tests that stop or restart a broker while the session's stays up.
- ``own_broker``: that broker, started; yields (its settings, the broker).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.broker import EmbeddedBroker
from pipelines.config import Settings, replace
from tests.conftest import free_port


@pytest.fixture
def own_broker_settings(settings: Settings, tmp_path: Path) -> Settings:
    """A second, private broker's settings (the session broker stays up)."""
    port, controller = free_port(), free_port()
    return replace(
        settings,
        {
            "home": str(tmp_path / "home"),
            "jars_cache": str(settings.jars_dir),
            "broker.port": port,
            "broker.controller_port": controller,
            "kafka.bootstrap_servers": f"127.0.0.1:{port}",
        },
    )


@pytest.fixture
def own_broker(own_broker_settings: Settings) -> Iterator[tuple[Settings, EmbeddedBroker]]:
    """The private broker, started for one test and stopped after it."""
    broker = EmbeddedBroker(own_broker_settings)
    broker.start()
    try:
        yield own_broker_settings, broker
    finally:
        broker.stop()

"""Fixtures of the integration tier beyond the session's shared broker and Spark.

- ``own_broker_settings``: settings for a second, private embedded broker (own ports and
  state folder), for tests that stop or restart a broker while the session's stays up.
- ``own_broker``: that broker, started; yields (its settings, the broker).
- ``module_own_broker``: the same for a whole test module (one run checked by several
  tests, e.g. a detector through a broker outage).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.broker import EmbeddedBroker
from pipelines.config import Settings, replace
from tests.conftest import free_port


def private_broker_settings(settings: Settings, home: Path) -> Settings:
    """Settings of a private broker on free ports, its state under ``home``."""
    port, controller = free_port(), free_port()
    return replace(
        settings,
        {
            "home": str(home),
            "jars_cache": str(settings.jars_dir),
            "broker.port": port,
            "broker.controller_port": controller,
            "kafka.bootstrap_servers": f"127.0.0.1:{port}",
        },
    )


@pytest.fixture
def own_broker_settings(settings: Settings, tmp_path: Path) -> Settings:
    """A second, private broker's settings (the session broker stays up)."""
    return private_broker_settings(settings, tmp_path / "home")


def _started(broker_settings: Settings) -> Iterator[tuple[Settings, EmbeddedBroker]]:
    broker = EmbeddedBroker(broker_settings)
    broker.start()
    try:
        yield broker_settings, broker
    finally:
        broker.stop()


@pytest.fixture
def own_broker(own_broker_settings: Settings) -> Iterator[tuple[Settings, EmbeddedBroker]]:
    """The private broker, started for one test and stopped after it."""
    yield from _started(own_broker_settings)


@pytest.fixture(scope="module")
def module_own_broker(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, EmbeddedBroker]]:
    """A private broker for one test module, stopped after its last test."""
    home = tmp_path_factory.mktemp("own-broker") / "home"
    yield from _started(private_broker_settings(settings, home))

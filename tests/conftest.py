"""Shared fixtures: one broker and one Spark session per test run, isolated state.

- ``settings``: a settings tree whose state folder is a fresh temp dir (the jar cache
  is the project's, so nothing is downloaded twice).
- ``kafka``: client settings for the session's broker: ``STOPHACKING_TEST_BOOTSTRAP``
  when set, else an embedded broker on free ports, started once and stopped at the end.
- ``spark``: the one SparkSession of the run (local[2], shuffle partitions 2, UI off).
- ``topic_factory``: unique topic names per test.
- ``shared_dir``: the ``../shared`` reference folder named by ``STOPHACKING_SHARED_DIR``.

A missing broker, JVM or Maven fails the run: integration tests never skip.

Every test is marked by its folder (``unit``, ``integration``, ``e2e``), so each tier runs
alone: ``pytest -m unit`` starts no broker and no JVM.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipelines.config import (
    ENV_SHARED_DIR,
    ENV_TEST_BOOTSTRAP,
    PROJECT_ROOT,
    KafkaSettings,
    Settings,
    load_settings,
    replace,
)

TIERS = ("unit", "integration", "e2e")
"""The test folders, each a pytest marker of the same name (pyproject.toml)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the tier of the folder it lives in."""
    root = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(root).parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("stophacking-home")
    base = load_settings()
    return replace(
        base,
        {
            "home": str(home),
            "jars_cache": str(
                base.jars_dir if base.jars_cache else PROJECT_ROOT / ".stophacking" / "jars"
            ),
        },
    )


@pytest.fixture(scope="session")
def broker_settings(settings: Settings) -> Iterator[Settings]:
    """Settings whose ``kafka`` points at the test session's broker."""
    external = os.environ.get(ENV_TEST_BOOTSTRAP)
    if external:
        yield replace(settings, {"kafka.bootstrap_servers": external})
        return
    from pipelines.broker import EmbeddedBroker

    port, controller = free_port(), free_port()
    embedded_settings = replace(
        settings,
        {
            "broker.port": port,
            "broker.controller_port": controller,
            "kafka.bootstrap_servers": f"127.0.0.1:{port}",
        },
    )
    broker = EmbeddedBroker(embedded_settings)
    broker.start()
    try:
        yield embedded_settings
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka(broker_settings: Settings) -> KafkaSettings:
    return broker_settings.kafka


@pytest.fixture
def topic_factory(kafka: KafkaSettings) -> Callable[[str], str]:
    """Make unique, created topic names: ``topic_factory("process")``."""
    from pipelines import kafka_io

    def make(stem: str = "t", partitions: int = 1) -> str:
        name = f"test.{stem}.{uuid.uuid4().hex[:10]}"
        kafka_io.ensure_topics(kafka, [name], partitions=partitions)
        return name

    return make


@pytest.fixture(scope="session")
def spark(settings: Settings):  # type: ignore[no-untyped-def]
    from pipelines.spark.session import build_spark_session

    session = build_spark_session(settings, app_name="stophacking-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The reference folder (``../shared``), read through ``STOPHACKING_SHARED_DIR``.

    Unset: the test skips, saying so. Set but missing: the test fails.
    """
    value = os.environ.get(ENV_SHARED_DIR)
    if not value:
        if os.environ.get("CI"):
            pytest.fail(f"{ENV_SHARED_DIR} must be set in CI (the ../shared reference folder)")
        pytest.skip(f"{ENV_SHARED_DIR} is not set: no reference data to compare with")
    path = Path(value)
    if not (path / "data" / "real").is_dir():
        pytest.fail(f"{ENV_SHARED_DIR}={value} has no data/real folder")
    return path

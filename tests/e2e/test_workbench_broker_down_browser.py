"""The broker banner in a real browser: Kafka away, then back, and the views recover.

Its own workbench server (pointed at a port where nothing listens, so its views start
with the broker down); the test then starts a broker on that very port, which is
what "Kafka returns" looks like to the workbench, and the page recovers by itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.config import Settings, replace
from tests.conftest import free_port
from tests.e2e.workbench_server import served_workbench


@pytest.fixture(scope="module")
def away_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a broker that does not run yet (its own home and free ports)."""
    port = free_port()
    return replace(
        settings,
        {
            "home": str(tmp_path_factory.mktemp("returning-broker")),
            "jars_cache": str(settings.jars_dir),
            "broker.port": port,
            "broker.controller_port": free_port(),
            "kafka.bootstrap_servers": f"127.0.0.1:{port}",
        },
    )


@pytest.fixture(scope="module")
def workbench_url(
    settings: Settings, away_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    # The workbench's own broker settings keep their default port, so it does not start
    # an embedded broker for this address: an unreachable external cluster, as configured.
    pointed = replace(settings, {"kafka.bootstrap_servers": away_settings.kafka.bootstrap_servers})
    log = tmp_path_factory.mktemp("workbench-broker-down") / "panel-serve.log"
    with served_workbench(pointed, free_port(), log) as url:
        yield url


def test_banner_shows_while_kafka_is_away_and_the_views_recover_when_it_returns(
    browser, workbench_url: str, away_settings: Settings, screenshots_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    from pipelines.broker import EmbeddedBroker

    bootstrap = away_settings.kafka.bootstrap_servers
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(workbench_url, wait_until="domcontentloaded")
    page.get_by_text("StopHacking workbench").first.wait_for(timeout=60_000)
    banner = page.get_by_text(f"Kafka is not reachable at {bootstrap}")
    banner.first.wait_for(timeout=60_000)
    page.get_by_text(f"Kafka {bootstrap}: not reachable").first.wait_for(timeout=30_000)
    # Every tab sees the banner (it sits above the tabs).
    for tab in ("Producers", "Process"):
        page.locator(".bk-tab", has_text=tab).first.click()
        assert banner.first.is_visible(), tab
    page.get_by_text("Process live view: broker down").first.wait_for(timeout=60_000)
    page.screenshot(path=str(screenshots_dir / "broker-down.png"), full_page=True)

    broker = EmbeddedBroker(away_settings)
    broker.start()
    try:
        # No reload: the 2 s status poll and the live consumers notice by themselves.
        page.get_by_text(re.compile(rf"Kafka {re.escape(bootstrap)}: reachable")).first.wait_for(
            timeout=60_000
        )
        banner.first.wait_for(state="hidden", timeout=30_000)
        page.get_by_text(re.compile(r"Process live view: (waiting for data|live)")).first.wait_for(
            timeout=90_000
        )
        page.get_by_text("Waiting for data… (reading").locator("visible=true").first.wait_for(
            timeout=30_000
        )
        page.screenshot(path=str(screenshots_dir / "broker-recovered.png"), full_page=True)
    finally:
        context.close()
        broker.stop()

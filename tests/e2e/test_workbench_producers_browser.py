"""The Producers tab in a real browser: start a producer, see records per machine, stop it;
start this machine's agent, see its rows acknowledged, stop it.

Its own workbench server (the shared browser module is being extended by others),
pointed at the test broker and at a topic of its own; the producer replays the
default input (the generated demo data).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import kafka_io
from pipelines.config import Settings
from tests.conftest import free_port
from tests.e2e.workbench_server import served_workbench

TOPIC = f"test.browser.process.{uuid.uuid4().hex[:8]}"
MEMORY_TOPIC = f"test.browser.memory.{uuid.uuid4().hex[:8]}"
CLEAN_SUMMARY = re.compile(r"process producer: [1-9]\d* cycles, (\d+) of \1 records acknowledged")


@pytest.fixture(scope="module")
def workbench_url(
    broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    from pipelines.data.demo_set import ensure_demo_data

    # The demo data is generated on first use; do it here, not inside the timed steps.
    ensure_demo_data(broker_settings)
    log = tmp_path_factory.mktemp("workbench-producers") / "panel-serve.log"
    env = {
        "STOPHACKING_KAFKA__TOPICS__PROCESS": TOPIC,
        "STOPHACKING_KAFKA__TOPICS__MEMORY": MEMORY_TOPIC,
        "STOPHACKING_AGENT__INTERVAL_S": "1",  # the agent card's default interval
    }
    with served_workbench(broker_settings, free_port(), log, extra_env=env) as url:
        yield url


def test_start_shows_records_per_machine_and_stop_ends_cleanly(
    browser, workbench_url: str, broker_settings: Settings, screenshots_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(workbench_url, wait_until="domcontentloaded")
    page.get_by_text("StopHacking workbench").first.wait_for(timeout=60_000)
    page.locator(".bk-tab", has_text="Producers").first.click()
    page.get_by_text("Waiting for data: no records sent yet").first.wait_for(timeout=60_000)

    page.get_by_role("button", name="Start", exact=True).first.click()  # process producer
    page.get_by_text(re.compile(r"Running \(pid \d+\), [1-9]\d* cycles")).first.wait_for(
        timeout=120_000
    )
    page.get_by_role("columnheader", name="acknowledged").first.wait_for(timeout=30_000)
    page.screenshot(path=str(screenshots_dir / "producers-running.png"), full_page=True)

    page.get_by_role("button", name="Stop", exact=True).first.click()
    # The summary line of a clean exit (not "exited with code …").
    page.get_by_text(CLEAN_SUMMARY).first.wait_for(timeout=90_000)
    page.get_by_text("Stopped").first.wait_for(timeout=30_000)
    page.screenshot(path=str(screenshots_dir / "producers-stopped.png"), full_page=True)
    context.close()

    end = kafka_io.topic_end_offsets(broker_settings.kafka, TOPIC)
    assert sum(end.values()) > 0, "the producer wrote to its topic"


AGENT_SUMMARY = re.compile(r"Stopped after [1-9]\d* intervals: ([\d,]+) of \1 rows of machine \d+")


def test_the_agent_card_publishes_this_machine_and_stops_cleanly(
    browser, workbench_url: str, broker_settings: Settings, screenshots_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.goto(workbench_url, wait_until="domcontentloaded")
    page.get_by_text("StopHacking workbench").first.wait_for(timeout=60_000)
    page.locator(".bk-tab", has_text="Producers").first.click()
    page.get_by_text("This machine, live (agent)").first.wait_for(timeout=60_000)

    page.get_by_role("button", name="Start", exact=True).last.click()  # the agent card's
    page.get_by_text(re.compile(r"Sampling this machine \(machine \d+\) every 1 s")).first.wait_for(
        timeout=60_000
    )
    page.get_by_text(re.compile(r"Running \(pid \d+\), [2-9]\d* intervals")).first.wait_for(
        timeout=60_000
    )
    page.screenshot(path=str(screenshots_dir / "producers-agent-running.png"), full_page=True)

    page.get_by_role("button", name="Stop", exact=True).last.click()
    page.get_by_text(AGENT_SUMMARY).first.wait_for(timeout=60_000)
    context.close()

    # No producer writes the memory topic here: what it holds is the agent's.
    end = kafka_io.topic_end_offsets(broker_settings.kafka, MEMORY_TOPIC)
    assert sum(end.values()) > 0, "the agent wrote this machine's memory rows"

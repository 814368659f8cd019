"""``stophacking demo``: one bounded end-to-end run against the test session's broker.

The demo runs as its own process (own process group, own JVM) with the real producers,
live pipelines and detector on the generated data, exactly as ``make demo`` runs it; only
the broker is the test session's (through ``STOPHACKING_*`` variables) and the run keeps
its topics so the test can check them. One run serves every test of the module.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines import kafka_io
from pipelines.config import PROJECT_ROOT, Settings
from pipelines.schema.columns import STREAMS

DURATION_S = 60
RUN_TIMEOUT_S = 900.0
"""Bound of the whole run on a loaded 2-core machine (JVM, models, replay, drain)."""
MACHINES = {"4", "5", "6", "7", "8"}
"""The generated data's machines."""


@dataclass(frozen=True)
class DemoRun:
    code: int
    stdout: str
    stderr: str
    summary: dict[str, Any]
    home: Path
    pgid: int


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain ``text`` (the demo's state folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline[:200]}")
    return found


@pytest.fixture(scope="module")
def demo_run(
    broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoRun]:
    folder = tmp_path_factory.mktemp("demo")
    home = folder / "demo-home"
    summary_path = folder / "summary.json"
    env = {
        **os.environ,
        "STOPHACKING_HOME": str(broker_settings.home),
        "STOPHACKING_JARS_CACHE": str(broker_settings.jars_dir),
        "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS": broker_settings.kafka.bootstrap_servers,
    }
    command = [
        sys.executable, "-m", "pipelines.cli", "demo",
        "--duration", str(DURATION_S), "--demo-home", str(home),
        "--summary-json", str(summary_path), "--keep-topics",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: the test can see whether anything stays
    )
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        stdout, stderr = process.communicate()
        pytest.fail(f"the demo did not end within {RUN_TIMEOUT_S:g} s:\n{stdout}\n{stderr[-3000:]}")
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    run = DemoRun(process.returncode, stdout, stderr, summary, home, process.pid)
    yield run
    topics = summary.get("topics", {}).values()
    kafka_io.delete_topics(broker_settings.kafka, list(topics))


def test_demo_exits_0_and_prints_the_summary(demo_run: DemoRun) -> None:
    assert demo_run.code == 0, demo_run.stdout + demo_run.stderr[-3000:]
    assert demo_run.summary["ok"] is True
    assert demo_run.summary["problems"] == []
    lines = demo_run.stdout.splitlines()
    assert "== StopHacking demo summary ==" in lines
    assert lines[-2:] == ["demo OK", f"summary written to {demo_run.home.parent / 'summary.json'}"]


def test_the_printed_table_shows_the_json_figures(demo_run: DemoRun) -> None:
    for stream in STREAMS:
        figures = demo_run.summary["streams"][stream]
        row = re.search(rf"^{stream}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+yes$",
                        demo_run.stdout, re.M)  # fmt: skip
        assert row, demo_run.stdout
        quarantined = sum(figures["quarantined"].values())
        expected = [
            figures["produced"],
            figures["cleaned"],
            figures["scored"],
            quarantined,
            figures["predicted_attacks"],
            figures["live_records"],
        ]
        assert [int(g) for g in row.groups()] == expected
    events = re.search(r"^attack events \(alerts\): (\d+)", demo_run.stdout, re.M)
    assert events and int(events.group(1)) == demo_run.summary["attack_events"]


def test_every_produced_record_is_accounted_for(
    demo_run: DemoRun, broker_settings: Settings
) -> None:
    for stream in STREAMS:
        figures = demo_run.summary["streams"][stream]
        # The producer's acknowledgements against the topic itself (one record per message).
        on_topic = sum(
            kafka_io.topic_end_offsets(
                broker_settings.kafka, demo_run.summary["topics"][stream]
            ).values()
        )
        assert figures["produced"] == on_topic > 0
        assert figures["producer_errors"] == 0
        assert figures["sent"] == figures["produced"]
        assert figures["produced"] == figures["cleaned"] + figures["quarantined_before_cleaning"]
        assert figures["cleaned"] == figures["scored"] + figures["quarantined"].get("score", 0)
        assert figures["accounted"] is True


def test_the_detector_found_attacks_and_raised_attack_events(demo_run: DemoRun) -> None:
    summary = demo_run.summary
    for stream in STREAMS:
        assert summary["streams"][stream]["predicted_attacks"] > 0
    assert summary["window_rows"] > 0
    assert summary["attack_pairs"] >= summary["attack_events"] > 0
    assert summary["first_alert_after_s"] is not None


def test_the_live_pipelines_counted_every_record_of_every_machine(demo_run: DemoRun) -> None:
    for stream in STREAMS:
        figures = demo_run.summary["streams"][stream]
        # They read this run's topics from the earliest offset.
        assert figures["live_records"] == figures["produced"]
        assert set(figures["live_latest"]) == MACHINES
        assert sum(figures["live_latest"].values()) > 0


def test_the_run_used_its_own_topics_and_folder(
    demo_run: DemoRun, broker_settings: Settings
) -> None:
    summary = demo_run.summary
    run_id = summary["run_id"]
    assert summary["broker_started"] is False  # the session's broker was reachable
    assert broker_settings.kafka.bootstrap_servers in summary["broker"]
    configured = broker_settings.kafka.topics
    assert set(summary["topics"].values()).isdisjoint(
        {configured.process, configured.memory, configured.alerts, configured.window_counts}
    )
    assert all(f"demo-{run_id}" in topic for topic in summary["topics"].values())
    assert Path(summary["output_dir"]).is_relative_to(demo_run.home)


def test_detection_quality_is_reported_against_the_ground_truth(demo_run: DemoRun) -> None:
    quality = demo_run.summary["quality"]
    assert quality is not None, demo_run.summary["notes"]
    assert demo_run.summary["quality_lines"]
    for stream in STREAMS:
        assert 0.0 < quality["streams"][stream]["f1"] <= 1.0


def _live_members_of_group(pgid: int) -> list[str]:
    """Processes of group ``pgid`` that are not zombies (a zombie has ended; once its
    parent is gone only init reaps it, and this machine's init does so lazily)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
            if int(pgrp) == pgid and state != "Z":
                found.append(f"{entry.name}: {comm} ({state})")
    return found


def test_nothing_is_left_running(demo_run: DemoRun) -> None:
    assert _live_members_of_group(demo_run.pgid) == []
    assert _processes_mentioning(str(demo_run.home)) == []

"""``stophacking produce`` as a user (or the workbench) runs it: a child process."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pipelines.config import PROJECT_ROOT, Settings
from tests.support.replay import ROWS_PER_MACHINE, write_streaming_csv


def cli(settings: Settings, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "pipelines.cli",
        "--bootstrap-servers", settings.kafka.bootstrap_servers,
        "--home", str(settings.home),
        "produce", *args,
    ]  # fmt: skip


def test_bounded_run_reports_json_progress_and_a_summary_that_matches_the_topic(
    broker_settings: Settings, topic_factory, consume, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    topic = topic_factory("cli")
    path = write_streaming_csv(tmp_path, "process")
    done = subprocess.run(
        cli(broker_settings, "process", "--file", str(path), "--cycles", "3", "--speed", "50",
            "--seed", "1", "--topic", topic, "--progress", "json"),
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["event"] == "start"
    assert events[0]["machines"] == sorted(ROWS_PER_MACHINE)
    assert events[-1]["event"] == "summary"
    assert {e["event"] for e in events[1:-1]} <= {"progress"}
    summary = events[-1]
    assert (summary["cycles"], summary["errors"], summary["reason"]) == (3, 0, "cycles")
    records = consume(topic, summary["total_acked"])
    assert len(records) == summary["total_acked"] == summary["total_sent"]
    # Wall clock (the default): the whole second each cycle starts in, never decreasing,
    # close to now (cycles compressed 50x to 0.1 s share a second).
    stamps = list(dict.fromkeys(value["ts"] for _, value in records))
    assert 1 <= len(stamps) <= 3 and stamps == sorted(stamps)
    assert all(float(stamp).is_integer() for stamp in stamps)
    assert abs(stamps[-1] - time.time()) < 300
    per_machine: dict[str, int] = {}
    for key, value in records:
        per_machine[key.decode()] = per_machine.get(key.decode(), 0) + 1
        assert value["run_id"] == summary["run_id"]
    assert per_machine == summary["acked"]


def test_ctrl_c_ends_cleanly_with_a_summary_and_sends_held_rows(
    broker_settings: Settings, topic_factory, consume, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    topic = topic_factory("sigint")
    path = write_streaming_csv(tmp_path, "memory")
    child = subprocess.Popen(
        cli(broker_settings, "memory", "--file", str(path), "--speed", "20", "--seed", "2",
            "--topic", topic, "--progress", "json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert child.stdout is not None
    events = []
    for line in child.stdout:  # unbounded run: wait for two cycles, then interrupt
        events.append(json.loads(line))
        if events[-1].get("cycles", 0) >= 2:
            child.send_signal(signal.SIGINT)
            break
    rest, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    summary = json.loads(rest.splitlines()[-1])
    assert summary["event"] == "summary"
    assert summary["reason"] == "stopped"
    assert summary["errors"] == 0
    assert summary["total_acked"] == summary["total_sent"] > 0
    records = consume(topic, summary["total_acked"])
    assert len(records) == summary["total_acked"]
    # The last cycle's held-back rows went out at exit: the topic ends on that cycle's ts
    # after a machine-order restart (new rows 4…7, then late rows 4…).
    last_ts = records[-1][1]["ts"]
    machines = [v["machine"] for _, v in records if v["ts"] == last_ts]
    assert any(b < a for a, b in itertools.pairwise(machines))


def test_a_broker_that_never_answers_gives_one_clear_line_and_a_non_zero_exit(
    settings: Settings,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, STOPHACKING_REPLAY__CONNECT_TIMEOUT_S="3")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "--bootstrap-servers", f"127.0.0.1:{port}",
         "--home", str(settings.home), "produce", "process", "--cycles", "1",
         "--file", str(write_streaming_csv(settings.home, "process")), "--progress", "none"],
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert time.monotonic() - started < 60
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("stophacking: error: the process producer could not reach Kafka")
    assert f"127.0.0.1:{port}" in lines[0]
    assert "replay.connect_timeout_s=3" in lines[0]

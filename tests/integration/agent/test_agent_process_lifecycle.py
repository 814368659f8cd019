"""A process the agent sees start, and then end: ``N`` first, ``<name>``/``E`` with its exit
code after (this machine's real processes, the kernel's real exit events)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from pipelines.agent.exits import ExitWatcher
from pipelines.agent.fields import Row, interval_rows
from pipelines.agent.procfs import mem_total_kib, read_all


def _probe(tmp_path: Path, name: str) -> Path:
    """A copy of sh under a name of our own, so its rows are easy to find."""
    probe = tmp_path / name
    shutil.copy(shutil.which("sh") or "/bin/sh", probe)
    return probe


def _interval(watcher: ExitWatcher, before: dict) -> tuple[dict, list[Row], list[Row]]:
    reading = read_all().processes
    process_rows, memory_rows = interval_rows(
        before, reading, watcher.take(), mem_total_kib=mem_total_kib()
    )
    return reading, process_rows, memory_rows


def _rows_of(rows: list[Row], pid: int) -> list[Row]:
    return [r for r in rows if r["PID"] == pid]


def test_a_process_is_new_in_its_first_interval_and_ended_with_its_exit_code(
    tmp_path: Path,
) -> None:
    exiting = _probe(tmp_path, "probe-exit")
    killed = _probe(tmp_path, "probe-killed")
    with ExitWatcher() as watcher:
        assert watcher.available, watcher.reason  # CI runs as root, as atop needs to
        before = read_all().processes
        watcher.take()
        exits_7 = subprocess.Popen([str(exiting), "-c", "sleep 1.5; exit 7"])
        sleeper = subprocess.Popen([str(killed), "-c", "sleep 60; exit 0"])
        time.sleep(0.5)
        before, process_rows, memory_rows = _interval(watcher, before)

        for child, name in ((exits_7, "probe-exit"), (sleeper, "probe-killed")):
            (row,) = _rows_of(process_rows, child.pid)
            assert (row["CMD"], row["Status"], row["EXC"]) == (name, "N", 0)
            assert row["State"] in ("S", "R")
            (memory,) = _rows_of(memory_rows, child.pid)
            # New in the interval: its growth is its whole size, as on atop's first row.
            assert memory["VGROW"] == memory["VSIZE"] and memory["VSIZE"] != 0

        sleeper.kill()
        assert exits_7.wait(timeout=10) == 7 and sleeper.wait(timeout=10) == -9
        time.sleep(0.3)
        _now, process_rows, memory_rows = _interval(watcher, before)

    (ended,) = _rows_of(process_rows, exits_7.pid)
    assert ended["CMD"] == "<probe-exit>"
    assert (ended["State"], ended["Status"], ended["EXC"]) == ("E", "E", 7)
    assert (ended["PRI"], ended["POLI"], ended["CPU"]) == (0, "0", 0.0)
    (killed_row,) = _rows_of(process_rows, sleeper.pid)
    assert killed_row["CMD"] == "<probe-killed>"
    assert (killed_row["State"], killed_row["Status"], killed_row["EXC"]) == ("E", "S", 9)
    (ended_memory,) = _rows_of(memory_rows, exits_7.pid)
    assert ended_memory["CMD"] == "<probe-exit>"
    assert (ended_memory["VSIZE"], ended_memory["RSIZE"], ended_memory["MEM"]) == (0, 0, 0.0)

"""The agent against atop itself, over the same interval on this machine (docs/agent.md).

atop (Debian package ``atop``) and the agent each read every process at the start and
at the end of one interval; atop's parseable output (``atop -P PRG,PRC,PRM``) of that
interval is compared field by field with the agent's rows, on the processes that lived
through the whole test. The tolerances are the ones docs/agent.md states. The test
fails (never skips) where atop is missing: `.ci/run` installs it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from pipelines.agent.fields import POLICY_NAMES, atop_size, interval_rows
from pipelines.agent.procfs import mem_total_kib, read_all

INTERVAL_S = 4


@dataclass
class AtopProcess:
    pid: int
    name: str
    state: str
    threads: tuple[int, int, int] = (0, 0, 0)
    system_ticks: int = 0
    hz: int = 100
    nice: int = 0
    priority: int = 0
    rt_priority: int = 0
    policy: int = 0
    vsize_kib: int = 0
    rsize_kib: int = 0
    text_kib: int = 0
    vgrow_kib: int = 0
    rgrow_kib: int = 0
    minflt: int = 0
    majflt: int = 0


def parse_atop_interval(output: str) -> dict[int, AtopProcess]:
    """The processes (not threads) of the LAST sample of ``atop -P PRG,PRC,PRM`` output."""
    sample = output.rsplit("SEP\n", 2)[-2] if output.count("SEP\n") >= 2 else output
    processes: dict[int, AtopProcess] = {}
    for line in sample.splitlines():
        label = line[:3]
        if label not in ("PRG", "PRC", "PRM"):
            continue
        head, rest = line.split("(", 1)
        name, tail = rest.split(") ", 1)  # PRG's command line sits in parentheses too
        pid = int(head.split()[-1])
        state, *after = tail.split()
        if label == "PRG":
            # ruid rgid tgid nthreads exitcode starttime (cmdline) ppid trun tslpi tslpu
            # euid egid suid sgid fsuid fsgid elapsed is_process …
            trailing = tail[tail.index(") ", tail.index("(")) + 2 :].split()
            if trailing[11] != "y":
                continue
            entry = processes.setdefault(pid, AtopProcess(pid=pid, name=name, state=state))
            entry.threads = (int(trailing[1]), int(trailing[2]), int(trailing[3]))
        elif label == "PRC":
            # hz utime stime nice priority rtprio policy curcpu sleepavg tgid is_process
            if after[10] != "y":
                continue
            entry = processes.setdefault(pid, AtopProcess(pid=pid, name=name, state=state))
            entry.hz, entry.system_ticks = int(after[0]), int(after[2])
            entry.nice, entry.priority = int(after[3]), int(after[4])
            entry.rt_priority, entry.policy = int(after[5]), int(after[6])
        else:
            # pagesize vsize rsize vexec vgrow rgrow minflt majflt vlibs vdata vstack vswap
            # tgid is_process
            if after[13] != "y":
                continue
            entry = processes.setdefault(pid, AtopProcess(pid=pid, name=name, state=state))
            entry.vsize_kib, entry.rsize_kib, entry.text_kib = map(int, after[1:4])
            entry.vgrow_kib, entry.rgrow_kib = int(after[4]), int(after[5])
            entry.minflt, entry.majflt = int(after[6]), int(after[7])
    return processes


def _starts() -> dict[int, float]:
    return {p.pid: p.info["create_time"] for p in psutil.process_iter(["create_time"])}


def _close(agent: float, atop: float, absolute: float, relative: float) -> bool:
    return abs(agent - atop) <= absolute + relative * max(abs(atop), abs(agent))


def _share(pids: list[int], agree: Callable[[int], bool]) -> float:
    return sum(1 for pid in pids if agree(pid)) / len(pids)


@pytest.fixture(scope="module")
def same_interval(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, dict, list[int]]:
    atop = shutil.which("atop")
    assert atop, "atop is not installed (Debian package 'atop'; .ci/run installs it)"
    alive_at_start = _starts()
    out = tmp_path_factory.mktemp("atop") / "atop.txt"
    with out.open("w") as sink:
        run = subprocess.Popen(
            [atop, "-P", "PRG,PRC,PRM", str(INTERVAL_S), "2"], stdout=sink, stderr=subprocess.PIPE
        )
        time.sleep(0.05)  # atop's first sample is taken as it starts
        before = read_all().processes
        time.sleep(INTERVAL_S)
        now = read_all().processes
        assert run.wait(timeout=INTERVAL_S + 30) == 0, run.stderr.read() if run.stderr else ""
    alive_at_end = _starts()
    lived = sorted(
        pid
        for pid, started in alive_at_start.items()
        if alive_at_end.get(pid) == started and pid != run.pid
    )
    process_rows, memory_rows = interval_rows(before, now, {}, mem_total_kib=mem_total_kib())
    rows = {r["PID"]: r for r in process_rows}
    memory = {r["PID"]: r for r in memory_rows}
    atop_rows = parse_atop_interval(Path(out).read_text())
    return rows, memory, atop_rows, lived


def test_both_list_every_process_that_lived_through_the_interval(same_interval) -> None:
    rows, _memory, atop_rows, lived = same_interval
    assert len(lived) >= 10, "too few long-lived processes on this machine to compare"
    missing_agent = [pid for pid in lived if pid not in rows]
    missing_atop = [pid for pid in lived if pid not in atop_rows]
    assert not missing_agent and not missing_atop, (missing_agent, missing_atop)


def test_identity_and_scheduling_fields_agree_exactly(same_interval) -> None:
    rows, _memory, atop_rows, lived = same_interval
    for pid in lived:
        row, atop = rows[pid], atop_rows[pid]
        assert row["POLI"] == POLICY_NAMES.get(atop.policy, str(atop.policy)), pid
        assert (row["NICE"], row["PRI"], row["RTPR"]) == (
            atop.nice,
            atop.priority,  # atop prints the kernel's priority + 100, as the rows do
            atop.rt_priority,
        ), pid
        assert row["Status"] == "-" and row["EXC"] == 0, pid


def test_names_agree_but_for_kernel_workers_renamed_meanwhile(same_interval) -> None:
    rows, _memory, atop_rows, lived = same_interval
    assert _share(lived, lambda p: rows[p]["CMD"] == atop_rows[p].name[:14]) >= 0.95


def test_state_and_thread_counts_agree_for_nine_in_ten(same_interval) -> None:
    rows, _memory, atop_rows, lived = same_interval
    assert _share(lived, lambda p: rows[p]["State"] == atop_rows[p].state) >= 0.9
    threads = {p: (rows[p]["TRUN"], rows[p]["TSLPI"], rows[p]["TSLPU"]) for p in lived}
    assert _share(lived, lambda p: sum(threads[p]) == sum(atop_rows[p].threads)) >= 0.9
    assert _share(lived, lambda p: threads[p] == atop_rows[p].threads) >= 0.9


def test_cpu_and_page_faults_of_the_interval_agree(same_interval) -> None:
    rows, memory, atop_rows, lived = same_interval
    cpu = {p: atop_rows[p].system_ticks / atop_rows[p].hz for p in lived}
    assert _share(lived, lambda p: _close(rows[p]["CPU"], cpu[p], 0.05, 0.1)) >= 0.95
    assert (
        _share(lived, lambda p: _close(memory[p]["MINFLT"], atop_rows[p].minflt, 100, 0.1)) >= 0.95
    )
    assert all(_close(memory[p]["MAJFLT"], atop_rows[p].majflt, 10, 0.1) for p in lived)


def test_sizes_agree_in_atops_units(same_interval) -> None:
    _rows, memory, atop_rows, lived = same_interval
    for field, kib in (
        ("VSTEXT", lambda a: a.text_kib),
        ("VSIZE", lambda a: a.vsize_kib),
        ("RSIZE", lambda a: a.rsize_kib),
    ):

        def agrees(p: int, field: str = field, kib: Callable = kib) -> bool:
            return _close(memory[p][field], atop_size(kib(atop_rows[p])), 1, 0.02)

        assert _share(lived, agrees) >= 0.95, field
    share = _share(
        lived,
        lambda p: (
            _close(memory[p]["RGROW"], atop_size(atop_rows[p].rgrow_kib), 1, 0.02)
            and _close(memory[p]["VGROW"], atop_size(atop_rows[p].vgrow_kib), 1, 0.02)
        ),
    )
    assert share >= 0.9
    total = mem_total_kib()
    assert all(_close(memory[p]["MEM"], atop_rows[p].rsize_kib / total, 0.01, 0) for p in lived)

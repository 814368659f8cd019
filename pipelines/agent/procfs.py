"""Read every process of this host (psutil, and ``/proc`` where psutil has no field).

psutil gives each process's name, state, nice value, CPU number, CPU times, virtual and
text size. ``/proc/<pid>/stat`` adds what psutil does not expose: the kernel's priority,
realtime priority, scheduling policy, page-fault counters, start time and the resident
size as atop reads it; ``/proc/<pid>/task``
gives the state of each thread. A process that ends while it is being read is left out
(it is reported as ended by the next interval); one whose files cannot be read
(another user's process, without privileges) is counted and left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from pipelines.agent.fields import ProcReading, ThreadStates

PROC = Path("/proc")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") / 1024

STATES: dict[str, str] = {
    psutil.STATUS_RUNNING: "R",
    psutil.STATUS_SLEEPING: "S",
    psutil.STATUS_DISK_SLEEP: "D",
    psutil.STATUS_ZOMBIE: "Z",
    psutil.STATUS_STOPPED: "T",
    psutil.STATUS_TRACING_STOP: "t",
    psutil.STATUS_DEAD: "X",
    psutil.STATUS_IDLE: "I",
    psutil.STATUS_PARKED: "P",
    psutil.STATUS_WAKING: "W",
}
"""psutil's state names → the one-letter states atop shows."""

# /proc/<pid>/stat fields after the command name (field 3 = index 0), see proc(5).
_MINFLT, _MAJFLT, _PRIORITY, _STARTTIME, _RSS, _RT_PRIORITY, _POLICY = 7, 9, 15, 19, 21, 37, 38


@dataclass
class ReadCounts:
    """What one reading of the process table could not read."""

    vanished: int = 0
    denied: int = 0


@dataclass
class Reading:
    """Every process of the host at one moment."""

    processes: dict[int, ProcReading] = field(default_factory=dict)
    counts: ReadCounts = field(default_factory=ReadCounts)


def mem_total_kib() -> float:
    """The host's physical memory."""
    return float(psutil.virtual_memory().total) / 1024


def _stat_fields(pid: int, proc: Path) -> list[str]:
    text = (proc / str(pid) / "stat").read_text()
    # The name is in parentheses and may itself hold spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


def thread_states(pid: int, proc: Path = PROC) -> ThreadStates:
    """Count the process's threads by state from ``/proc/<pid>/task``.

    As atop does, an idle kernel thread (``I``: an uninterruptible wait that adds no
    load) counts as sleeping uninterruptibly.
    """
    counts = {"R": 0, "S": 0, "D": 0, "I": 0}
    try:
        tasks = os.listdir(proc / str(pid) / "task")
    except FileNotFoundError:
        return ThreadStates()
    for tid in tasks:
        try:
            state = _stat_fields(int(tid), proc / str(pid) / "task")[0]
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue  # the thread ended while we read
        if state in counts:
            counts[state] += 1
    return ThreadStates(
        running=counts["R"], sleeping=counts["S"], uninterruptible=counts["D"] + counts["I"]
    )


def read_process(process: psutil.Process, proc: Path = PROC) -> ProcReading:
    """One process's reading.

    Raises:
        psutil.NoSuchProcess: it ended while being read.
        psutil.AccessDenied: its files cannot be read.
    """
    with process.oneshot():
        name = process.name()
        status = process.status()
        nice = process.nice()
        cpu = process.cpu_num()
        times = process.cpu_times()
        memory = process.memory_info()
        pid = process.pid
    try:
        stat = _stat_fields(pid, proc)
    except FileNotFoundError as exc:
        raise psutil.NoSuchProcess(pid) from exc
    except PermissionError as exc:
        raise psutil.AccessDenied(pid) from exc
    return ProcReading(
        pid=pid,
        start_ticks=int(stat[_STARTTIME]),
        name=name,
        state=STATES.get(status, "?"),
        policy=int(stat[_POLICY]),
        nice=nice,
        priority=int(stat[_PRIORITY]),
        rt_priority=int(stat[_RT_PRIORITY]),
        cpu=cpu,
        threads=thread_states(pid, proc),
        system_cpu_s=float(times.system),
        minflt=int(stat[_MINFLT]),
        majflt=int(stat[_MAJFLT]),
        vsize_kib=memory.vms / 1024,
        # atop's RSIZE is the kernel's fast resident count of /proc/<pid>/stat;
        # psutil's rss (statm) is summed differently and differs by up to ~300 K.
        rsize_kib=int(stat[_RSS]) * PAGE_KIB,
        text_kib=memory.text / 1024,
    )


def read_all(proc: Path = PROC, *, skip_pids: frozenset[int] = frozenset()) -> Reading:
    """Read every process of the host now.

    Args:
        proc: the proc file system (tests may point at another one for the /proc part).
        skip_pids: processes to leave out.
    """
    reading = Reading()
    for process in psutil.process_iter():  # yields Process objects, reads nothing yet
        if process.pid in skip_pids:
            continue
        try:
            reading.processes[process.pid] = read_process(process, proc)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, ProcessLookupError):
            reading.counts.vanished += 1
        except (psutil.AccessDenied, PermissionError):
            reading.counts.denied += 1
    return reading

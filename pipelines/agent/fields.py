"""atop's process and memory fields of one interval, from two readings of a host (pure).

The agent reads every process twice, one interval apart (:mod:`pipelines.agent.procfs`),
and turns the pair into the rows atop writes for that interval: one process row (SPEC
§2.1, ``Streaming_Linux_process.csv``) and one memory row (``Streaming_Linux_memory.csv``)
per process. docs/agent.md gives each field's source, unit and how it compares with atop.

Conventions of the reference data that the rows keep, so that models trained on it apply:

- sizes (VSTEXT, VSIZE, RSIZE, VGROW, RGROW) are atop's displayed number with its unit
  letter stripped (:func:`atop_size`): ``5668`` is 5668 K, ``184.3`` is 184.3 M, ``1.3``
  is 1.3 G;
- CMD is atop's 14-character name; a process that ended during the interval is
  ``<name>`` with the name cut to 12 characters, State ``E``, zeros for what only a
  running process has (POLI ``0``, PRI 0, sizes 0);
- Status is ``N`` for a process started during the interval, ``-`` otherwise; an ended
  process adds ``E`` (exited) or ``S`` (killed by a signal), e.g. ``NE``;
- MEM is the share of physical memory as a fraction with two decimals (0.01 = 1 %);
- CPU is the system CPU time the process used during the interval, in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

CMD_WIDTH: Final = 14
"""atop's name column: names longer than this are cut."""
ENDED_NAME_WIDTH: Final = CMD_WIDTH - 2
"""An ended process's name inside its angle brackets."""

POLICY_NAMES: Final[dict[int, str]] = {0: "norm", 1: "fifo", 2: "rr", 3: "btch", 5: "idle"}
"""Linux scheduling policy number (``/proc/<pid>/stat`` field 41) → atop's POLI text."""
ENDED_POLICY: Final = "0"
"""POLI of an ended process in the reference data."""
PRIORITY_OFFSET: Final = 100
"""atop's PRI is the kernel's priority field plus 100 (120 for nice 0)."""

KIB_MAX: Final = 99_999
"""Largest size atop shows in K; above it M, then G (one decimal)."""
MIB_MAX: Final = 999.9


def atop_size(kib: float) -> float | int:
    """A size as atop displays it, unit letter stripped (the reference data's VSIZE).

    Up to 99,999 K the number of KiB; then MiB with one decimal up to 999.9 M; then GiB
    with one decimal. Negative sizes (shrinking growth) keep their sign.

    >>> atop_size(5668), atop_size(188_723), atop_size(1_363_149)
    (5668, 184.3, 1.3)
    """
    sign = -1 if kib < 0 else 1
    kib = abs(kib)
    if kib <= KIB_MAX:
        return sign * round(kib)
    mib = kib / 1024
    if round(mib, 1) <= MIB_MAX:
        return sign * round(mib, 1)
    return sign * round(mib / 1024, 1)


@dataclass(frozen=True)
class ThreadStates:
    """How many of a process's threads were running (R), in interruptible (S) and in
    uninterruptible (D) sleep at the reading."""

    running: int = 0
    sleeping: int = 0
    uninterruptible: int = 0


@dataclass(frozen=True)
class ProcReading:
    """One process as read at one moment (cumulative counters since it started).

    Attributes:
        pid: process id.
        start_ticks: start time in clock ticks after boot (tells a reused PID apart).
        name: the kernel's command name (``comm``, at most 15 characters).
        state: one-letter state (R, S, D, Z, T, I, …).
        policy: scheduling policy number.
        nice: nice value (-20..19).
        priority: the kernel's priority field (20 for nice 0).
        rt_priority: realtime priority (0 for normal processes).
        cpu: CPU the process last ran on.
        threads: thread states.
        system_cpu_s: system CPU time used since it started, seconds.
        minflt: minor page faults since it started.
        majflt: major page faults since it started.
        vsize_kib: virtual size.
        rsize_kib: resident size.
        text_kib: size of its executable text.
    """

    pid: int
    start_ticks: int
    name: str
    state: str
    policy: int
    nice: int
    priority: int
    rt_priority: int
    cpu: int
    threads: ThreadStates
    system_cpu_s: float
    minflt: int
    majflt: int
    vsize_kib: float
    rsize_kib: float
    text_kib: float


@dataclass(frozen=True)
class ExitStatus:
    """How an ended process ended: exit code, or the signal that killed it."""

    code: int = 0
    signal: int = 0

    @classmethod
    def from_wait_status(cls, status: int) -> ExitStatus:
        """From a wait(2) status word (what the kernel reports at exit)."""
        if status & 0x7F:
            return cls(signal=status & 0x7F)
        return cls(code=(status >> 8) & 0xFF)

    @property
    def exc(self) -> int:
        """atop's EXC: the exit code, or the signal number for a killed process."""
        return self.signal or self.code


Row = dict[str, Any]


def _cmd(name: str) -> str:
    return name[:CMD_WIDTH]


def _ended_cmd(name: str) -> str:
    return f"<{name[:ENDED_NAME_WIDTH]}>"


def _is_same_process(before: ProcReading | None, now: ProcReading) -> bool:
    return before is not None and before.start_ticks == now.start_ticks


def live_rows(
    before: ProcReading | None, now: ProcReading, *, mem_total_kib: float
) -> tuple[Row, Row]:
    """The process and memory row of a process alive at the end of the interval.

    Args:
        before: the same PID at the start of the interval; None (or another process
            that had the PID) when it started during the interval.
        now: the process at the end of the interval.
        mem_total_kib: the host's physical memory.

    Returns:
        (process row, memory row), SPEC §2.1 columns from PID on.
    """
    new = not _is_same_process(before, now)
    base = None if new else before
    cpu_s = now.system_cpu_s - (base.system_cpu_s if base else 0.0)
    vgrow = now.vsize_kib - (base.vsize_kib if base else 0.0)
    rgrow = now.rsize_kib - (base.rsize_kib if base else 0.0)
    process: Row = {
        "PID": now.pid,
        "TRUN": now.threads.running,
        "TSLPI": now.threads.sleeping,
        "TSLPU": now.threads.uninterruptible,
        "POLI": POLICY_NAMES.get(now.policy, str(now.policy)),
        "NICE": now.nice,
        "PRI": now.priority + PRIORITY_OFFSET,
        "RTPR": now.rt_priority,
        "CPUNR": now.cpu,
        "Status": "N" if new else "-",
        "EXC": 0,
        "State": now.state,
        "CPU": round(max(cpu_s, 0.0), 2),
        "CMD": _cmd(now.name),
    }
    memory: Row = {
        "PID": now.pid,
        "MINFLT": max(now.minflt - (base.minflt if base else 0), 0),
        "MAJFLT": max(now.majflt - (base.majflt if base else 0), 0),
        "VSTEXT": atop_size(now.text_kib),
        "VSIZE": atop_size(now.vsize_kib),
        "RSIZE": atop_size(now.rsize_kib),
        "VGROW": atop_size(vgrow),
        "RGROW": atop_size(rgrow),
        "MEM": round(now.rsize_kib / mem_total_kib, 2) if mem_total_kib > 0 else 0.0,
        "CMD": _cmd(now.name),
    }
    return process, memory


def ended_rows(before: ProcReading, exit_status: ExitStatus | None) -> tuple[Row, Row]:
    """The process and memory row of a process that ended during the interval.

    Args:
        before: the process at the start of the interval (its last reading).
        exit_status: how it ended, when the agent heard (None: unknown, EXC 0, ``E``).

    Returns:
        (process row, memory row): what the reference data shows for a finished
        process, ``<name>``, State ``E``, and zeros where only a running process has a
        value.
    """
    status = exit_status or ExitStatus()
    process: Row = {
        "PID": before.pid,
        "TRUN": 0,
        "TSLPI": 0,
        "TSLPU": 0,
        "POLI": ENDED_POLICY,
        "NICE": 0,
        "PRI": 0,
        "RTPR": 0,
        "CPUNR": 0,
        "Status": "S" if status.signal else "E",
        "EXC": status.exc,
        "State": "E",
        "CPU": 0.0,
        "CMD": _ended_cmd(before.name),
    }
    memory: Row = {
        "PID": before.pid,
        "MINFLT": 0,
        "MAJFLT": 0,
        "VSTEXT": 0,
        "VSIZE": 0,
        "RSIZE": 0,
        "VGROW": 0,
        "RGROW": 0,
        "MEM": 0.0,
        "CMD": _ended_cmd(before.name),
    }
    return process, memory


def interval_rows(
    before: Mapping[int, ProcReading],
    now: Mapping[int, ProcReading],
    exits: Mapping[int, ExitStatus],
    *,
    mem_total_kib: float,
) -> tuple[list[Row], list[Row]]:
    """Every process row and memory row of one interval, ordered by PID.

    A process of ``before`` missing from ``now`` (or whose PID now belongs to a process
    started later) ended during the interval; ``exits`` says how, where known.

    Args:
        before: readings at the start of the interval, by PID.
        now: readings at its end, by PID.
        exits: PID → exit status heard during the interval.
        mem_total_kib: the host's physical memory.

    Returns:
        (process rows, memory rows), one each per process; ended processes first.
    """
    process_rows: list[Row] = []
    memory_rows: list[Row] = []
    for pid in sorted(before):
        old = before[pid]
        current = now.get(pid)
        if current is None or not _is_same_process(old, current):
            p, m = ended_rows(old, exits.get(pid))
            process_rows.append(p)
            memory_rows.append(m)
    for pid in sorted(now):
        p, m = live_rows(before.get(pid), now[pid], mem_total_kib=mem_total_kib)
        process_rows.append(p)
        memory_rows.append(m)
    return process_rows, memory_rows

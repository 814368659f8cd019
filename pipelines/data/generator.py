"""Synthetic TON_IoT Linux telemetry: streaming files, ground truth and labelled files.

The generator simulates each host as a sequence of atop snapshots. A snapshot lists the
processes that were active in the interval, once in the process view (sorted by CPU, as
atop does) and once in the memory view (sorted by resident size). Long-running daemons keep
their PID for the whole capture, atop's own instances are always there, apache workers,
DHCP helpers, shells and kernel workers come and go, and a process that exits shows once as
``<name>``. Attacks (:mod:`pipelines.data.attacks`) start processes or take over daemons
for a while; their rows are the ground truth.

Both views of one snapshot come from the same processes, and the memory view gets
7/8 as many rows as the process view: the producers replay ~30 process rows per 5 s and
~52.5 memory rows (50 sent + 2.5 held back) per 10 s (SPEC §3), so row *i* of the process
file and row *7i/8* of the memory file are sent at about the same time, and an attacking
process's rows in the two streams stay within the detector's 30 s correlation window
(SPEC §5 step 7b).

How much the two views of a host overlap follows the real sample once its hosts are paired
(its two files number them differently, see :mod:`pipelines.data.compare`): on a real host
about four in five (CMD, PID) keys are in both logs, 62 % pooled over the sample's three
paired hosts. A short-lived process is busy enough for atop to list it, or not, in both
views at once, and a finished one shows in both or in the process view alone (one draw
each; :data:`~pipelines.data.programs.SPAWNED_VISIBLE_P`, the spawners' finished chances).
Daemons start at the PIDs the real hosts give them (the same boot order on every host,
:data:`~pipelines.data.programs.BOOT_PIDS`), atop's instances at consecutive PIDs.

Attack programs are placed as TON_IoT's show up: an attack runs on the victim host for a
time window, through processes it starts (apache2 workers, sh, dhclient …) or daemons it
takes over (sshd, named, mysqld …); each attacking process has one PID, so it shows in both
views of its host under the same (CMD, PID), which is what the 7b correlation pairs.
Scanning and xss leave no mark on memory (the memory file has no rows of those types,
SPEC §2.2), so their processes show in the process view only.

A process's memory rows after its first show the small growth atop reports between two
samples (VGROW/RGROW ≠ 0 on 9 % of them in the real sample, mostly atop, compiz,
hud-service and apache2; :data:`~pipelines.data.programs.GROWTH_P`).

Pure Python + numpy; deterministic for a seed; files are written at the edge
(:func:`generate`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from tqdm import tqdm

from pipelines.config import CycleSettings, ReplaySettings
from pipelines.data.attacks import ATTACKS, AttackProfile
from pipelines.data.programs import (
    ATOP,
    ATOP_FIRST_PIDS,
    ATOP_INSTANCES,
    BOOT_PID_JITTER,
    BOOT_PIDS,
    DAEMONS,
    FINISHED_NAME_CHARS,
    FIRST_SPAWNED_PID,
    FIRST_SPAWNED_PID_BY_HOST,
    GROWTH_MEDIAN_K,
    GROWTH_P,
    GROWTH_P_OTHER,
    GROWTH_SIGMA,
    GROWTH_ZERO_P,
    HELPERS,
    KWORKER_NAMES,
    KWORKER_Q_MEMORY,
    KWORKER_Q_PROCESS,
    KWORKER_REPLACE_P,
    KWORKERS_ALIVE,
    PID_BANDS,
    SPAWNED_VISIBLE_P,
    SPAWNERS,
    Program,
    Spawner,
)
from pipelines.schema.columns import (
    GROUND_TRUTH_COLUMNS,
    LABELLED_COLUMNS,
    MEMORY_COLUMNS,
    NORMAL,
    PROCESS_COLUMNS,
    STREAMING_FILE_NAMES,
    Stream,
)

DEFAULT_SEED: Final = 7
DEFAULT_MACHINES: Final[tuple[int, ...]] = (4, 5, 6, 7, 8)

# A row holds the CSV columns from PID on (sequence and machine are added when written).
PROCESS_CPU_AT: Final = PROCESS_COLUMNS[2:].index("CPU")
MEMORY_RSIZE_AT: Final = MEMORY_COLUMNS[2:].index("RSIZE")


def replay_rows_per_s(cycle: CycleSettings) -> float:
    """Mean rows per second a producer takes from one machine's file (SPEC §3): the mean
    X plus the mean Y of held-back rows (they advance the cursor too), per cycle period."""
    rows = (cycle.rows_min + cycle.rows_max) / 2 + (cycle.late_rows_min + cycle.late_rows_max) / 2
    return rows / cycle.cycle_period_s


PROCESS_ROWS_PER_S: Final = replay_rows_per_s(ReplaySettings().process)
"""Default process replay: 10..50 rows every 5 s, 6 rows/s."""
MEMORY_ROWS_PER_S: Final = replay_rows_per_s(ReplaySettings().memory)
"""Default memory replay: 20..80 rows plus 0..5 held-back rows every 10 s, 5.25 rows/s."""
MEMORY_ROWS_PER_PROCESS_ROW: Final = MEMORY_ROWS_PER_S / PROCESS_ROWS_PER_S
"""Memory rows per process row of one snapshot, so both streams replay in step."""

SNAPSHOT_S: Final = 4
"""Seconds between two atop snapshots (the ``ts`` step of the labelled files)."""
LABELLED_TS_START: Final = 1_556_236_800
"""2019-04-26 00:00 UTC, inside the TON_IoT capture period."""

DEFAULT_PROCESS_ROWS: Final = 7400
"""Process rows of a full-length host (the reference hosts have 7k or more)."""
MACHINE_LENGTH: Final[dict[int, float]] = {4: 0.92, 5: 1.0, 6: 0.195, 7: 0.91, 8: 0.98}
"""Each host's process-row count relative to the longest; machine 6 (1,444 of ~7.4k rows in
the reference data) is much shorter, so a replay wraps it around first."""

TYPICAL_MACHINE: Final = 5
"""The reference host other machine ids imitate."""

STREAMING_ATTACK_SHARE: Final[dict[Stream, float]] = {"process": 0.10, "memory": 0.07}
"""Share of attack rows in the streaming files (ground truth in the side files)."""
LABELLED_ATTACK_SHARE: Final[dict[Stream, float]] = {"process": 0.15, "memory": 0.10}
"""Share of attack rows in the labelled files (SPEC §2.2: ≈15 % and ≈10 %)."""
DEFAULT_LABELLED_ROWS: Final = 20_000
"""Rows of the labelled process file (the memory file gets 7/8 as many)."""

EPISODE_SNAPSHOTS: Final = (6, 16)
"""An attack lasts 24–64 s: long enough to be seen by both views within 30 s."""
EPISODE_START_P: Final = 0.4
"""Chance per quiet snapshot to start an attack while the attack share is below target."""
COLLATERAL_P: Final = 0.18
"""Share of the other processes' rows labelled attack while an attack runs: TON_IoT labels
rows by attack time windows, so every process busy on the host during an attack counts (and
the load shows on some of them: the attack's signature applies to these rows too)."""
MEMORY_COLLATERAL_FACTOR: Final = 4.0
"""The memory view labels more of the other rows (×4) while below its target share: fewer
attack types show in it (no scanning, xss) and it has fewer rows per snapshot."""
ATTACK_TURN_STRIDE: Final = 3
"""How many attack types apart consecutive hosts start their turn of attack types."""
ATTACK_Q_PROCESS: Final = 0.85
"""Chance an attacking process shows in a process-view snapshot (it is busy)."""
ATTACK_Q_MEMORY: Final = (0.9, 0.3)
"""Memory-view inclusion of an attacking process: below / above the memory target share."""

LABELLED_QUIRK_P: Final = 0.004
"""Share of labelled rows carrying an atop quirk (K/M suffix or ``-`` placeholder)."""
PLACEHOLDER_FIELDS: Final[dict[Stream, tuple[str, ...]]] = {
    "process": ("TSLPU", "RTPR", "EXC", "CPUNR"),
    "memory": ("MAJFLT", "VSTEXT", "MINFLT"),
}
SUFFIX_FIELDS: Final[tuple[str, ...]] = ("RSIZE", "MINFLT", "VGROW", "RGROW")
"""Memory fields atop may print with a K/M suffix (VSIZE is already unit-stripped)."""

FINISHED_STATUS: Final[tuple[str, ...]] = ("NE", "-")
FINISHED_STATUS_P: Final[tuple[float, ...]] = (0.7, 0.3)
"""Status of a ``<cmd>`` row: new-and-exited in the interval, or exited."""

Row = list[object]


@dataclass(frozen=True)
class GeneratedFiles:
    """Paths of one generated data set (all in one folder)."""

    folder: Path
    process: Path
    memory: Path
    process_labels: Path
    memory_labels: Path
    labelled_process: Path
    labelled_memory: Path

    def streaming(self, stream: Stream) -> Path:
        """The streaming file of ``stream``."""
        return self.process if stream == "process" else self.memory

    def labels(self, stream: Stream) -> Path:
        """The ground-truth side file of ``stream``'s streaming file."""
        return self.process_labels if stream == "process" else self.memory_labels

    def labelled(self, stream: Stream) -> Path:
        """The labelled (TON_IoT layout) training file of ``stream``."""
        return self.labelled_process if stream == "process" else self.labelled_memory


LABELLED_FILE_NAMES: Final[dict[Stream, str]] = {
    "process": "Processed_Linux_process.csv",
    "memory": "Processed_Linux_memory.csv",
}


def label_file_name(stream: Stream) -> str:
    """``Streaming_Linux_process.labels.csv`` for ``process``, likewise for ``memory``."""
    return STREAMING_FILE_NAMES[stream].replace(".csv", ".labels.csv")


def files_in(folder: Path) -> GeneratedFiles:
    """The paths a generated data set has (or will have) in ``folder``."""
    return GeneratedFiles(
        folder=folder,
        process=folder / STREAMING_FILE_NAMES["process"],
        memory=folder / STREAMING_FILE_NAMES["memory"],
        process_labels=folder / label_file_name("process"),
        memory_labels=folder / label_file_name("memory"),
        labelled_process=folder / LABELLED_FILE_NAMES["process"],
        labelled_memory=folder / LABELLED_FILE_NAMES["memory"],
    )


# -- simulation state -----------------------------------------------------------------
@dataclass
class _Process:
    pid: int
    cmd: str
    program: Program
    q_process: float
    q_memory: float
    tslpi: int
    vsize: float
    rsize: int
    dies: int | None = None  # snapshot at which it exits (shows as <cmd>), None: never
    spawned: bool = False  # started during the capture (Status N on its first row)
    seen_process: bool = False
    seen_memory: bool = False
    attack: AttackProfile | None = None
    p_finished: tuple[float, float] = (0.0, 0.0)  # process view, memory view
    exit_code: int = 0
    finished_minflt: int = 0
    companion: str | None = None


@dataclass
class _Episode:
    profile: AttackProfile
    ends: int
    slots: int
    members: list[_Process] = field(default_factory=list)
    hijacked: list[_Process] = field(default_factory=list)


@dataclass
class HostRows:
    """Rows of one simulated host (without sequence/machine), per view, with their ground
    truth ``(attack, type)`` and the index of the snapshot each row belongs to."""

    process: list[Row] = field(default_factory=list)
    memory: list[Row] = field(default_factory=list)
    process_truth: list[tuple[int, str]] = field(default_factory=list)
    memory_truth: list[tuple[int, str]] = field(default_factory=list)
    process_snapshot: list[int] = field(default_factory=list)
    memory_snapshot: list[int] = field(default_factory=list)


def _finished_name(cmd: str) -> str:
    return f"<{cmd[:FINISHED_NAME_CHARS]}>"


def _number(value: float) -> float | int:
    """An integral float as int (atop prints ``29840``, not ``29840.0``, in VGROW)."""
    return int(value) if float(value).is_integer() else value


class _Host:
    """One simulated machine: its processes, its attacks, its two views per snapshot."""

    def __init__(
        self,
        machine: int,
        rng: np.random.Generator,
        attack_share: dict[Stream, float],
        first_attack: int,
    ) -> None:
        self.machine = machine
        # Hosts other than the reference ones (4–8) run what machine 5 runs.
        self.reference_host = machine if machine in MACHINE_LENGTH else TYPICAL_MACHINE
        self.rng = rng
        self.attack_share = attack_share
        first_pid = FIRST_SPAWNED_PID_BY_HOST.get(self.reference_host, FIRST_SPAWNED_PID)
        self.next_pid = first_pid + int(rng.integers(0, 300))
        self.snapshot = 0
        self.processes: list[_Process] = []
        self.episode: _Episode | None = None
        order = sorted(ATTACKS)
        start = first_attack % len(order)
        self.attack_order = order[start:] + order[:start]
        self.attacks_started = 0
        self.rows = {"process": 0, "memory": 0}
        self.attack_rows = {"process": 0, "memory": 0}
        self._boot()

    # -- roster ---------------------------------------------------------------------
    def _boot(self) -> None:
        used: set[int] = set()
        roster: list[tuple[Program, int]] = [(ATOP, ATOP_INSTANCES[self.reference_host])]
        roster += [
            (program, program.instances)
            for program in DAEMONS
            if program.machines is None or self.reference_host in program.machines
        ]
        for program, instances in roster:
            low, high = PID_BANDS[program.band]
            anchors = BOOT_PIDS.get(program.cmd, ())
            for index in range(instances):
                if program is ATOP:
                    starts = ATOP_FIRST_PIDS[self.reference_host]
                    pid = starts[index % len(starts)] + index // len(starts)
                elif index < len(anchors):
                    jitter = int(self.rng.integers(-BOOT_PID_JITTER, BOOT_PID_JITTER + 1))
                    pid = anchors[index] + jitter
                else:
                    pid = int(self.rng.integers(low, high))
                while pid in used:
                    pid += 1
                used.add(pid)
                self.processes.append(
                    self._new(program, program.cmd, pid, program.q_process, program.q_memory)
                )
        for _ in range(KWORKERS_ALIVE):
            self._start_kworker(spawned=False)

    def _new(
        self, program: Program, cmd: str, pid: int, q_process: float, q_memory: float
    ) -> _Process:
        rng = self.rng
        rsize = program.rsize
        if rsize:
            rsize = max(1, int(rsize * rng.uniform(0.85, 1.15)) // 4 * 4)  # pages of 4 K
        return _Process(
            pid=pid,
            cmd=cmd,
            program=program,
            q_process=q_process,
            q_memory=q_memory,
            tslpi=int(rng.choice(program.tslpi)),
            vsize=float(rng.choice(program.vsize)),
            rsize=rsize,
        )

    def _growth(self, index: int) -> int:
        """VGROW (index 0) or RGROW (1) of a growing row, K."""
        if self.rng.random() < GROWTH_ZERO_P[index]:
            return 0
        size = GROWTH_MEDIAN_K * math.exp(self.rng.normal(0.0, GROWTH_SIGMA))
        return 4 * max(1, round(size / 4))  # whole pages of 4 K

    def _spawn_pid(self) -> int:
        self.next_pid += int(self.rng.integers(1, 3))
        return self.next_pid

    def _start_kworker(self, *, spawned: bool) -> None:
        name = str(self.rng.choice(KWORKER_NAMES))
        kernel = Program(name, "kernel", 1, 0, 0, (1,), 0.03, 0.9, 0.01, 0, (0.0,), 0, 1.0, 1)
        low, high = PID_BANDS["kernel"]
        pid = self._spawn_pid() if spawned else int(self.rng.integers(low, high))
        process = self._new(kernel, name, pid, KWORKER_Q_PROCESS, KWORKER_Q_MEMORY)
        process.spawned = spawned
        self.processes.append(process)

    def _lifetime(self, mean: float) -> int:
        return int(self.rng.geometric(1.0 / max(mean, 1.0)))

    def _spawn(self, spawner: Spawner) -> None:
        rate = spawner.rate.get(self.reference_host, 0.0)
        if rate <= 0:
            return
        starts = int(self.rng.poisson(rate)) if rate >= 1 else int(self.rng.random() < rate)
        for _ in range(starts):
            for _ in range(int(self.rng.integers(spawner.burst[0], spawner.burst[1] + 1))):
                process = self._new(
                    spawner.profile,
                    spawner.cmd,
                    self._spawn_pid(),
                    spawner.q_process,
                    spawner.q_memory,
                )
                process.spawned = True
                # One draw for both views: a process busy enough for atop to list it in one
                # view is listed in the other too (on the real sample's paired hosts 97 % of
                # the apache2 keys are in both logs).
                if self.rng.random() >= SPAWNED_VISIBLE_P:
                    process.q_process = 0.0
                    process.q_memory = 0.0
                process.dies = self.snapshot + self._lifetime(spawner.lifetime)
                process.p_finished = (spawner.p_finished_process, spawner.p_finished_memory)
                process.exit_code = spawner.exit_code
                process.finished_minflt = spawner.finished_minflt
                process.companion = spawner.companion
                self.processes.append(process)

    # -- attacks --------------------------------------------------------------------
    def _below_target(self, stream: Stream, margin: float = 1.0) -> bool:
        target = self.attack_share[stream] * margin
        return self.attack_rows[stream] < target * max(self.rows[stream], 1)

    def _attack_step(self) -> None:
        rng = self.rng
        episode = self.episode
        if episode is not None and self.snapshot >= episode.ends:
            for process in episode.members:
                if process.dies is None or process.dies > self.snapshot:
                    process.dies = self.snapshot
            for process in episode.hijacked:
                process.attack = None
            self.episode = episode = None
        if episode is None:
            # An attack, once started, runs to its end: start the next one a little below
            # the process target so that the last one's overshoot lands near it; the memory
            # view (fewer attack types, fewer rows) may ask for one when far below its own.
            if self.attack_share["process"] <= 0:
                return
            if not (self._below_target("process", 0.85) or self._below_target("memory", 0.6)):
                return
            if rng.random() >= EPISODE_START_P:
                return
            # Types take turns, each host starting elsewhere in the turn (see generate).
            profile = ATTACKS[self.attack_order[self.attacks_started % len(ATTACKS)]]
            self.attacks_started += 1
            episode = _Episode(
                profile=profile,
                ends=self.snapshot + int(rng.integers(*EPISODE_SNAPSHOTS)),
                slots=int(rng.integers(profile.processes[0], profile.processes[1] + 1)),
            )
            candidates = [p for p in self.processes if p.cmd in profile.hijack and p.attack is None]
            if candidates:
                chosen = candidates[int(rng.integers(len(candidates)))]
                chosen.attack = profile
                episode.hijacked.append(chosen)
            self.episode = episode
        alive = [
            p for p in episode.members if p.dies is None or p.dies > self.snapshot
        ] + episode.hijacked
        profile = episode.profile
        for _ in range(max(0, episode.slots - len(alive))):
            program = profile.spawn[int(rng.integers(len(profile.spawn)))]
            process = self._new(program, program.cmd, self._spawn_pid(), 0.0, 0.0)
            process.spawned = True
            process.attack = profile
            process.dies = min(episode.ends, self.snapshot + self._lifetime(profile.lifetime))
            process.p_finished = (profile.p_finished, profile.p_finished * 0.7)
            process.exit_code = profile.exit_code
            process.finished_minflt = int(program.minflt_median * 1.5) + 1
            episode.members.append(process)
            self.processes.append(process)

    # -- rows -----------------------------------------------------------------------
    def _cpu(self, p_zero: float, median: float) -> float:
        if self.rng.random() < p_zero:
            return 0.0
        return round(max(0.01, median * math.exp(self.rng.normal(0.0, 0.8))), 2)

    def _process_row(self, process: _Process, attack: AttackProfile | None) -> Row:
        rng = self.rng
        program = process.program
        tslpi = process.tslpi
        if rng.random() < 0.05:
            tslpi = max(0, tslpi + int(rng.choice((-1, 1))))
        state, trun, tslpu = "S", 0, 0
        p_running = program.p_running
        if attack is not None and rng.random() < attack.running:
            p_running = 1.0
        if attack is not None and rng.random() < attack.extra_threads:
            tslpi += int(rng.integers(1, 5))
        if rng.random() < p_running:
            state, trun = "R", 1 + int(rng.random() < 0.08)
            tslpi = max(0, tslpi - trun)
        elif rng.random() < program.p_busy_threads:
            trun = 1
        if rng.random() < 0.0025:  # waiting on I/O: uninterruptible sleep
            state, tslpu = "D", 1
        cpu = self._cpu(program.p_cpu_zero, program.cpu_median)
        if attack is not None and rng.random() < attack.cpu[0]:
            cpu = self._cpu(0.0, attack.cpu[1])
        if cpu < 0.995 and rng.random() < 0.006:  # atop's rounding of a whole tick
            cpu = 1.0
        cpunr = (
            int(process.cmd[8])
            if process.cmd.startswith("kworker/") and process.cmd[8].isdigit()
            else int(rng.integers(0, 4))
        )
        first = not process.seen_process
        process.seen_process = True
        # Machine 4's atop did not record the status column: "-" on every live row.
        status = "-" if self.reference_host == 4 else "N" if first and process.spawned else "0"
        pri = program.pri
        nice = abs(pri - 120)  # as written in the files: the sign is lost
        return [
            process.pid, trun, tslpi, tslpu, "norm", nice, pri, 0, cpunr,
            status, 0, state, cpu, process.cmd,
        ]  # fmt: skip

    def _memory_row(self, process: _Process, attack: AttackProfile | None) -> Row:
        rng = self.rng
        program = process.program
        first = not process.seen_memory
        process.seen_memory = True
        if rng.random() < program.p_minflt_zero and not (first and process.spawned):
            minflt = 0
        else:
            minflt = max(1, round(program.minflt_median * math.exp(rng.normal(0.0, 0.5))))
        majflt = int(rng.integers(1, 9)) if rng.random() < 0.003 else 0
        rsize = process.rsize
        mem = program.mem
        if attack is not None:
            if rng.random() < attack.minflt[0]:
                minflt = max(1, round(attack.minflt[1] * math.exp(rng.normal(0.0, 0.6))))
            if rsize and rng.random() < attack.rsize[0]:
                rsize = int(rsize * attack.rsize[1] * rng.uniform(0.8, 1.25)) // 4 * 4
                mem = min(0.03, round(mem + 0.01, 2))
            if rng.random() < attack.majflt:
                majflt = int(rng.integers(1, 25))
        elif rsize and rng.random() < 0.1:  # pages come and go a little
            rsize = process.rsize + 4 * int(rng.integers(-3, 4))
        vgrow: float | int = 0
        rgrow = 0
        if first:
            # atop counts the whole size as growth the first time it sees a process.
            vgrow, rgrow = _number(process.vsize), rsize
        elif rng.random() < GROWTH_P.get(process.cmd, GROWTH_P_OTHER):
            # What the process grew by since the previous sample. Its sizes stay as they
            # are: added up, the growth drifted VSIZE and RSIZE away from the real sample
            # (KS 0.11), whose processes grow by a few pages in its twenty minutes.
            vgrow, rgrow = self._growth(0), self._growth(1)
        return [
            process.pid, minflt, majflt, program.vstext, process.vsize, rsize,
            vgrow, rgrow, mem, process.cmd,
        ]  # fmt: skip

    def _finished_rows(self, process: _Process) -> tuple[list[Row], list[Row]]:
        rng = self.rng
        process_rows: list[Row] = []
        memory_rows: list[Row] = []
        names = [process.cmd] + ([process.companion] if process.companion else [])
        for index, name in enumerate(names):
            pid = process.pid + index
            cmd = _finished_name(name)
            # One draw for both views: a finished process shows in both logs, or in the one
            # with the higher chance alone (real paired hosts: 72 % of finished keys in both,
            # 23 % in the process log alone, 5 % in the memory log alone).
            shown = rng.random()
            if shown < process.p_finished[0]:
                exit_code = process.exit_code if rng.random() < 0.5 else 0
                if exit_code == 15:
                    status = "NS"  # killed by a signal
                else:
                    status = str(rng.choice(FINISHED_STATUS, p=FINISHED_STATUS_P))
                cpu = 0.0 if rng.random() < 0.9 else round(float(rng.uniform(0.01, 0.03)), 2)
                process_rows.append(
                    [pid, 0, 0, 0, "0", 0, 0, 0, 0, status, exit_code, "E", cpu, cmd]
                )
            if shown < process.p_finished[1]:
                minflt = max(0, round(process.finished_minflt * rng.uniform(0.6, 1.4)))
                if rng.random() < 0.2:
                    minflt = 0
                memory_rows.append([pid, minflt, 0, 0, 0.0, 0, 0, 0, 0.0, cmd])
        return process_rows, memory_rows

    def step(self) -> tuple[list[Row], list[Row], list[str], list[str]]:
        """Advance one snapshot; return its process rows, memory rows and their types."""
        rng = self.rng
        for spawner in (*SPAWNERS, *HELPERS):
            self._spawn(spawner)
        if rng.random() < KWORKER_REPLACE_P:
            kworkers = [
                p for p in self.processes if p.cmd.startswith("kworker/") and p.dies is None
            ]
            if kworkers:
                kworkers[int(rng.integers(len(kworkers)))].dies = self.snapshot
                self._start_kworker(spawned=True)
        self._attack_step()

        alive: list[_Process] = []
        exiting: list[_Process] = []
        for process in self.processes:
            if process.dies is not None and process.dies <= self.snapshot:
                exiting.append(process)
            else:
                alive.append(process)

        process_rows: list[tuple[Row, str]] = []
        memory_rows: list[tuple[Row, str]] = []
        memory_attackers: list[_Process] = []
        memory_pool: list[_Process] = []
        episode = self.episode.profile if self.episode else None
        for process in alive:
            attack = process.attack
            q_process = ATTACK_Q_PROCESS if attack else process.q_process
            if rng.random() < q_process:
                if attack is None and episode is not None and rng.random() < COLLATERAL_P:
                    attack = episode
                kind = attack.type if attack else NORMAL
                process_rows.append((self._process_row(process, attack), kind))
            if process.attack is not None:
                if process.attack.in_memory:
                    memory_attackers.append(process)
            elif process.q_memory > 0:
                memory_pool.append(process)
        finished_memory: list[tuple[Row, str]] = []
        for process in exiting:
            kind = process.attack.type if process.attack else NORMAL
            rows_p, rows_m = self._finished_rows(process)
            process_rows += [(row, kind) for row in rows_p]
            if process.attack is None or process.attack.in_memory:
                finished_memory += [(row, kind) for row in rows_m]

        wanted = len(process_rows) * MEMORY_ROWS_PER_PROCESS_ROW
        budget = int(wanted) + int(rng.random() < wanted - int(wanted))
        q_attack = ATTACK_Q_MEMORY[0] if self._below_target("memory") else ATTACK_Q_MEMORY[1]
        for process in memory_attackers:
            if len(memory_rows) < budget and rng.random() < q_attack:
                attack = process.attack
                assert attack is not None
                memory_rows.append((self._memory_row(process, attack), attack.type))
        for row in finished_memory:
            if len(memory_rows) < budget:
                memory_rows.append(row)
        room = budget - len(memory_rows)
        if room > 0 and memory_pool:
            weights = np.array([p.q_memory for p in memory_pool])
            picked = rng.choice(
                len(memory_pool),
                size=min(room, len(memory_pool)),
                replace=False,
                p=weights / weights.sum(),
            )
            collateral = (
                episode is not None
                and episode.in_memory
                and rng.random() < (1.0 if self._below_target("memory") else 0.2)
            )
            for index in sorted(int(i) for i in picked):
                affected = collateral and rng.random() < COLLATERAL_P * MEMORY_COLLATERAL_FACTOR
                attack = episode if affected else None
                kind = attack.type if attack else NORMAL
                memory_rows.append((self._memory_row(memory_pool[index], attack), kind))

        # atop sorts the process view by CPU and the memory view by resident size.
        process_rows.sort(key=lambda item: -float(item[0][PROCESS_CPU_AT]))  # type: ignore[arg-type]
        memory_rows.sort(key=lambda item: -float(item[0][MEMORY_RSIZE_AT]))  # type: ignore[arg-type]
        self.processes = alive
        self.snapshot += 1
        for stream, rows in (("process", process_rows), ("memory", memory_rows)):
            self.rows[stream] += len(rows)
            self.attack_rows[stream] += sum(kind != NORMAL for _, kind in rows)
        return (
            [row for row, _ in process_rows],
            [row for row, _ in memory_rows],
            [kind for _, kind in process_rows],
            [kind for _, kind in memory_rows],
        )


def simulate_host(
    machine: int,
    process_rows: int,
    *,
    rng: np.random.Generator,
    attack_share: dict[Stream, float],
    first_attack: int = 0,
    progress: tqdm | None = None,
) -> HostRows:
    """Simulate one host until its process view has ``process_rows`` rows.

    Args:
        machine: the machine id (4–8 behave like the reference hosts; others like 5).
        process_rows: rows of the process view to produce; the memory view gets about
            7/8 as many (:data:`MEMORY_ROWS_PER_PROCESS_ROW`), cut at the same snapshot.
        rng: the host's random generator (the only source of randomness).
        attack_share: target share of attack rows per stream (0 disables attacks).
        first_attack: index (in alphabetical order of the types) of the host's first
            attack type; the types then take turns.
        progress: a tqdm bar advanced by the process rows made, if any.

    Returns:
        The rows (without sequence/machine) with their attack type and snapshot index.
    """
    host = _Host(machine, rng, attack_share, first_attack)
    out = HostRows()
    while len(out.process) < process_rows:
        rows_p, rows_m, kinds_p, kinds_m = host.step()
        keep = min(len(rows_p), process_rows - len(out.process))
        if keep < len(rows_p):  # last snapshot: cut both views at the same point
            cut_memory = round(len(rows_m) * keep / max(len(rows_p), 1))
            rows_p, kinds_p = rows_p[:keep], kinds_p[:keep]
            rows_m, kinds_m = rows_m[:cut_memory], kinds_m[:cut_memory]
        out.process += rows_p
        out.memory += rows_m
        out.process_truth += [(int(kind != NORMAL), kind) for kind in kinds_p]
        out.memory_truth += [(int(kind != NORMAL), kind) for kind in kinds_m]
        out.process_snapshot += [host.snapshot - 1] * len(rows_p)
        out.memory_snapshot += [host.snapshot - 1] * len(rows_m)
        if progress is not None:
            progress.update(len(rows_p))
    return out


# -- files ------------------------------------------------------------------------------
def _host_rng(seed: int, machine: int, purpose: int) -> np.random.Generator:
    # One independent stream per (seed, purpose, machine): adding a machine does not change
    # the rows of the others, and the labelled files (purpose 1) do not repeat the
    # streaming rows (purpose 0).
    return np.random.default_rng(np.random.SeedSequence([seed, purpose, machine]))


def machine_rows(machines: Sequence[int], rows_per_machine: int | None) -> dict[int, int]:
    """Process rows per machine: the full length scaled by each host's relative length."""
    full = rows_per_machine or DEFAULT_PROCESS_ROWS
    return {m: max(10, round(full * MACHINE_LENGTH.get(m, 1.0))) for m in machines}


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)  # readers never see a half-written file


def _quirk(row: Row, stream: Stream, rng: np.random.Generator) -> Row:
    """One atop quirk of the labelled TON_IoT files: a K/M suffix or a ``-`` placeholder."""
    columns = LABELLED_COLUMNS[stream]
    row = list(row)
    if stream == "memory":
        large = [c for c in SUFFIX_FIELDS if float(row[columns.index(c)]) >= 10_000]  # type: ignore[arg-type]
        if large and rng.random() < 0.6:
            index = columns.index(str(rng.choice(large)))
            value = float(row[index])  # type: ignore[arg-type]
            row[index] = f"{value / 1e6:.1f}M" if value >= 1e6 else f"{value / 1e3:.0f}K"
            return row
    index = columns.index(str(rng.choice(PLACEHOLDER_FIELDS[stream])))
    row[index] = "-"
    return row


def generate(
    out_dir: Path,
    *,
    seed: int = DEFAULT_SEED,
    machines: Sequence[int] = DEFAULT_MACHINES,
    rows_per_machine: int | None = None,
    labelled_rows: int | None = None,
    progress: bool = False,
) -> GeneratedFiles:
    """Write a synthetic data set: streaming files, ground truth, labelled files.

    Args:
        out_dir: folder to write into (created if missing; files are replaced).
        seed: seed of every random draw; the same seed gives byte-identical files.
        machines: machine ids to simulate (4–8 mimic the reference hosts).
        rows_per_machine: process rows of a full-length host (default 7,400); each
            machine gets its share of it (:data:`MACHINE_LENGTH`, machine 6 ≈ 1/5) and
            about 7/8 as many memory rows.
        labelled_rows: rows of the labelled process file (default 20,000), spread over
            the machines; the labelled memory file gets about 7/8 as many.
        progress: show a tqdm progress bar (for large outputs).

    Returns:
        The paths written.
    """
    if not machines:
        raise ValueError("at least one machine is needed")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = files_in(out_dir)
    machines = sorted(set(int(m) for m in machines))
    lengths = machine_rows(machines, rows_per_machine)
    labelled_total = labelled_rows if labelled_rows is not None else DEFAULT_LABELLED_ROWS
    labelled_per_machine = max(10, math.ceil(labelled_total / len(machines)))
    total = sum(lengths.values()) + labelled_per_machine * len(machines)
    # Attack types take turns on each host; hosts start ATTACK_TURN_STRIDE turns apart from
    # a seeded place, so that even a short capture of a few attacks per host covers every
    # type about equally often across the hosts.
    first = int(np.random.default_rng([seed, 3]).integers(len(ATTACKS)))
    first_attacks = {m: first + ATTACK_TURN_STRIDE * i for i, m in enumerate(machines)}
    bar = tqdm(total=total, unit="rows", desc="generating", disable=not progress)
    with bar:
        streaming = {
            m: simulate_host(
                m,
                lengths[m],
                rng=_host_rng(seed, m, purpose=0),
                attack_share=STREAMING_ATTACK_SHARE,
                first_attack=first_attacks[m],
                progress=bar,
            )
            for m in machines
        }
        labelled = {
            m: simulate_host(
                m,
                labelled_per_machine,
                rng=_host_rng(seed, m, purpose=1),
                attack_share=LABELLED_ATTACK_SHARE,
                first_attack=first_attacks[m],
                progress=bar,
            )
            for m in machines
        }
    _write_streaming(files, streaming)
    quirks = np.random.default_rng([seed, 2])  # the labelled files' quirks: their own stream
    _write_labelled(files, labelled, labelled_total, quirks)
    return files


def _write_streaming(files: GeneratedFiles, hosts: dict[int, HostRows]) -> None:
    for stream, header in (("process", PROCESS_COLUMNS), ("memory", MEMORY_COLUMNS)):
        rows: list[Sequence[object]] = []
        truth: list[Sequence[object]] = []
        for machine, host in hosts.items():
            body = host.process if stream == "process" else host.memory
            labels = host.process_truth if stream == "process" else host.memory_truth
            for sequence, (row, (attack, kind)) in enumerate(zip(body, labels, strict=True), 1):
                rows.append([sequence, machine, *row])
                truth.append([machine, sequence, attack, kind])
        _write(files.streaming(stream), header, rows)  # type: ignore[arg-type]
        _write(files.labels(stream), GROUND_TRUTH_COLUMNS, truth)  # type: ignore[arg-type]


def _write_labelled(
    files: GeneratedFiles,
    hosts: dict[int, HostRows],
    total_process_rows: int,
    rng: np.random.Generator,
) -> None:
    for stream in ("process", "memory"):
        keyed: list[tuple[int, int, int, Sequence[object]]] = []
        for machine, host in hosts.items():
            body = host.process if stream == "process" else host.memory
            labels = host.process_truth if stream == "process" else host.memory_truth
            snapshots = host.process_snapshot if stream == "process" else host.memory_snapshot
            # Hosts were captured in parallel but their clocks started a few minutes apart.
            offset = 37 * machine
            for index, (row, (attack, kind), snap) in enumerate(
                zip(body, labels, snapshots, strict=True)
            ):
                ts = LABELLED_TS_START + offset + SNAPSHOT_S * snap
                keyed.append((ts, machine, index, [ts, *row, attack, kind]))
        keyed.sort(key=lambda item: item[:3])
        limit = total_process_rows
        if stream == "memory":
            limit = round(total_process_rows * MEMORY_ROWS_PER_PROCESS_ROW)
        out: list[Sequence[object]] = []
        for _, _, _, record in keyed[:limit]:
            quirky = rng.random() < LABELLED_QUIRK_P
            out.append(_quirk(list(record), stream, rng) if quirky else record)
        _write(files.labelled(stream), LABELLED_COLUMNS[stream], out)

"""How the simulated attacks show up on a host: which processes, and how their rows differ.

Pure data, no I/O. The TON_IoT attacker is outside the host, so the host's telemetry shows
the *victim side*: server processes that fork more, run more, fault more pages and grow.
Every attack reuses program names that also run normally (apache2, sh, sshd, dhclient …)
and changes each feature only on a share of its rows, so no single column separates
attacks from normal activity while the combination does (SPEC §2.3: learnable, not
trivially separable). TON_IoT labels rows by attack time windows, so while an attack runs
some rows of the host's other processes count as attack rows too and carry the same
signature (the load shows on them); see ``COLLATERAL_P`` in the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pipelines.data.programs import DAEMONS, SPAWNERS, Program
from pipelines.schema.columns import ATTACK_TYPES

_SPAWNED = {spawner.cmd: spawner.profile for spawner in SPAWNERS}
_DAEMON = {program.cmd: program for program in DAEMONS}


@dataclass(frozen=True)
class AttackProfile:
    """One attack type as the victim host sees it.

    Attributes:
        type: the TON_IoT attack type.
        spawn: programs the attack starts (new PIDs) while it runs.
        hijack: running daemons whose rows count as attack while it runs (same PIDs).
        processes: attacking processes alive at once (min, max).
        lifetime: mean snapshots a spawned attacking process lives.
        in_memory: whether its processes show in the memory view (the TON_IoT memory
            files have no scanning or xss rows).
        cpu: (share of rows, median CPU) of raised CPU time.
        running: share of rows in State R.
        extra_threads: share of rows with 1–4 more sleeping threads.
        minflt: (share of rows, median) of raised minor page faults.
        rsize: (share of rows, factor) of grown resident size.
        majflt: share of rows with major page faults.
        p_finished: chance a spawned process's exit shows as a ``<cmd>`` row.
        exit_code: EXC of those rows.
    """

    type: str
    spawn: tuple[Program, ...]
    hijack: tuple[str, ...]
    processes: tuple[int, int]
    lifetime: float
    in_memory: bool
    cpu: tuple[float, float]
    running: float
    extra_threads: float
    minflt: tuple[float, float]
    rsize: tuple[float, float]
    majflt: float
    p_finished: float
    exit_code: int = 0


ATTACKS: Final[dict[str, AttackProfile]] = {
    profile.type: profile
    for profile in (
        AttackProfile(
            "ddos", (_SPAWNED["apache2"],), (), (3, 6), 6.0, True,
            cpu=(0.7, 0.05), running=0.5, extra_threads=0.6,
            minflt=(0.5, 300), rsize=(0.7, 1.6), majflt=0.25, p_finished=0.3,
        ),
        AttackProfile(
            "dos", (_SPAWNED["apache2"],), ("apache2", "named"), (2, 4), 8.0, True,
            cpu=(0.7, 0.4), running=0.5, extra_threads=0.6,
            minflt=(0.5, 1500), rsize=(0.7, 2.0), majflt=0.25, p_finished=0.3,
        ),
        AttackProfile(
            "password", (_DAEMON["sshd"], _SPAWNED["vsftpd"]), ("sshd",), (2, 5), 2.0, True,
            cpu=(0.7, 0.03), running=0.45, extra_threads=0.6,
            minflt=(0.5, 600), rsize=(0.7, 1.5), majflt=0.25, p_finished=0.7, exit_code=255,
        ),
        AttackProfile(
            "injection", (_SPAWNED["sh"],), ("mysqld", "apache2"), (1, 3), 2.0, True,
            cpu=(0.7, 0.12), running=0.5, extra_threads=0.6,
            minflt=(0.5, 2500), rsize=(0.7, 1.8), majflt=0.25, p_finished=0.6, exit_code=1,
        ),
        AttackProfile(
            "scanning", (_SPAWNED["apache2"], _DAEMON["sshd"], _DAEMON["named"]), (),
            (2, 6), 1.2, False,
            cpu=(0.7, 0.02), running=0.5, extra_threads=0.6,
            minflt=(0.0, 1), rsize=(0.0, 1.0), majflt=0.0, p_finished=0.9, exit_code=1,
        ),
        AttackProfile(
            "xss", (_SPAWNED["apache2"],), ("apache2",), (2, 4), 5.0, False,
            cpu=(0.7, 0.08), running=0.5, extra_threads=0.6,
            minflt=(0.0, 1), rsize=(0.0, 1.0), majflt=0.0, p_finished=0.3,
        ),
        AttackProfile(
            "mitm", (_SPAWNED["dhclient"],), ("NetworkManager",), (2, 4), 3.0, True,
            cpu=(0.7, 0.2), running=0.5, extra_threads=0.6,
            minflt=(0.5, 1100), rsize=(0.7, 1.5), majflt=0.25, p_finished=0.5, exit_code=15,
        ),
    )
}  # fmt: skip

if set(ATTACKS) != set(ATTACK_TYPES["process"]):  # pragma: no cover - import-time guard
    raise AssertionError("ATTACKS must cover exactly the process attack types")
MEMORY_ATTACKS: Final[frozenset[str]] = frozenset(t for t, a in ATTACKS.items() if a.in_memory)
if set(ATTACK_TYPES["memory"]) != MEMORY_ATTACKS:  # pragma: no cover - import-time guard
    raise AssertionError("attacks shown in the memory view must be the memory attack types")

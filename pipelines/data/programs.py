"""What runs on the simulated hosts: program profiles measured on the reference rows.

Pure data, no I/O. Every number below was read off the real TON_IoT streaming rows of
machines 4–7 (see ``../shared/docs/DATA.md``) and rounded; nothing is loaded at run time.
The generator (:mod:`pipelines.data.generator`) turns these profiles into atop-like rows.

Reading guide for the columns of :class:`Program`:

- ``q_process`` / ``q_memory``: how likely one instance shows up in one atop snapshot of the
  process view (Bernoulli) / how much weight it has when the memory view picks its rows.
  atop only lists processes that were active in the interval, which is why daemons show
  up in most snapshots and kernel workers in few.
- ``tslpi``: thread counts in interruptible sleep; an instance keeps one of them (compiz
  has 9 threads on one host and 4 on another).
- ``vsize``: the magnitude atop printed with its unit letter stripped (1.4 → 1.4 G for
  nautilus, 184.3 → 184.3 M for apache2, 19296.0 → 19296 K for irqbalance); an instance
  keeps one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

PidBand = Literal["system", "desktop", "tools", "kernel"]

PID_BANDS: Final[dict[PidBand, tuple[int, int]]] = {
    # Boot-time services get low PIDs, the desktop session the next range, tools started by
    # the testbed operators (atop, drone, ostinato) later ones; kernel workers are anywhere.
    "system": (1350, 2000),
    "desktop": (2400, 3200),
    "tools": (3100, 4400),
    "kernel": (3000, 5200),
}

BOOT_PIDS: Final[dict[str, tuple[int, ...]]] = {
    # system services
    "NetworkManager": (1189,), "polkitd": (1197,), "cups-browsed": (1145,), "vsftpd": (1134,),
    "sshd": (1382,), "cron": (1389,), "whoopsie": (1400,), "irqbalance": (1401,),
    "Xorg": (1457,), "mysqld": (1483,), "accounts-daemo": (1498,), "named": (1517,),
    "haveged": (1667,), "kerneloops": (1674,), "knetatop": (1694,), "vmtoolsd": (1855, 2810),
    "upowerd": (1946,), "apache2": (1942,),
    # the desktop session
    "rtkit-daemon": (2137,), "init": (2326,), "dbus-daemon": (2420, 2491),
    "upstart-event-": (2431,), "window-stack-b": (2442,), "bamfdaemon": (2460,),
    "upstart-file-b": (2496,), "upstart-dbus-b": (2498, 2505), "ibus-daemon": (2500,),
    "at-spi2-regist": (2508,), "unity-settings": (2528,), "hud-service": (2536,),
    "gnome-session": (2538,), "unity-panel-se": (2540, 2633), "ibus-ui-gtk3": (2552,),
    "indicator-keyb": (2688,), "indicator-date": (2700,), "pulseaudio": (2720,),
    "indicator-appl": (2722,), "notify-osd": (2769,), "compiz": (2777,), "goa-daemon": (2787,),
    "evolution-cale": (2792,), "nm-applet": (2799,), "nautilus": (2801,),
    "tracker-miner-": (2802,), "tracker-store": (2803,), "mission-contro": (2838,),
    "udisksd": (2854,), "zeitgeist-data": (2991,), "zeitgeist-daem": (2996,),
    "zeitgeist-fts": (3002,),
}  # fmt: skip
"""Where each daemon's instances start, per instance: hosts boot the same services in the
same order, so a daemon gets nearly the same PID on every machine (typical PIDs of the real
sample; each host adds :data:`BOOT_PID_JITTER`). Programs not listed, and instances beyond
those listed, start anywhere in their band."""
BOOT_PID_JITTER: Final = 50
"""How far (either way) one host's boot PIDs stray from the typical ones."""

FIRST_SPAWNED_PID: Final = 4200
"""Processes started during the capture get PIDs from here upwards (median real PID ≈ 3k)."""
FIRST_SPAWNED_PID_BY_HOST: Final[dict[int, int]] = {6: 51_000}
"""Hosts whose capture began long after boot: machine 6's apache2 workers, kworkers and
helpers have PIDs from ~51k (a third of its rows in the real sample)."""

FINISHED_NAME_CHARS: Final = 12
"""atop shows a finished process as ``<name>`` with the name cut to 12 characters."""

GROWTH_P: Final[dict[str, float]] = {
    "atop": 0.23,
    "compiz": 0.46,
    "hud-service": 0.31,
    "apache2": 0.12,
    "nautilus": 0.07,
    "Xorg": 0.04,
    "NetworkManager": 0.04,
    "unity-settings": 0.04,
    "whoopsie": 0.024,
    "dbus-daemon": 0.022,
    "mission-contro": 0.02,
    "ostinato": 0.019,
    "unity-panel-se": 0.013,
    "nm-applet": 0.011,
}
"""Share of a program's memory rows, after its first, that show growth (VGROW or RGROW ≠ 0),
measured per CMD on the real sample (9 % of such rows over all programs)."""
GROWTH_P_OTHER: Final = 0.005
"""The same share for every other program."""
GROWTH_ZERO_P: Final[tuple[float, float]] = (0.27, 0.41)
"""On a growing row, the chance that VGROW, resp. RGROW, is still 0 (real sample)."""
GROWTH_MEDIAN_K: Final = 60.0
"""Median of a non-zero VGROW or RGROW (K; real: p50 8 and p75 ~130 counting the zeros, a
long tail to ~14k)."""
GROWTH_SIGMA: Final = 1.9
"""Spread (log-normal sigma) of a non-zero growth."""


@dataclass(frozen=True)
class Program:
    """The measured profile of one long-running program (one or more instances per host).

    Attributes:
        cmd: the CMD atop prints (already truncated to atop's 14 characters).
        band: PID range its instances start in (:data:`PID_BANDS`).
        instances: instances per host.
        q_process: chance an instance appears in one process-view snapshot (0–1).
        q_memory: weight of an instance in the memory view's pick (0–1).
        tslpi: TSLPI values; each instance keeps one.
        p_running: share of rows in State R (then TRUN ≥ 1).
        p_busy_threads: share of sleeping rows that still count a running thread (drone).
        p_cpu_zero: share of rows with CPU 0.0.
        cpu_median: median of the non-zero CPU values (seconds per interval).
        vstext: VSTEXT (K).
        vsize: unit-stripped VSIZE magnitudes; each instance keeps one.
        rsize: typical RSIZE (K).
        p_minflt_zero: share of rows with no minor page faults.
        minflt_median: median of the non-zero MINFLT values.
        mem: MEM share (0–0.03).
        pri: PRI as written (120 + nice; atop runs at 100).
        machines: hosts that run it (``None``: all).
    """

    cmd: str
    band: PidBand
    instances: int
    q_process: float
    q_memory: float
    tslpi: tuple[int, ...]
    p_running: float
    p_cpu_zero: float
    cpu_median: float
    vstext: int
    vsize: tuple[float, ...]
    rsize: int
    p_minflt_zero: float
    minflt_median: float
    mem: float = 0.0
    pri: int = 120
    p_busy_threads: float = 0.0
    machines: frozenset[int] | None = None


def _on(*machines: int) -> frozenset[int]:
    return frozenset(machines)


P = Program  # short name for the tables below
# fmt: off
DAEMONS: Final[tuple[Program, ...]] = (
    # cmd, band, instances, q_process, q_memory, tslpi, p_running, p_cpu_zero, cpu_median,
    # vstext, vsize, rsize, p_minflt_zero, minflt_median, [mem, pri, ...]
    P("vmtoolsd", "system", 2, 0.62, 0.50, (2, 3), 0.02, 0.91, 0.01,
      36, (159.8, 381.1, 380.9), 15424, 0.78, 8),
    P("nautilus", "desktop", 1, 0.82, 0.70, (5,), 0.04, 0.75, 0.01,
      1350, (1.4,), 46872, 0.02, 8, 0.01),
    P("ostinato", "tools", 1, 0.80, 0.68, (3,), 0.06, 0.38, 0.02,
      2132, (2.5,), 28220, 0.98, 4, 0.01),
    P("compiz", "desktop", 1, 0.80, 0.70, (9, 5, 4), 0.13, 0.07, 0.02,
      10, (1.3, 1.2, 1.1), 79240, 0.21, 88, 0.02),
    P("unity-panel-se", "desktop", 2, 0.40, 0.36, (3,), 0.01, 0.67, 0.02,
      66, (553.8, 625.7, 538.8), 18384, 0.78, 2),
    P("irqbalance", "system", 1, 0.80, 0.66, (1,), 0.004, 0.95, 0.04,
      36, (19296.0,), 824, 0.0, 3),
    P("hud-service", "desktop", 1, 0.80, 0.68, (4,), 0.03, 0.47, 0.01,
      589, (630.2, 633.7, 663.4), 26688, 0.08, 8, 0.01),
    P("drone", "tools", 1, 0.80, 0.66, (11, 13, 12), 0.0, 0.11, 0.98,
      978, (2.8, 2.9, 3.0), 22976, 0.99, 3, 0.01, p_busy_threads=0.59),
    P("Xorg", "system", 1, 0.76, 0.64, (1,), 0.06, 0.62, 0.02,
      2219, (334.3, 354.3, 350.9), 79032, 0.92, 7, 0.02),
    P("upstart-dbus-b", "desktop", 2, 0.32, 0.36, (1,), 0.01, 0.95, 0.01,
      121, (22308.0, 22440.0), 664, 1.0, 150),
    P("dbus-daemon", "desktop", 2, 0.32, 0.29, (1,), 0.05, 0.66, 0.01,
      415, (40184.0, 40196.0, 40368.0), 2292, 0.90, 2),
    P("gnome-terminal", "desktop", 1, 0.51, 0.43, (4,), 0.02, 0.97, 0.06,
      280, (710.1, 710.3, 711.4), 22344, 0.97, 2, 0.01),
    P("mysqld", "system", 1, 0.37, 0.36, (17,), 0.0, 0.95, 0.01,
      10415, (545.4, 537.4), 50344, 1.0, 1, 0.01),
    P("haveged", "system", 1, 0.33, 0.38, (1,), 0.06, 0.96, 0.01,
      12, (9480.0,), 3500, 1.0, 1),
    P("tcpdump", "tools", 1, 0.95, 0.05, (1,), 0.03, 0.01, 0.02,
      1048, (31.2,), 5412, 0.9, 4, machines=_on(4)),
    P("whoopsie", "system", 1, 0.30, 0.28, (3, 4), 0.01, 0.92, 0.01,
      47, (433.1, 505.2, 497.1), 5048, 0.71, 16),
    P("goa-daemon", "desktop", 1, 0.30, 0.28, (4,), 0.0, 0.88, 0.01,
      124, (623.7, 623.6), 18084, 1.0, 1, p_busy_threads=0.06),
    P("nm-applet", "desktop", 1, 0.29, 0.31, (3,), 0.07, 0.07, 0.02,
      297, (726.4, 718.4), 18308, 0.97, 2),
    P("mission-contro", "desktop", 1, 0.21, 0.23, (3,), 0.01, 0.94, 0.01,
      350, (315.2, 315.3), 7292, 0.89, 1),
    P("NetworkManager", "system", 1, 0.21, 0.29, (4,), 0.03, 0.75, 0.02,
      1071, (342.1, 342.2), 7460, 0.49, 15),
    P("indicator-appl", "desktop", 1, 0.28, 0.28, (2,), 0.0, 0.11, 0.01,
      35, (280.1,), 5140, 0.97, 2, p_busy_threads=0.05),
    P("evolution-cale", "desktop", 1, 0.20, 0.18, (5,), 0.01, 0.99, 0.01,
      4, (857.6,), 44596, 1.0, 1, 0.01),
    P("unity-settings", "desktop", 1, 0.19, 0.23, (4,), 0.01, 0.94, 0.01,
      31, (793.1, 729.2), 16016, 0.40, 3),
    P("deja-dup-monit", "desktop", 1, 0.19, 0.19, (3,), 0.03, 0.97, 0.01,
      18, (368.9,), 3884, 0.99, 1),
    P("named", "system", 1, 0.14, 0.15, (7,), 0.0, 0.70, 0.02,
      531, (392.3, 399.2, 393.6), 34028, 0.85, 5, 0.01, p_busy_threads=0.1),
    P("init", "desktop", 1, 0.07, 0.17, (1,), 0.05, 0.91, 0.2,
      245, (40564.0, 40296.0), 2936, 0.78, 11),
    P("cron", "system", 1, 0.06, 0.05, (1,), 0.0, 0.97, 0.69,
      37, (23652.0,), 1028, 0.12, 6),
    P("update-manager", "desktop", 1, 0.30, 0.15, (3, 2), 0.28, 0.19, 0.08,
      3063, (726.8,), 117, 0.95, 1, 0.03, pri=130, machines=_on(4, 5)),
    P("zeitgeist-daem", "desktop", 1, 0.08, 0.10, (2,), 0.01, 0.95, 0.01,
      189, (344.0,), 4804, 0.22, 2),
    P("knetatop", "system", 1, 0.05, 0.06, (1,), 0.02, 0.91, 0.01,
      0, (0.0,), 0, 1.0, 1),
    P("bamfdaemon", "desktop", 1, 0.05, 0.05, (4,), 0.02, 0.59, 0.01,
      281, (609.4, 609.5), 15708, 0.98, 1),
    P("rtkit-daemon", "desktop", 1, 0.05, 0.06, (3, 2), 0.0, 0.70, 0.41,
      53, (165.0,), 1312, 0.49, 6, pri=121, p_busy_threads=0.16),
    P("kerneloops", "system", 1, 0.04, 0.04, (1,), 0.0, 0.83, 0.01,
      17, (37152.0,), 1228, 0.51, 10),
    P("indicator-date", "desktop", 1, 0.04, 0.03, (6,), 0.0, 0.86, 0.01,
      659, (1.1, 1.0), 12168, 0.74, 4),
    P("upowerd", "system", 1, 0.04, 0.04, (3,), 0.0, 0.94, 1.5,
      149, (233.8,), 4572, 1.0, 1),
    P("accounts-daemo", "system", 1, 0.04, 0.09, (3,), 0.0, 0.88, 0.02,
      148, (280.7,), 4052, 1.0, 1),
    P("udisksd", "desktop", 1, 0.03, 0.03, (6, 5), 0.0, 0.91, 0.02,
      319, (362.7,), 5168, 0.78, 1),
    P("cups-browsed", "system", 1, 0.03, 0.03, (1,), 0.0, 0.96, 0.02,
      44, (75364.0,), 3428, 1.0, 1),
    P("indicator-keyb", "desktop", 1, 0.03, 0.03, (3,), 0.0, 0.89, 0.03,
      121, (520.9, 520.8), 13160, 0.79, 3),
    P("zeitgeist-fts", "desktop", 1, 0.03, 0.02, (3,), 0.0, 0.92, 1.2,
      127, (246.4,), 9492, 0.95, 1),
    P("update-notifie", "desktop", 1, 0.03, 0.02, (4,), 0.0, 0.88, 0.16,
      49, (627.8, 699.8), 16444, 0.82, 1),
    P("window-stack-b", "desktop", 1, 0.03, 0.02, (1,), 0.0, 1.0, 0.01,
      239, (78328.0,), 4632, 0.91, 1),
    P("polkitd", "system", 1, 0.03, 0.04, (3,), 0.0, 1.0, 0.01,
      7, (274.6,), 5192, 1.0, 1),
    P("ibus-daemon", "desktop", 1, 0.03, 0.03, (3,), 0.0, 0.74, 0.01,
      148, (353.2, 281.2), 6220, 0.67, 2),
    P("at-spi2-regist", "desktop", 1, 0.03, 0.03, (2,), 0.04, 0.87, 0.4,
      78, (122.0, 122.1), 3384, 1.0, 1),
    P("zeitgeist-data", "desktop", 1, 0.02, 0.01, (7, 6), 0.0, 1.0, 0.01,
      127, (388.9,), 9748, 1.0, 1),
    P("notify-osd", "desktop", 1, 0.02, 0.02, (3,), 0.0, 1.0, 0.01,
      193, (332.6,), 10136, 1.0, 1),
    P("upstart-file-b", "desktop", 1, 0.02, 0.20, (1,), 0.0, 1.0, 0.01,
      129, (16236.0, 30912.0), 960, 0.98, 62),
    P("gnome-session", "desktop", 1, 0.02, 0.02, (4,), 0.06, 0.78, 0.3,
      223, (834.3, 770.1), 11508, 0.81, 1),
    P("upstart-event-", "desktop", 1, 0.01, 0.10, (1,), 0.0, 1.0, 0.01,
      115, (22300.0,), 1168, 0.98, 1),
    P("upstart-socket", "desktop", 1, 0.01, 0.09, (1,), 0.0, 1.0, 0.01,
      121, (15260.0,), 636, 0.99, 257),
    P("ibus-ui-gtk3", "desktop", 1, 0.02, 0.02, (4,), 0.0, 1.0, 0.01,
      154, (537.8, 537.9), 15092, 1.0, 1),
    P("tracker-store", "desktop", 1, 0.02, 0.02, (8,), 0.0, 1.0, 0.01,
      127, (388.9, 452.9), 12740, 1.0, 1),
    P("gedit", "desktop", 1, 0.06, 0.06, (8,), 0.0, 1.0, 0.01,
      545, (786.4,), 33520, 0.96, 3, 0.01, machines=_on(6)),
    P("pulseaudio", "desktop", 1, 0.02, 0.02, (3,), 0.0, 0.9, 0.02,
      95, (438.2,), 6940, 0.9, 2, pri=109),
    P("tracker-miner-", "desktop", 1, 0.02, 0.02, (4,), 0.0, 1.0, 0.01,
      228, (655.7,), 14920, 1.0, 1, pri=139),
    P("firefox", "desktop", 1, 0.90, 0.60, (56, 55, 54), 0.03, 0.05, 0.01,
      164, (1.2,), 312400, 0.3, 40, 0.03, machines=_on(8)),
    P("Web Content", "desktop", 1, 0.25, 0.30, (27,), 0.02, 0.3, 0.01,
      164, (1.0,), 198300, 0.5, 12, 0.02, machines=_on(8)),
    P("vsftpd", "system", 1, 0.01, 0.08, (1,), 0.0, 1.0, 0.01,
      152, (23552.0,), 1404, 0.8, 12, machines=_on(7)),
    P("systemd-udevd", "system", 1, 0.01, 0.04, (1,), 0.0, 1.0, 0.01,
      199, (51980.0,), 1416, 0.9, 134, machines=_on(7)),
    P("apache2", "system", 1, 0.15, 0.30, (1,), 0.0, 0.95, 0.06,
      596, (184.2,), 14096, 0.9, 18),
    P("sshd", "system", 1, 0.02, 0.04, (1,), 0.0, 0.98, 0.01,
      85, (61364.0,), 5380, 0.95, 4),
)
# fmt: on

ATOP: Final = P(
    "atop", "tools", 1, 0.88, 0.62, (1,), 0.26, 0.42, 0.01,
    148, (18172.0, 18176.0, 17916.0, 17928.0, 17624.0), 2520, 0.0, 1935, pri=100,
)  # fmt: skip
"""atop's own rows: several atop instances per host (one per view the testbed recorded)."""

ATOP_INSTANCES: Final[dict[int, int]] = {4: 8, 5: 4, 6: 4, 7: 4, 8: 6}
"""atop instances per host (machine 4 ran eight, which is why atop is 36 % of its rows)."""
ATOP_FIRST_PIDS: Final[dict[int, tuple[int, ...]]] = {
    4: (3675, 4372), 5: (4324,), 6: (3279, 3292), 7: (3292,), 8: (4324,),
}  # fmt: skip
"""Where each host's atop instances start: the operators launched them together, so they
hold consecutive PIDs from each start (the real sample's; machine 8 is not in it and takes
machine 5's). Instances go round the starts."""

KWORKER_NAMES: Final[tuple[str, ...]] = (
    "kworker/u256:0", "kworker/u256:1", "kworker/u256:2", "kworker/u256:3",
    "kworker/0:0", "kworker/0:1", "kworker/1:0", "kworker/1:2", "kworker/2:2",
    "kworker/3:1", "kworker/3:2",
)  # fmt: skip
KWORKERS_ALIVE: Final = 5
"""Kernel workers alive at once per host; one is replaced by a new PID now and then."""
KWORKER_Q_PROCESS: Final = 0.16
KWORKER_Q_MEMORY: Final = 0.30
KWORKER_REPLACE_P: Final = 0.02

"""Chance per snapshot that one kernel worker exits and a new one (new PID) takes over."""

SPAWNED_VISIBLE_P: Final = 0.45
"""Chance a short-lived process is ever active enough for atop to list it (in both views:
a host's two logs share most keys once its hosts are paired, see pipelines.data.compare)."""


@dataclass(frozen=True)
class Spawner:
    """Short-lived processes a host starts during the capture (workers, helpers, hooks).

    Attributes:
        cmd: CMD of the live rows.
        rate: mean starts per snapshot, per host (0 where absent).
        burst: how many start together (min, max).
        lifetime: mean number of snapshots a process lives (geometric).
        q_process: chance a live instance appears in one process-view snapshot.
        q_memory: weight of a live instance in the memory view.
        p_finished_process: chance its exit shows as a ``<cmd>`` row in the process view.
        p_finished_memory: the same for the memory view.
        profile: live-row profile (CPU, threads, memory sizes) of the program.
        finished_minflt: MINFLT atop reports on the ``<cmd>`` row (faults of the last run).
        companion: an extra finished helper that exits with it (dhclient → nm-dhcp-client).
        exit_code: EXC of its ``<cmd>`` rows (15: killed by SIGTERM, shown with Status NS).
    """

    cmd: str
    rate: dict[int, float]
    burst: tuple[int, int]
    lifetime: float
    q_process: float
    q_memory: float
    p_finished_process: float
    p_finished_memory: float
    profile: Program
    finished_minflt: int
    companion: str | None = None
    exit_code: int = 0


def _rate(default: float, **per_machine: float) -> dict[int, float]:
    rates = {machine: default for machine in (4, 5, 6, 7, 8)}
    rates.update({int(key[1:]): value for key, value in per_machine.items()})
    return rates


SPAWNERS: Final[tuple[Spawner, ...]] = (
    # Apache prefork workers: busy hosts fork them in bursts; 87 worker PIDs per host.
    Spawner(
        "apache2", _rate(0.02, m5=0.12, m6=0.2, m8=0.06, m4=0.04, m7=0.04), (3, 10), 10.0,
        0.45, 1.0, 0.05, 0.05,
        P("apache2", "tools", 1, 0, 0, (1,), 0.10, 0.95, 0.06,
          596, (184.3, 184.4, 191.7), 6280, 0.39, 18),
        finished_minflt=987,
    ),
    # DHCP renewals: dhclient runs, calls the nm-dhcp-client hook, exits.
    Spawner(
        "dhclient", _rate(0.03), (1, 1), 2.0, 0.6, 0.6, 0.6, 0.5,
        P("dhclient", "tools", 1, 0, 0, (1, 0), 0.0, 0.67, 0.02,
          1603, (10224.0,), 3660, 0.17, 1117),
        finished_minflt=1121, companion="nm-dhcp-client", exit_code=15,
    ),
    Spawner(
        "sh", _rate(0.035), (1, 1), 1.3, 0.4, 0.4, 0.7, 0.55,
        P("sh", "tools", 1, 0, 0, (1,), 0.06, 0.59, 0.08, 110, (4444.0,), 648, 0.0, 330),
        finished_minflt=334,
    ),
    Spawner(
        "cron", _rate(0.02), (1, 1), 1.0, 0.2, 0.3, 0.6, 0.5,
        P("cron", "tools", 1, 0, 0, (1,), 0.0, 0.97, 0.01, 37, (23652.0,), 1028, 0.1, 6),
        finished_minflt=6,
    ),
    Spawner(
        "dpkg", _rate(0.0, m5=0.04, m6=0.05), (1, 2), 1.0, 0.0, 0.0, 0.7, 0.55,
        P("dpkg", "tools", 1, 0, 0, (1,), 0.0, 0.9, 0.01, 240, (18772.0,), 4520, 0.0, 576),
        finished_minflt=576,
    ),
    Spawner(
        "system-crash-n", _rate(0.0, m5=0.02, m6=0.03), (1, 1), 3.0, 0.6, 0.4, 0.3, 0.3,
        P("system-crash-n", "tools", 1, 0, 0, (3,), 0.02, 0.58, 0.04,
          3, (462.9,), 14636, 0.3, 2018),
        finished_minflt=2018,
    ),
    Spawner(
        "kernel_oops", _rate(0.0, m4=0.01, m5=0.02), (1, 1), 4.0, 0.8, 0.5, 0.2, 0.2,
        P("kernel_oops", "tools", 1, 0, 0, (0,), 0.98, 0.15, 1.0,
          3063, (112.7, 112.6), 68534, 0.05, 2238, 0.02),
        finished_minflt=2238,
    ),
    Spawner(
        "lsof", _rate(0.008), (1, 1), 1.0, 0.1, 0.1, 0.8, 0.6,
        P("lsof", "tools", 1, 0, 0, (0,), 0.0, 0.5, 0.02, 140, (15508.0,), 2140, 0.0, 201),
        finished_minflt=201, exit_code=1,
    ),
    # vsftpd forks a child per FTP connection on machine 7: one sizing row, then its exit,
    # shown in the process view too for half of them (a finished process shows in both
    # logs on the real paired hosts; the sample's vsftpd host has no process log in it).
    Spawner(
        "vsftpd", _rate(0.0, m7=1.0), (1, 1), 1.0, 0.002, 0.95, 0.5, 0.8,
        P("vsftpd", "tools", 1, 0, 0, (1,), 0.0, 1.0, 0.01,
          152, (29840.0, 70300.0, 70492.0), 952, 0.01, 221),
        finished_minflt=221,
    ),
    Spawner(
        "systemd-udevd", _rate(0.0, m7=1.0), (1, 1), 1.0, 0.0, 0.6, 0.8, 0.9,
        P("systemd-udevd", "tools", 1, 0, 0, (1,), 0.0, 1.0, 0.01,
          199, (51980.0,), 1416, 0.0, 134),
        finished_minflt=273,
    ),
)  # fmt: skip

HELPER_NAMES: Final[tuple[str, ...]] = (
    "debian-sa1", "apport-checkreports", "grep", "sed", "run-parts", "ls", "cat", "sleep",
    "expr", "date", "awk", "logrotate", "gzip", "update-motd-fsck", "landscape-sysinfo",
    "lsb_release", "dirname", "basename", "who", "id",
)  # fmt: skip
HELPER_RATE: Final = 0.012
"""Starts per snapshot of each helper: cron jobs and scripts that run for a moment, mostly
seen only as a finished ``<name>`` row of the process view (the real hosts have ~180
distinct CMDs, most of them such one-offs)."""

HELPERS: Final[tuple[Spawner, ...]] = tuple(
    Spawner(
        name[:14], _rate(HELPER_RATE), (1, 1), 1.0, 0.25, 0.1, 0.8, 0.4,
        P(name[:14], "tools", 1, 0, 0, (0,), 0.3, 0.6, 0.02, 24, (7452.0,), 712, 0.0, 120),
        finished_minflt=150,
    )
    for name in HELPER_NAMES
)  # fmt: skip

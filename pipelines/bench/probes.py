"""What the benchmarks read about processes (Linux ``/proc``) and how they summarise.

- :class:`UsageSampler`: CPU seconds and peak resident memory of named parts of the
  system (each part a set of processes, their children included), sampled on a thread.
- :func:`slope_per_min`: the trend of a series (is a lag growing?).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PROC: Final = Path("/proc")
CLOCK_TICKS_PER_S: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_BYTES: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid …: comm may hold spaces and parentheses.
    return text.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds a process has used (None when it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a process, bytes (None when it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return int(fields[21]) * PAGE_BYTES


def children_of(pids: Iterable[int]) -> set[int]:
    """``pids`` and every living descendant of them."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.glob("[0-9]*"):
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [p for p in pids if (PROC / str(p)).exists()]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(parents.get(pid, []))
    return found


@dataclass
class PartUsage:
    """One part's figures over a sampling run.

    Attributes:
        cpu_s: CPU seconds its processes used while sampled (exited ones included).
        peak_rss_bytes: the highest sum of its processes' resident memory at a sample.
        rss_samples: (seconds since start, resident bytes) at each sample.
    """

    cpu_s: float = 0.0
    peak_rss_bytes: int = 0
    rss_samples: list[tuple[float, int]] = field(default_factory=list)


class UsageSampler:
    """Samples CPU and memory of named parts of the system on a background thread.

    Args:
        parts: part name → a function returning the part's root process ids now (their
            children are included); called at each sample, so parts may start later.
        interval_s: seconds between samples.
        alone: parts whose processes are counted without their children (a process
            whose children belong to other parts).
    """

    def __init__(
        self,
        parts: Mapping[str, Callable[[], Iterable[int]]],
        interval_s: float = 1.0,
        alone: Iterable[str] = (),
    ) -> None:
        self.parts = dict(parts)
        self.alone = set(alone)
        self.interval_s = interval_s
        self.usage = {name: PartUsage() for name in self.parts}
        self._last_cpu: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self.elapsed_s = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="usage-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, PartUsage]:
        """Take a last sample, stop, and return the usage per part."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval_s * 5)
        self._sample()
        self.elapsed_s = time.monotonic() - self._started
        return self.usage

    def cores_busy(self, name: str) -> float:
        """How many of the machine's cores a part kept busy on average."""
        return self.usage[name].cpu_s / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        at = time.monotonic() - self._started
        for name, roots in self.parts.items():
            try:
                pids = set(roots()) if name in self.alone else children_of(roots())
            except Exception:  # a part not started yet
                pids = set()
            usage = self.usage[name]
            rss = 0
            for pid in pids:
                cpu = cpu_seconds(pid)
                if cpu is None:
                    continue
                key = (name, pid)
                # CPU used before the first sample of this process does not count.
                usage.cpu_s += cpu - self._last_cpu.get(key, cpu)
                self._last_cpu[key] = cpu
                rss += rss_bytes(pid) or 0
            usage.rss_samples.append((at, rss))
            usage.peak_rss_bytes = max(usage.peak_rss_bytes, rss)


def slope_per_min(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, in value per minute (0 for <2)."""
    if len(points) < 2:
        return 0.0
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return 0.0
    return 60.0 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var

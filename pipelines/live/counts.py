"""Records per machine in a trailing window of ARRIVAL time, sampled on a fixed grid.

Pure module: no Kafka, no streamz, no clock of its own unless you give it one. The
streamz pipeline (:mod:`pipelines.live.pipeline`) feeds it arrivals and asks it for
samples; the tests feed it simulated time.

Window semantics (one decision, used everywhere): a snapshot taken at ``now`` counts the
records whose arrival time ``t`` satisfies ``now - window_s < t <= now``. The window is
half-open: a record that arrived exactly ``window_s`` seconds ago has just left it; a
record arriving at ``now`` is in it. Arrivals are kept in right-closed buckets
``((k-1)·r, k·r]`` of width ``r = resolution_s``, so a snapshot is exact whenever ``now``
and ``window_s`` are multiples of ``r`` (the sample grid always is, see
:meth:`TrailingCounts.due_samples`); elsewhere the trailing edge is quantised by less
than ``r``.

Memory is bounded whatever the rate or the run time:

- per machine at most ``2 · window_s / resolution_s + 2`` buckets (older ones are pruned;
  two windows, so that a sampler that fell behind can still catch up exactly);
- at most ``max_machines`` machines (records of further machines are rejected and counted
  under the reason :data:`TOO_MANY_MACHINES`);
- the sampled series keeps the latest ``max_samples`` samples (a ring buffer; 17,280 by
  default = 24 h at one sample every 5 s): "from the start" holds up to that length;
- the malformed-record counter has one entry per distinct reason (a fixed vocabulary).
"""

from __future__ import annotations

import bisect
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

DEFAULT_WINDOW_S = 120.0
DEFAULT_SAMPLE_S = 5.0
RESOLUTION_PER_SAMPLE = 5
"""Buckets per sample period by default: sample 5 s → buckets of 1 s."""
DEFAULT_MAX_SAMPLES = 17_280
DEFAULT_MAX_MACHINES = 256
TOO_MANY_MACHINES = "too many machines"
_RELATIVE_TOLERANCE = 1e-12
"""Unix times divided by a period are ~1e9-1e10, where one float step is ~1e-6: a time
that is a multiple of the period must land on the grid index, not one beside it."""


def _grid(quotient: float) -> float:
    """``quotient`` snapped to the nearest integer when float noise is all that separates them."""
    nearest = round(quotient)
    if abs(quotient - nearest) <= _RELATIVE_TOLERANCE * max(1.0, abs(quotient)):
        return float(nearest)
    return quotient


@dataclass(frozen=True)
class Sample:
    """The counts of every known machine at one sample time.

    Attributes:
        at: sample time, unix seconds (UTC).
        counts: machine id → records that arrived in ``(at - window_s, at]``; machines
            seen before but quiet now are present with 0.
    """

    at: float
    counts: Mapping[str, int]


class TrailingCounts:
    """Counts per machine of the records that arrived in the trailing window.

    Not thread-safe: one thread (the streamz event loop) calls it, or the caller locks.

    Example:
        >>> counts = TrailingCounts(window_s=120, sample_s=5, clock=lambda: 1000.0)
        >>> counts.add("4", at=990.0, n=3)
        >>> counts.snapshot(1000.0)
        {'4': 3}
    """

    def __init__(
        self,
        window_s: float = DEFAULT_WINDOW_S,
        *,
        sample_s: float = DEFAULT_SAMPLE_S,
        resolution_s: float | None = None,
        max_samples: int = DEFAULT_MAX_SAMPLES,
        max_machines: int = DEFAULT_MAX_MACHINES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Set up an empty counter.

        Args:
            window_s: length of the trailing window, seconds (default 120).
            sample_s: period of the sample grid, seconds (default 5).
            resolution_s: bucket width, seconds; default ``sample_s / 5``. Must divide
                ``sample_s`` for samples to be exact.
            max_samples: samples kept in :attr:`series` (oldest dropped first).
            max_machines: machines tracked at most; more are rejected and counted.
            clock: unix-seconds clock used when ``at``/``now`` are not given.
        """
        if window_s <= 0 or sample_s <= 0:
            raise ValueError(f"window_s and sample_s must be > 0 (got {window_s}, {sample_s})")
        self.window_s = float(window_s)
        self.sample_s = float(sample_s)
        self.resolution_s = float(resolution_s or sample_s / RESOLUTION_PER_SAMPLE)
        if self.resolution_s <= 0:
            raise ValueError(f"resolution_s must be > 0 (got {resolution_s})")
        self.max_machines = max_machines
        self.clock = clock
        # machine → deque of [bucket index, records] in increasing bucket order.
        self._buckets: dict[str, deque[list[int]]] = {}
        self._latest_bucket = -math.inf
        self.series: deque[Sample] = deque(maxlen=max_samples)
        self.malformed: Counter[str] = Counter()
        self.accepted = 0
        self._last_sample_index: int | None = None

    # -- input ---------------------------------------------------------------------------
    def add(self, machine: str, at: float | None = None, n: int = 1) -> bool:
        """Count ``n`` records of ``machine`` that arrived at ``at``.

        Args:
            machine: machine id as text (``"4"``).
            at: arrival time, unix seconds; default: the clock.
            n: how many records arrived together.

        Returns:
            False when the record was rejected (machine limit reached), True otherwise.
        """
        if n <= 0:
            return True
        when = self.clock() if at is None else at
        buckets = self._buckets.get(machine)
        if buckets is None:
            if len(self._buckets) >= self.max_machines:
                self.reject(TOO_MANY_MACHINES, n)
                return False
            buckets = self._buckets[machine] = deque()
        index = self._bucket_of(when)
        if not buckets or buckets[-1][0] < index:
            buckets.append([index, n])
        elif buckets[-1][0] == index:
            buckets[-1][1] += n
        else:
            # Arrivals are stamped by one thread, so they come in order; an older stamp
            # (a clock step back) still lands in its own bucket, kept sorted.
            keys = [b[0] for b in buckets]
            position = bisect.bisect_left(keys, index)
            if position < len(buckets) and buckets[position][0] == index:
                buckets[position][1] += n
            else:
                buckets.insert(position, [index, n])
        self.accepted += n
        if index > self._latest_bucket:
            self._latest_bucket = index
            self._prune(index)
        return True

    def add_many(self, machines: Iterable[str], at: float | None = None) -> int:
        """Count one record per item of ``machines``, all arrived at ``at``.

        Returns:
            How many were accepted.
        """
        when = self.clock() if at is None else at
        per_machine = Counter(machines)
        return sum(n for machine, n in per_machine.items() if self.add(machine, at=when, n=n))

    def reject(self, reason: str, n: int = 1) -> None:
        """Count ``n`` malformed records under ``reason`` (never raises)."""
        self.malformed[reason] += n

    # -- output --------------------------------------------------------------------------
    @property
    def machines(self) -> tuple[str, ...]:
        """Every machine seen so far, in a stable order (numeric ids numerically)."""
        return tuple(sorted(self._buckets, key=machine_sort_key))

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    def snapshot(self, now: float | None = None) -> dict[str, int]:
        """Records per machine that arrived in ``(now - window_s, now]``.

        Args:
            now: unix seconds; default: the clock. Quiet machines report 0.
        """
        when = self.clock() if now is None else now
        upper = self._bucket_of(when)
        lower = self._bucket_of(when - self.window_s)
        return {
            machine: sum(n for index, n in self._buckets[machine] if lower < index <= upper)
            for machine in self.machines
        }

    def due_samples(self, now: float | None = None) -> list[Sample]:
        """Take the samples whose grid times have passed, append them to :attr:`series`.

        Sample times are the multiples of ``sample_s`` (on the unix-time grid, so every
        pipeline samples at the same instants). The first call takes the latest grid
        time only; later calls take every grid time since the previous sample, at most
        one window's worth (older ones could no longer be computed exactly).

        Args:
            now: unix seconds; default: the clock.

        Returns:
            The new samples, oldest first (empty when none is due yet).
        """
        when = self.clock() if now is None else now
        latest = math.floor(_grid(when / self.sample_s))
        if self._last_sample_index is None:
            first = latest
        else:
            first = max(
                self._last_sample_index + 1,
                latest - math.ceil(self.window_s / self.sample_s) + 1,
            )
        taken = []
        for index in range(first, latest + 1):
            at = index * self.sample_s
            sample = Sample(at=at, counts=self.snapshot(at))
            self.series.append(sample)
            taken.append(sample)
        if taken:
            self._last_sample_index = latest
        return taken

    @property
    def latest(self) -> Sample | None:
        """The most recent sample, or None before the first."""
        return self.series[-1] if self.series else None

    def size(self) -> int:
        """Number of stored items (buckets + machines + samples): the memory bound's gauge."""
        return (
            sum(len(b) for b in self._buckets.values())
            + len(self._buckets)
            + len(self.series)
            + len(self.malformed)
        )

    @property
    def max_buckets_per_machine(self) -> int:
        """Upper bound of buckets kept per machine."""
        return 2 * math.ceil(self.window_s / self.resolution_s) + 2

    # -- internals -----------------------------------------------------------------------
    def _bucket_of(self, t: float) -> int:
        # Right-closed buckets ((k-1)·r, k·r]: index = ceil(t / r).
        return math.ceil(_grid(t / self.resolution_s))

    def _prune(self, newest: int) -> None:
        # Samples never look back more than one window before the newest arrival (the
        # catch-up in due_samples is capped), so two windows of buckets always suffice.
        horizon = newest - self.max_buckets_per_machine + 1
        for buckets in self._buckets.values():
            while buckets and buckets[0][0] <= horizon:
                buckets.popleft()


def machine_sort_key(machine: str) -> tuple[int, int | str]:
    """Numeric machine ids in numeric order, then any others alphabetically."""
    return (0, int(machine)) if machine.isdigit() else (1, machine)

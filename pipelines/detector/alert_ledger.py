"""Which alerts were raised: one alert per (machine, CMD, PID, window), bounded in memory.

The alerts query raises an alert for a key (``machine|CMD|PID|window_start``) the first
time a micro-batch of 7b pairs holds one for it. The :class:`AlertLedger` remembers, in
the driver, which alert micro-batch raised each key. It is seeded once from the
``alerts/batch=<id>`` folders when the detector starts (so "once per key and window"
holds across restarts) and forgets keys whose window can no longer receive a pair.

When a window is final (why pruning is safe): the 7b join drops an input row whose
event time is older than the join's watermark W, and pairs rows less than
:data:`~pipelines.detector.transforms.PAIR_TOLERANCE_S` apart. So every pair the join
emits in a micro-batch with watermark W has a process event time above W − tolerance,
and a key whose window ends at or before W − tolerance gets no pair from then on. The
watermark only grows. Alerts are raised in the join query's own ``foreachBatch``; while
micro-batch N is handled, the query's last progress reports the watermark of batch
N − 1, which no later batch undercuts. :meth:`AlertLedger.observe` takes that
watermark at the end of every alert batch and prunes with it.

Pure logic: no Spark, no I/O. :mod:`pipelines.detector.alerts` does the reading and writing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

OBSERVATIONS_BEHIND = 1
"""Prune with the join watermark seen this many alert batches ago (see the module doc)."""


@dataclass(frozen=True)
class _Raised:
    batch_id: int
    window_end_s: float


class AlertLedger:
    """Alert keys raised so far, each with the alert batch that raised it.

    Args:
        pair_tolerance_s: the 7b bound: pairs are less than this many seconds apart.
        observations_behind: prune with the watermark observed this many alert batches
            ago (1: the alerts are raised by the join query itself, whose last progress
            already trails the running batch by one).
    """

    def __init__(
        self, pair_tolerance_s: float, observations_behind: int = OBSERVATIONS_BEHIND
    ) -> None:
        if observations_behind < 1:
            raise ValueError("observations_behind must be at least 1")
        self.pair_tolerance_s = pair_tolerance_s
        self._raised: dict[str, _Raised] = {}
        self._watermarks: deque[float] = deque(maxlen=observations_behind)
        self._behind = observations_behind

    def __len__(self) -> int:
        return len(self._raised)

    def __contains__(self, key: object) -> bool:
        return key in self._raised

    def record(self, keys: Mapping[str, float], batch_id: int) -> None:
        """Note that alert batch ``batch_id`` raised ``keys``.

        Args:
            keys: alert key → end of its window, epoch seconds.
            batch_id: the alert micro-batch.
        """
        for key, window_end_s in keys.items():
            self._raised[key] = _Raised(batch_id, window_end_s)

    def seed(self, raised: Iterable[tuple[str, float, int]]) -> None:
        """Load what earlier runs raised: (key, window end in epoch seconds, batch id).

        A key met twice (it cannot be, unless folders were edited) keeps the earlier batch.
        """
        for key, window_end_s, batch_id in raised:
            known = self._raised.get(key)
            if known is None or batch_id < known.batch_id:
                self._raised[key] = _Raised(batch_id, window_end_s)

    def fresh(self, keys: Mapping[str, float], batch_id: int) -> dict[str, float]:
        """The keys of ``keys`` that no EARLIER alert batch raised.

        A key recorded by ``batch_id`` itself or a later batch comes from an attempt of
        this batch that crashed before Spark committed it (the folders are seeded from
        disk): Spark re-runs the same batch on the same pairs, so it is raised again and
        its folder overwritten.

        Args:
            keys: alert key → end of its window, epoch seconds (the batch's groups).
            batch_id: the alert micro-batch being handled.

        Returns:
            The subset of ``keys`` to raise now.
        """
        fresh: dict[str, float] = {}
        for key, window_end_s in keys.items():
            known = self._raised.get(key)
            if known is None or known.batch_id >= batch_id:
                fresh[key] = window_end_s
        return fresh

    def observe(self, join_watermark_s: float | None) -> int:
        """Take the 7b join's watermark at the end of an alert batch; forget final keys.

        Args:
            join_watermark_s: the join query's watermark, epoch seconds (None: the join
                has none yet, e.g. right after a start; nothing is pruned then).

        Returns:
            How many keys were forgotten.
        """
        if join_watermark_s is None:
            return 0
        self._watermarks.append(join_watermark_s)
        if len(self._watermarks) < self._behind:
            return 0
        final_before_s = self._watermarks[0] - self.pair_tolerance_s
        final = [k for k, r in self._raised.items() if r.window_end_s <= final_before_s]
        for key in final:
            del self._raised[key]
        return len(final)

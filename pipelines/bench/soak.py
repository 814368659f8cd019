"""The soak's figures: which process is which part, and does each part's memory level off.

The soak (``tools/soak.py``, ``make soak``) runs the workbench's whole pipeline at the
brief's cadence for half an hour with one browser page open and samples, every 30 s, the
resident memory of each part of the system and how fast the page answers. Pure functions
here turn those samples into the verdict ``docs/reliability.md`` quotes:

- :func:`part_of`: a process's part, from its command line;
- :func:`levelling`: per part, the level at the start and at the end of the run and the
  trend over its second half, and whether memory levelled off (did not keep growing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pipelines.bench.probes import slope_per_min

SPARK_JVM: Final = "org.apache.spark.deploy.SparkSubmit"
"""The main class of the JVM pyspark starts for the detector's driver."""

BROKER_JVM: Final = "kafka.Kafka"

PARTS: Final = ("panel server", "detector JVM", "Spark Python workers", "broker", "producers")
"""The parts the soak samples, in the order its table and picture list them."""

MAX_GROWTH_PER_30_MIN: Final = 0.05
"""Memory levels off when the second half's trend, carried over 30 more minutes, would add
less than this share of the part's level at the end (a leak that would double a part in a
day, 4 % per 30 min, still fails it)."""

MIN_GROWTH_MIB_PER_30_MIN: Final = 8.0
"""Trends below this many MiB per 30 minutes count as level whatever the part's size (a
few pages of a small process)."""


def part_of(command_line: str) -> str | None:
    """The part a process of the workbench's run belongs to, from its command line.

    The panel server itself is known by its process id, not here; its other Python
    children (Spark's Python workers, the producers) and the two JVMs are told apart by
    what they run.
    """
    if SPARK_JVM in command_line:
        return "detector JVM"
    if BROKER_JVM in command_line:
        return "broker"
    if "pyspark.daemon" in command_line or "pyspark/daemon" in command_line:
        return "Spark Python workers"
    if " produce " in f" {command_line} ":
        return "producers"
    return None


@dataclass(frozen=True)
class Levelling:
    """How one part's resident memory moved during the soak.

    Attributes:
        part: the part's name (:data:`PARTS`).
        start_mib: median RSS over the first quarter of the samples after warm-up.
        end_mib: median RSS over the last quarter.
        peak_mib: the highest sample (after :func:`despiked`).
        slope_mib_per_30_min: least-squares trend of the second half, in MiB per 30 min.
        levels_off: the trend is below both bounds (:data:`MAX_GROWTH_PER_30_MIN` of the
            end level and :data:`MIN_GROWTH_MIB_PER_30_MIN`), or not rising at all.
    """

    part: str
    start_mib: float
    end_mib: float
    peak_mib: float
    slope_mib_per_30_min: float
    levels_off: bool


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def despiked(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Each sample replaced by the median of it and its two neighbours.

    A single sample can count a process twice: a JVM's child between its fork and its
    exec carries the JVM's command line and shares its pages (the soak saw the detector
    JVM at 3,353 MiB for one sample between two of 1,677). One such sample must not
    make a trend; a rise that lasts two samples or more stays.
    """
    if len(points) < 3:
        return list(points)
    values = [mib for _, mib in points]
    middle = [(points[i][0], _median(values[i - 1 : i + 2])) for i in range(1, len(points) - 1)]
    return [points[0], *middle, points[-1]]


def levelling(
    samples: Mapping[str, Sequence[tuple[float, float]]], *, warm_up_s: float = 120.0
) -> list[Levelling]:
    """Per part, whether its memory levelled off (over :func:`despiked` samples).

    Args:
        samples: part → (seconds since the pipeline started, RSS in MiB) at each sample;
            samples of 0 MiB (the part not running yet, or gone) are left out.
        warm_up_s: the first seconds, while the JVMs size their heaps and the charts
            fill their windows, are not part of the trend.

    Returns:
        One :class:`Levelling` per part with at least four samples after warm-up, in the
        order of :data:`PARTS` (other names after them).
    """
    order = {name: index for index, name in enumerate(PARTS)}
    result: list[Levelling] = []
    for part in sorted(samples, key=lambda name: (order.get(name, len(order)), name)):
        points = despiked([(t, mib) for t, mib in samples[part] if t >= warm_up_s and mib > 0])
        if len(points) < 4:
            continue
        quarter = max(1, len(points) // 4)
        second_half = points[len(points) // 2 :]
        slope = slope_per_min(second_half) * 30.0
        end = _median([mib for _, mib in points[-quarter:]])
        bound = max(MAX_GROWTH_PER_30_MIN * end, MIN_GROWTH_MIB_PER_30_MIN)
        result.append(
            Levelling(
                part=part,
                start_mib=_median([mib for _, mib in points[:quarter]]),
                end_mib=end,
                peak_mib=max(mib for _, mib in points),
                slope_mib_per_30_min=slope,
                levels_off=slope < bound,
            )
        )
    return result

"""How far the detections trail reality, in seconds, and whether the detector keeps up (pure).

Two delays, both from what the ingest batches report (no extra Spark job):

- **wall time**: when an ingest batch finished, how old (by its event time) was the
  newest record it scored. With records stamped at their send, that is how long the
  freshest record took from its host to a verdict; a backlog makes it grow.
- **event time**: how far the 7a watermark (the windows that are final) trails the
  newest record the detector has seen.

The level says whether to worry: ``ok``; ``behind`` (amber) when the last batch of a
stream took longer than the trigger, so batches start late; ``growing`` (red) when a
stream's backlog grew over its last :data:`GROWING_AFTER` batches.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

OK: Final = "ok"
BEHIND: Final = "behind"
GROWING: Final = "growing"
GROWING_AFTER: Final = 3
"""Batches in a row whose backlog grew before the lag counts as growing."""


@dataclass(frozen=True)
class StreamDelay:
    """What the recent ingest batches of one stream said.

    Attributes:
        stream: ``process`` or ``memory``.
        wall_s: the last batch's end minus its newest record's event time, seconds
            (None before a batch with a record).
        duration_s: the last batch's duration, seconds (None before one).
        lags: the backlog (messages not read yet) after each recent batch, oldest first;
            None where the broker could not be asked.
    """

    stream: str
    wall_s: float | None
    duration_s: float | None
    lags: Sequence[int | None] = ()


@dataclass(frozen=True)
class Delay:
    """The detector's delay as the workbench shows it."""

    wall_s: float | None
    event_s: float | None
    level: str
    reason: str

    def text(self) -> str:
        """One line, e.g. ``detections trail the newest record by 4 s (windows final 45 s
        behind it)``, or a waiting line before the first batch."""
        if self.wall_s is None:
            return "no record scored yet"
        line = f"detections trail the newest record by {_seconds(self.wall_s)}"
        if self.event_s is not None:
            line += f" (windows final {_seconds(self.event_s)} behind it)"
        return f"{line}; {self.reason}" if self.reason else line


def detector_delay(
    streams: Sequence[StreamDelay],
    *,
    newest_event_s: float | None,
    watermark_s: float | None,
    trigger_s: float,
) -> Delay:
    """The delay across both streams: the worst wall delay, the event-time one, the level.

    Args:
        streams: each stream's recent batches.
        newest_event_s: event time of the newest record seen (unix seconds).
        watermark_s: the 7a watermark (unix seconds); None before it has one.
        trigger_s: the ingest trigger, seconds.
    """
    walls = [s.wall_s for s in streams if s.wall_s is not None]
    wall = max(walls) if walls else None
    event = None
    if newest_event_s is not None and watermark_s is not None:
        event = max(0.0, newest_event_s - watermark_s)
    growing = [s.stream for s in streams if _grew(s.lags)]
    if growing:
        return Delay(wall, event, GROWING, f"the {' and '.join(growing)} backlog is growing")
    slow = [s for s in streams if s.duration_s is not None and s.duration_s > trigger_s]
    if slow:
        worst = max(slow, key=lambda s: s.duration_s or 0.0)
        return Delay(
            wall,
            event,
            BEHIND,
            f"{worst.stream} batches take {_seconds(worst.duration_s or 0.0)} "
            f"against a {trigger_s:g} s trigger",
        )
    return Delay(wall, event, OK, "")


def _grew(lags: Sequence[int | None]) -> bool:
    recent = list(lags)[-(GROWING_AFTER + 1) :]
    if len(recent) < GROWING_AFTER + 1 or any(lag is None for lag in recent):
        return False
    known = [int(lag) for lag in recent if lag is not None]
    return all(b > a for a, b in itertools.pairwise(known))


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"

"""The detector monitor's pure pieces (plain values, no Spark or Kafka)."""

from __future__ import annotations

import pytest

from pipelines.detector import transforms
from pipelines.detector.monitor import COUNTS_REPUBLISH_WINDOWS, republish_cutoff

WINDOW_S = transforms.WINDOW_S
WATERMARKS = [1_700_000_000 + step * 0.37 for step in range(0, 2_000, 7)]
"""Watermarks a few seconds apart over about 40 minutes, on and off window boundaries."""


@pytest.mark.parametrize("watermark", WATERMARKS[::25])
def test_the_cutoff_selects_the_same_windows_as_the_unrounded_one(watermark: float) -> None:
    unrounded = int(watermark) - COUNTS_REPUBLISH_WINDOWS * WINDOW_S
    cutoff = republish_cutoff(watermark)
    # Window ends are multiples of the window length (epoch-aligned windows).
    ends = [
        end * WINDOW_S
        for end in range(int(watermark) // WINDOW_S - 10, int(watermark) // WINDOW_S + 3)
    ]
    assert [end > cutoff for end in ends] == [end > unrounded for end in ends]


def test_the_cutoff_changes_once_per_window_length_not_at_every_batch() -> None:
    # A 7a batch every few seconds: the query text (and the code Spark generates for its
    # filter) is new only when the cutoff moves to the next window boundary.
    cutoffs = [republish_cutoff(w) for w in WATERMARKS]
    span_s = WATERMARKS[-1] - WATERMARKS[0]
    assert len(set(cutoffs)) <= span_s // WINDOW_S + 2
    assert all(c % WINDOW_S == 0 for c in cutoffs)
    assert cutoffs == sorted(cutoffs)

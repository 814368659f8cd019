"""The alert ledger: one alert per key and window, across re-runs, pruned by the watermark."""

from __future__ import annotations

from pipelines.detector.alert_ledger import AlertLedger

TOLERANCE_S = 30.0
WINDOW_END_S = 1_000_120.0
"""End of the 2-minute window [1_000_000, 1_000_120) of the test keys."""


def test_a_key_raised_by_an_earlier_batch_is_not_fresh_again() -> None:
    ledger = AlertLedger(pair_tolerance_s=TOLERANCE_S)
    assert ledger.fresh({"a": WINDOW_END_S}, batch_id=0) == {"a": WINDOW_END_S}
    ledger.record({"a": WINDOW_END_S}, batch_id=0)
    assert ledger.fresh({"a": WINDOW_END_S, "b": WINDOW_END_S}, batch_id=1) == {"b": WINDOW_END_S}


def test_a_rerun_batch_raises_its_own_keys_again() -> None:
    """Seeded from the folder of an attempt that crashed before the commit: same batch id."""
    ledger = AlertLedger(pair_tolerance_s=TOLERANCE_S)
    ledger.seed([("a", WINDOW_END_S, 3), ("b", WINDOW_END_S, 2)])
    assert ledger.fresh({"a": WINDOW_END_S, "b": WINDOW_END_S}, batch_id=3) == {"a": WINDOW_END_S}


def test_seeding_keeps_the_earliest_batch_of_a_key() -> None:
    ledger = AlertLedger(pair_tolerance_s=TOLERANCE_S)
    ledger.seed([("a", WINDOW_END_S, 5), ("a", WINDOW_END_S, 1)])
    assert ledger.fresh({"a": WINDOW_END_S}, batch_id=2) == {}


def test_keys_are_pruned_with_the_last_watermark_by_default() -> None:
    ledger = AlertLedger(pair_tolerance_s=TOLERANCE_S)
    ledger.record({"old": WINDOW_END_S, "new": WINDOW_END_S + 120}, batch_id=0)
    final_w = WINDOW_END_S + TOLERANCE_S  # a window ending at or before W - 30 s is final
    assert ledger.observe(None) == 0  # no watermark yet: nothing is known to be final
    assert ledger.observe(final_w - 0.001) == 0
    assert len(ledger) == 2
    assert ledger.observe(final_w) == 1
    assert "old" not in ledger and "new" in ledger
    assert ledger.observe(final_w + 120) == 1
    assert len(ledger) == 0


def test_keys_can_be_pruned_with_a_watermark_seen_batches_earlier() -> None:
    ledger = AlertLedger(pair_tolerance_s=TOLERANCE_S, observations_behind=2)
    ledger.record({"old": WINDOW_END_S, "new": WINDOW_END_S + 120}, batch_id=0)
    final_w = WINDOW_END_S + TOLERANCE_S
    assert ledger.observe(final_w) == 0  # one observation: a batch may still hold older rows
    assert len(ledger) == 2
    assert ledger.observe(final_w + 500) == 1  # prunes with final_w, not with the newest
    assert "old" not in ledger and "new" in ledger


def test_a_window_ending_after_the_bound_is_kept() -> None:
    ledger = AlertLedger(pair_tolerance_s=TOLERANCE_S)
    ledger.record({"a": WINDOW_END_S}, batch_id=0)
    just_before = WINDOW_END_S + TOLERANCE_S - 0.001
    ledger.observe(just_before)
    assert ledger.observe(just_before) == 0
    assert "a" in ledger

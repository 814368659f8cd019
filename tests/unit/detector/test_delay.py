"""The delay line and its colour, from what ingest batches report."""

from __future__ import annotations

from pipelines.detector.delay import BEHIND, GROWING, OK, StreamDelay, detector_delay


def test_a_detector_that_keeps_up_says_how_far_it_trails_and_is_ok() -> None:
    delay = detector_delay(
        [StreamDelay("process", 2.4, 1.1, [0, 3, 0, 2]), StreamDelay("memory", 3.2, 0.9, [1, 0])],
        newest_event_s=1_000.0,
        watermark_s=955.0,
        trigger_s=5.0,
    )
    assert (delay.wall_s, delay.event_s, delay.level) == (3.2, 45.0, OK)
    assert (
        delay.text() == "detections trail the newest record by 3.2 s (windows final 45 s behind it)"
    )


def test_batches_longer_than_the_trigger_are_amber_and_say_which() -> None:
    delay = detector_delay(
        [StreamDelay("process", 12.0, 8.2, [10, 5, 9, 4]), StreamDelay("memory", 9.0, 4.0)],
        newest_event_s=None,
        watermark_s=None,
        trigger_s=5.0,
    )
    assert delay.level == BEHIND
    assert delay.text() == (
        "detections trail the newest record by 12 s; process batches take 8.2 s against a "
        "5 s trigger"
    )


def test_a_backlog_growing_batch_after_batch_is_red() -> None:
    delay = detector_delay(
        [StreamDelay("memory", 30.0, 9.0, [100, 400, 900, 2_000])],
        newest_event_s=None,
        watermark_s=None,
        trigger_s=5.0,
    )
    assert delay.level == GROWING
    assert delay.text().endswith("the memory backlog is growing")


def test_a_backlog_that_shrank_once_or_was_not_known_is_not_growing() -> None:
    for lags in ([100, 400, 300, 2_000], [100, 400, None, 2_000], [1, 2, 3]):
        delay = detector_delay(
            [StreamDelay("memory", 3.0, 1.0, lags)],
            newest_event_s=None,
            watermark_s=None,
            trigger_s=5.0,
        )
        assert delay.level == OK, lags


def test_before_any_record_was_scored_it_says_so() -> None:
    delay = detector_delay([], newest_event_s=None, watermark_s=None, trigger_s=5.0)
    assert (delay.level, delay.text()) == (OK, "no record scored yet")

"""The checks at start, decided on plain values (pipelines/detector/preflight.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.detector.preflight import (
    Change,
    alerts_problem,
    changed_settings,
    checkpoint_settings,
    decode_settings,
    encode_settings,
    settings_changed_message,
)

CHECKPOINTS = Path("/data/checkpoints")
OUTPUTS = Path("/data/out")
ALERTS = OUTPUTS / "alerts.parquet"
PAIRS = CHECKPOINTS / "attack_pairs"


def _settings(**overrides: Any) -> dict[str, str | int | float]:
    options: dict[str, Any] = {
        "shuffle_partitions": 2,
        "read_topics": {"process": "p.v1", "memory": "m.v1"},
        "watermark_s": 20,
        "window_s": 120,
        "pair_tolerance_s": 30,
    }
    options.update(overrides)
    return checkpoint_settings(**options)


def test_settings_are_flat_and_name_each_read_topic() -> None:
    assert _settings() == {
        "pair_tolerance_s": 30,
        "spark.sql.shuffle.partitions": 2,
        "topics.memory": "m.v1",
        "topics.process": "p.v1",
        "watermark_s": 20,
        "window_s": 120,
    }


def test_a_record_reads_back_equal_to_what_was_written() -> None:
    written = _settings()
    assert decode_settings(encode_settings(written), Path("x.json")) == written
    assert changed_settings(decode_settings(encode_settings(written), Path("x")), written) == []


@pytest.mark.parametrize(
    "text", ["{not json", "[]", '{"schema_version": 2, "settings": {}}', '{"schema_version": 1}']
)
def test_a_corrupt_record_is_refused_naming_the_file(text: str) -> None:
    with pytest.raises(ValueError, match=r"/c/detector-settings\.json"):
        decode_settings(text, Path("/c/detector-settings.json"))


def test_a_changed_shuffle_partition_count_is_listed_old_to_new() -> None:
    changes = changed_settings(_settings(), _settings(shuffle_partitions=4))
    assert changes == [Change("spark.sql.shuffle.partitions", 2, 4)]
    assert str(changes[0]) == "spark.sql.shuffle.partitions 2 → 4"


def test_every_difference_is_listed_and_a_missing_setting_counts() -> None:
    recorded = _settings(read_topics={"process": "p.v1", "memory": "m.v1"})
    current = _settings(read_topics={"process": "p.v2", "memory_attacks": "a.v1"}, window_s=60)
    assert [str(c) for c in changed_settings(recorded, current)] == [
        "topics.memory m.v1 → (none)",
        "topics.memory_attacks (none) → a.v1",
        "topics.process p.v1 → p.v2",
        "window_s 120 → 60",
    ]


def test_an_integer_and_the_same_float_are_not_a_change() -> None:
    assert changed_settings(_settings(watermark_s=20), _settings(watermark_s=20.0)) == []


def test_the_settings_message_is_one_line_naming_changes_record_and_remedy() -> None:
    record = CHECKPOINTS / "detector-settings.json"
    message = settings_changed_message(
        [Change("spark.sql.shuffle.partitions", 2, 4)], record, CHECKPOINTS, OUTPUTS
    )
    assert "\n" not in message
    assert "spark.sql.shuffle.partitions 2 → 4" in message
    assert str(record) in message
    assert "restore those settings" in message
    assert f"deleting the checkpoint folder {CHECKPOINTS}" in message
    assert f"the output folder {OUTPUTS}" in message


def _alerts(**facts: Any) -> str | None:
    defaults: dict[str, Any] = {
        "alerts_dir_exists": True,
        "last_alert_batch": None,
        "last_planned_batch": None,
        "recorded": True,
    }
    defaults.update(facts)
    return alerts_problem(
        alerts_dir=ALERTS,
        pairs_checkpoint=PAIRS,
        checkpoint_dir=CHECKPOINTS,
        output_dir=OUTPUTS,
        **defaults,
    )


@pytest.mark.parametrize(
    "facts",
    [
        {"alerts_dir_exists": False, "recorded": False},  # the very first start
        {},  # a first start that raised nothing before it stopped
        {"last_planned_batch": 7},  # batches ran, none raised an alert
        {"last_alert_batch": 5, "last_planned_batch": 9},
        {"last_alert_batch": 9, "last_planned_batch": 9},  # crashed before its commit
        # A checkpoint from before the record existed: the folder proves nothing.
        {"alerts_dir_exists": False, "last_planned_batch": 3, "recorded": False},
    ],
)
def test_alerts_that_belong_to_their_checkpoint_pass(facts: dict[str, Any]) -> None:
    assert _alerts(**facts) is None


def test_alerts_without_their_checkpoint_are_refused_in_one_line() -> None:
    message = _alerts(last_alert_batch=4, last_planned_batch=None)
    assert message is not None and "\n" not in message
    assert str(ALERTS) in message and str(PAIRS) in message
    assert "has no batch" in message and "raise those alerts again" in message
    assert "restore the checkpoint" in message
    assert f"deleting the checkpoint folder {CHECKPOINTS}" in message


def test_alerts_past_the_checkpoints_last_batch_are_refused() -> None:
    message = _alerts(last_alert_batch=12, last_planned_batch=3)
    assert message is not None
    assert "up to batch 12" in message and "ran only up to batch 3" in message


def test_a_checkpoint_whose_alerts_folder_is_gone_is_refused() -> None:
    message = _alerts(alerts_dir_exists=False, last_planned_batch=6)
    assert message is not None and "\n" not in message
    assert f"the alerts folder {ALERTS} is gone" in message
    assert "ran batches up to 6" in message and "restore the folder" in message
    assert f"the output folder {OUTPUTS}" in message

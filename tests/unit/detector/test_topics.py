"""DetectorTopics: the names a run uses (pure; nothing is created)."""

from __future__ import annotations

from pipelines.config import Settings
from pipelines.detector.layout import DetectorTopics


def test_unique_names_every_role_under_the_prefix_and_differs_per_call() -> None:
    first, second = DetectorTopics.unique("test.x"), DetectorTopics.unique("test.x")
    names = first.names()
    assert set(names) == {
        "process", "memory", "process_attacks", "memory_attacks", "window_counts", "alerts",
        "health",
    }  # fmt: skip
    assert all(name.startswith(f"test.x.{role.replace('_', '-')}.") for role, name in names.items())
    assert len(set(names.values())) == len(names)
    assert set(names.values()).isdisjoint(second.names().values())


def test_names_round_trip_through_the_constructor() -> None:
    topics = DetectorTopics.from_settings(Settings())
    assert DetectorTopics(**topics.names()) == topics
    assert topics.source("memory") == topics.memory
    assert topics.attacks("process") == topics.process_attacks

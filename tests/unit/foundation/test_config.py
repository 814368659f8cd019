"""The settings tree resolves defaults → env → overrides, and stays frozen."""

from __future__ import annotations

import pydantic
import pytest

from pipelines.config import Settings, load_settings, replace


def test_defaults_point_at_the_embedded_broker_and_local_spark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("STOPHACKING_KAFKA__BOOTSTRAP_SERVERS", "STOPHACKING_SPARK__MASTER"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.spark.master == "local[2]"
    assert settings.kafka.topics.process == "stophacking.process.v1"


def test_env_overrides_defaults_and_flags_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOPHACKING_KAFKA__BOOTSTRAP_SERVERS", "kafka-a:9092,kafka-b:9092")
    monkeypatch.setenv("STOPHACKING_SPARK__MASTER", "spark://master:7077")
    from_env = load_settings()
    assert from_env.kafka.bootstrap_servers == "kafka-a:9092,kafka-b:9092"
    assert from_env.spark.master == "spark://master:7077"

    flagged = load_settings({"kafka.bootstrap_servers": "flag:9092", "spark.master": None})
    assert flagged.kafka.bootstrap_servers == "flag:9092"
    assert flagged.spark.master == "spark://master:7077", "a flag left unset falls through"


def test_raw_client_keys_pass_through_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "STOPHACKING_KAFKA__EXTRA", '{"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}'
    )
    monkeypatch.setenv("STOPHACKING_SPARK__EXTRA", '{"spark.executor.memory": "4g"}')
    settings = load_settings()
    assert settings.kafka.extra == {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}
    assert settings.spark.extra == {"spark.executor.memory": "4g"}


def test_settings_are_frozen_and_replace_returns_a_copy() -> None:
    settings = Settings()
    with pytest.raises(pydantic.ValidationError):
        settings.kafka.bootstrap_servers = "elsewhere:9092"  # type: ignore[misc]
    changed = replace(settings, {"broker.port": 19092, "kafka.topics.alerts": "x.alerts.v2"})
    assert changed.broker.port == 19092
    assert changed.kafka.topics.alerts == "x.alerts.v2"
    assert settings.broker.port == 9092


def test_unknown_nested_key_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError):
        replace(Settings(), {"kafka.bootstrap_server": "typo:9092"})


def test_mapping_values_with_dotted_keys_are_set_intact() -> None:
    changed = replace(
        Settings(),
        {"spark.extra": {"spark.ui.showConsoleProgress": "false", "spark.executor.cores": "2"}},
    )
    assert changed.spark.extra == {
        "spark.ui.showConsoleProgress": "false",
        "spark.executor.cores": "2",
    }
    flagged = load_settings({"kafka.extra": {"ssl.endpoint.identification": "none"}})
    assert flagged.kafka.extra == {"ssl.endpoint.identification": "none"}


def test_detector_settings_defaults_env_and_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STOPHACKING_DETECTOR__TRIGGER_S", "STOPHACKING_DETECTOR__OUTPUT_DIR"):
        monkeypatch.delenv(name, raising=False)
    defaults = replace(load_settings(), {"home": "/srv/sh"})
    assert defaults.detector.trigger_s == 1.0
    assert defaults.detector.monitor_trigger_s == 2.0
    assert defaults.detector.starting_offsets == "earliest"
    assert defaults.detector.max_offsets_per_trigger is None
    assert defaults.detector.counts_table == "attack_counts"
    assert defaults.detector.drain_timeout_s == 30.0
    assert defaults.detector.attack_topics.process == "stophacking.attacks.process.v1"
    assert str(defaults.detector_output_dir) == "/srv/sh/detector"
    assert str(defaults.detector_checkpoint_dir) == "/srv/sh/checkpoints/detector"

    monkeypatch.setenv("STOPHACKING_DETECTOR__TRIGGER_S", "2")
    monkeypatch.setenv("STOPHACKING_DETECTOR__OUTPUT_DIR", "/data/out")
    from_env = load_settings({"detector.max_offsets_per_trigger": 500})
    assert from_env.detector.trigger_s == 2.0
    assert str(from_env.detector_output_dir) == "/data/out"
    assert from_env.detector.max_offsets_per_trigger == 500


@pytest.mark.parametrize(
    "override",
    [
        {"detector.trigger_s": 0},
        {"detector.starting_offsets": "newest"},
        {"detector.max_offsets_per_trigger": 0},
        {"detector.drain_timeout_s": -1},
    ],
)
def test_detector_settings_are_validated(override: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        replace(Settings(), override)


def test_topic_replication_settings_default_to_a_single_broker_and_reach_topic_configs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("STOPHACKING_KAFKA__REPLICATION_FACTOR", "STOPHACKING_KAFKA__MIN_INSYNC_REPLICAS"):
        monkeypatch.delenv(name, raising=False)
    default = load_settings().kafka
    assert (default.replication_factor, default.min_insync_replicas) == (1, None)
    assert default.topic_configs() == {}
    monkeypatch.setenv("STOPHACKING_KAFKA__REPLICATION_FACTOR", "3")
    monkeypatch.setenv("STOPHACKING_KAFKA__MIN_INSYNC_REPLICAS", "2")
    cluster = load_settings().kafka
    assert cluster.replication_factor == 3
    assert cluster.topic_configs() == {"min.insync.replicas": "2"}


def test_min_insync_replicas_above_the_replication_factor_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"exceeds kafka\.replication_factor"):
        load_settings({"kafka.replication_factor": 2, "kafka.min_insync_replicas": 3})

"""kafka-python security keys → the Java client's (Spark's Kafka options), and redaction."""

from __future__ import annotations

import pytest

from pipelines.config import KafkaSettings
from pipelines.errors import ConfigError
from pipelines.kafka_io import client_config
from pipelines.kafka_security import (
    REDACTED,
    SCRAM_LOGIN_MODULE,
    jaas_config,
    java_client_config,
    redacted,
    scrub,
    secret_values,
    spark_kafka_options,
)

SASL_SSL = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "alice",
    "sasl_plain_password": 'pa"ss\\word',
    "ssl_cafile": "/tls/ca.pem",
}


def test_sasl_ssl_keys_become_a_jaas_line_and_a_pem_truststore() -> None:
    java = java_client_config(SASL_SSL)
    assert java == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": (
            f'{SCRAM_LOGIN_MODULE} required username="alice" password="pa\\"ss\\\\word";'
        ),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": "/tls/ca.pem",
    }
    # The old naive rename made keys the Java client does not know.
    assert not {"sasl.plain.password", "ssl.cafile"} & set(java)


def test_plain_mechanism_is_the_default_and_hostname_check_can_be_turned_off() -> None:
    java = java_client_config(
        {"sasl_plain_username": "u", "sasl_plain_password": "p", "ssl_check_hostname": False}
    )
    assert java["sasl.jaas.config"].startswith("org.apache.kafka.common.security.plain.")
    assert java["ssl.endpoint.identification.algorithm"] == ""


def test_other_keys_are_renamed_and_java_keys_win() -> None:
    java = java_client_config(
        {
            "request_timeout_ms": 5000,
            "enable_idempotence": True,
            "api_version": (3, 0),
            **SASL_SSL,
            "sasl.jaas.config": "given;",
        }
    )
    assert java["request.timeout.ms"] == "5000"
    assert java["enable.idempotence"] == "true"
    assert java["sasl.jaas.config"] == "given;"
    assert "api.version" not in java


def test_one_pem_file_for_certificate_and_key_is_a_pem_keystore() -> None:
    java = java_client_config(
        {"ssl_certfile": "/c.pem", "ssl_keyfile": "/c.pem", "ssl_password": "k"}
    )
    assert java == {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": "/c.pem",
        "ssl.key.password": "k",
    }


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"sasl_plain_password": "p"}, "sasl_plain_username is missing"),
        ({"sasl_mechanism": "GSSAPI", "sasl_plain_username": "u", "sasl_plain_password": "p"},
         "GSSAPI"),
        ({"ssl_crlfile": "/crl.pem"}, "ssl_crlfile"),
        ({"ssl_certfile": "/c.pem", "ssl_keyfile": "/k.pem"}, "two files"),
        ({"ssl_keyfile": "/k.pem"}, "without ssl_certfile"),
    ],
)  # fmt: skip
def test_keys_without_a_translation_are_refused_by_name(extra: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named) as caught:
        java_client_config(extra)
    assert "\n" not in str(caught.value)


def test_spark_options_are_prefixed_and_the_extra_wins_over_defaults() -> None:
    kafka = KafkaSettings(bootstrap_servers="h:9093", extra={**SASL_SSL, "fetch_max_wait_ms": 9})
    options = spark_kafka_options(kafka, {"fetch.max.wait.ms": "500", "linger.ms": "5"})
    assert options["kafka.bootstrap.servers"] == "h:9093"
    assert options["kafka.fetch.max.wait.ms"] == "9"
    assert options["kafka.linger.ms"] == "5"
    assert options["kafka.ssl.truststore.location"] == "/tls/ca.pem"
    assert all(key.startswith("kafka.") for key in options)


def test_kafka_python_clients_get_no_java_keys() -> None:
    kafka = KafkaSettings(extra={**SASL_SSL, "sasl.jaas.config": "x;"})
    config = client_config(kafka)
    assert config["sasl_plain_password"] == SASL_SSL["sasl_plain_password"]
    assert "sasl.jaas.config" not in config


def test_redaction_hides_every_secret_value() -> None:
    extra = {**SASL_SSL, "ssl_password": "k3y", "sasl.jaas.config": "x password=y;"}
    shown = redacted(extra)
    assert shown["sasl_plain_password"] == shown["ssl_password"] == REDACTED
    assert shown["sasl.jaas.config"] == REDACTED
    assert shown["sasl_plain_username"] == "alice"
    text = f"failed with {SASL_SSL['sasl_plain_password']} and k3y"
    assert scrub(text, secret_values(extra)) == f"failed with {REDACTED} and {REDACTED}"


def test_jaas_config_refuses_a_mechanism_without_password() -> None:
    with pytest.raises(ConfigError, match="OAUTHBEARER"):
        jaas_config("OAUTHBEARER", "u", "p")

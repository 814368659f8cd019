"""The SASL_SSL broker's pure parts: listener properties, SCRAM arguments, settings."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pydantic
import pytest

from pipelines.broker.security import (
    BROKER_USER,
    BrokerTls,
    admin_kafka,
    salted_scram,
    scram_arguments,
    secure_properties,
    subject_alternative_names,
)
from pipelines.config import BrokerSecuritySettings, KafkaSettings, load_settings

TLS = BrokerTls(Path("/t/broker.p12"), Path("/t/ca.pem"), "storepw", "brokerpw")
BASE = "\n".join(
    [
        "process.roles=broker,controller",
        "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        "advertised.listeners=PLAINTEXT://127.0.0.1:9092",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs=/data",
    ]
)


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_the_client_listener_becomes_sasl_ssl_and_the_controller_ssl_with_client_certs() -> None:
    props = _props(secure_properties(BASE, BrokerSecuritySettings(protocol="SASL_SSL"), TLS))
    assert props["listeners"] == "SASL_SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:9092"
    assert props["listener.security.protocol.map"] == "CONTROLLER:SSL,SASL_SSL:SASL_SSL"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    jaas = props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert f'username="{BROKER_USER}" password="brokerpw"' in jaas
    assert props["ssl.truststore.location"] == "/t/ca.pem"
    assert props["log.dirs"] == "/data" and props["process.roles"] == "broker,controller"


def test_scram_arguments_carry_salted_passwords_only() -> None:
    security = BrokerSecuritySettings(
        protocol="SASL_SSL", mechanism="SCRAM-SHA-256", users={"alice": "s3cret"}
    )
    salt = {"alice": b"0123456789abcdef", BROKER_USER: b"fedcba9876543210"}
    arguments = scram_arguments(security, TLS, salt)
    assert arguments[::2] == ["--add-scram", "--add-scram"]
    assert not any("s3cret" in a or "brokerpw" in a for a in arguments)
    alice = arguments[1]
    assert alice.startswith("SCRAM-SHA-256=[name=alice,iterations=8192,")
    expected = hashlib.pbkdf2_hmac("sha256", b"s3cret", salt["alice"], 8192)
    assert f'saltedpassword="{base64.b64encode(expected).decode()}"]' in alice
    assert salted_scram("SCRAM-SHA-512", "a", "p", b"s" * 16) == salted_scram(
        "SCRAM-SHA-512", "a", "p", b"s" * 16
    )


def test_readiness_uses_the_broker_s_own_user_only_when_secured() -> None:
    kafka = KafkaSettings(extra={"retries": 1})
    assert admin_kafka(kafka, None, "SCRAM-SHA-512") is kafka
    own = admin_kafka(kafka, TLS, "SCRAM-SHA-512").extra
    assert own["sasl_plain_username"] == BROKER_USER and own["ssl_cafile"] == "/t/ca.pem"


def test_certificate_names_cover_the_host_and_loopback() -> None:
    assert subject_alternative_names("127.0.0.1") == "dns:localhost,ip:127.0.0.1"
    assert subject_alternative_names("kafka.lan") == "dns:localhost,ip:127.0.0.1,dns:kafka.lan"


def test_security_settings_default_to_plaintext_and_hide_passwords(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().broker.security.protocol == "PLAINTEXT"
    monkeypatch.setenv("STOPHACKING_BROKER__SECURITY__PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STOPHACKING_BROKER__SECURITY__USERS", '{"Alice": "pw-123"}')
    security = load_settings().broker.security
    assert security.protocol == "SASL_SSL"
    assert security.users["Alice"].get_secret_value() == "pw-123"
    assert "pw-123" not in repr(load_settings()) and "pw-123" not in str(security)


def test_user_names_the_storage_tool_cannot_take_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="user name 'a,b'"):
        BrokerSecuritySettings(users={"a,b": "p"})


def test_settings_errors_and_reprs_carry_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOPHACKING_BROKER__SECURITY__USERS", '{"a b": "hunter2-pw"}')
    with pytest.raises(pydantic.ValidationError) as caught:
        load_settings()
    assert "user name 'a b'" in str(caught.value) and "hunter2-pw" not in str(caught.value)
    monkeypatch.delenv("STOPHACKING_BROKER__SECURITY__USERS")
    monkeypatch.setenv("STOPHACKING_KAFKA__EXTRA__SASL_PLAIN_PASSWORD", "hunter2-pw")
    settings = load_settings()
    assert settings.kafka.extra["sasl_plain_password"] == "hunter2-pw"
    assert "hunter2-pw" not in repr(settings) and "hunter2-pw" not in str(settings.kafka)

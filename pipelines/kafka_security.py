"""Kafka client security keys: kafka-python's spelling → the Java client's, and redaction.

``kafka.extra`` holds kafka-python keyword arguments (``security_protocol``,
``sasl_plain_password``, ``ssl_cafile`` …) because most of the product's clients are
kafka-python ones. Spark's Kafka source and sink are the Java client, which spells the
same things differently and sometimes as one key: a user name and password become a
JAAS line (``sasl.jaas.config``), a CA file becomes a PEM truststore. A naive
``_`` → ``.`` rename gets those wrong, and the Java client then fails at its first
connection with an error far from the setting that caused it; this module translates
them, or says at once which key it cannot translate.

Keys that already contain a dot are Java keys: they go to Spark as given (and win over a
translation) and are left out of kafka-python's keyword arguments. That is the escape
hatch for what has no kafka-python spelling (Kerberos keytabs, OAuth callbacks).

Pure: no Kafka import, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from pipelines.config import REDACTED, SECRET_KEY, KafkaSettings, redacted
from pipelines.errors import ConfigError

__all__ = [
    "REDACTED",
    "jaas_config",
    "java_client_config",
    "python_client_keys",
    "redacted",
    "scrub",
    "secret_values",
    "spark_kafka_options",
]  # fmt: skip

PLAIN_LOGIN_MODULE: Final = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_LOGIN_MODULE: Final = "org.apache.kafka.common.security.scram.ScramLoginModule"
LOGIN_MODULES: Final = {
    "PLAIN": PLAIN_LOGIN_MODULE,
    "SCRAM-SHA-256": SCRAM_LOGIN_MODULE,
    "SCRAM-SHA-512": SCRAM_LOGIN_MODULE,
}
"""SASL mechanisms whose JAAS line is made from a user name and a password."""

DIRECT: Final = {
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_kerberos_service_name": "sasl.kerberos.service.name",
}
"""kafka-python keys with a one-to-one Java key."""

HANDLED: Final = frozenset(
    {"sasl_plain_username", "sasl_plain_password", "ssl_cafile", "ssl_check_hostname",
     "ssl_certfile", "ssl_keyfile", "ssl_password"}
)  # fmt: skip
"""kafka-python keys translated below into one or more Java keys."""

UNTRANSLATABLE: Final = {
    "ssl_context": "a Python SSLContext object",
    "ssl_crlfile": "the Java client has no CRL file setting",
    "ssl_ciphers": "OpenSSL cipher strings are not Java suite names (give ssl.cipher.suites)",
    "sasl_oauth_token_provider": "a Python object (give sasl.jaas.config and "
    "sasl.login.callback.handler.class)",
    "sasl_kerberos_name": "a Python object (give sasl.jaas.config)",
    "sasl_kerberos_domain_name": "give sasl.jaas.config",
}
"""kafka-python security keys with no Java equivalent, and what to give instead."""

KAFKA_PYTHON_ONLY: Final = frozenset({"api_version", "api_version_auto_timeout_ms"})
"""kafka-python keys that mean nothing to the Java client (left out of its options)."""


def is_java_key(key: str) -> bool:
    """A key spelled the Java client's way (``sasl.jaas.config``): it holds a dot."""
    return "." in key


def python_client_keys(extra: Mapping[str, Any]) -> dict[str, Any]:
    """The kafka-python keyword arguments among ``extra`` (its Java keys left out)."""
    return {k: v for k, v in extra.items() if not is_java_key(k)}


def jaas_quote(value: str) -> str:
    """``value`` as a double-quoted JAAS option value (backslash and quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def jaas_config(mechanism: str, username: str, password: str) -> str:
    """The ``sasl.jaas.config`` line of a user name/password mechanism (PLAIN, SCRAM).

    Raises:
        ConfigError: ``mechanism`` takes no user name and password.
    """
    module = LOGIN_MODULES.get(mechanism.upper())
    if module is None:
        raise ConfigError(
            f"kafka.extra: sasl_mechanism {mechanism!r} takes no user name and password; "
            f"use one of {', '.join(LOGIN_MODULES)} or give 'sasl.jaas.config' itself"
        )
    return f"{module} required username={jaas_quote(username)} password={jaas_quote(password)};"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def java_client_config(extra: Mapping[str, Any]) -> dict[str, str]:
    """The Java client's properties for the kafka-python keys in ``extra``.

    Security keys are translated (a user name and password → ``sasl.jaas.config``; a CA
    file → a PEM truststore; ``ssl_check_hostname=False`` → no endpoint identification);
    other plain values are renamed ``_`` → ``.`` (``request_timeout_ms`` →
    ``request.timeout.ms``); keys with a dot are Java keys and are kept as given, over
    any translation.

    Raises:
        ConfigError: a key has no Java equivalent, or the keys contradict each other
            (a password without a user name, a key file apart from its certificate).
    """
    java: dict[str, str] = {}
    plain = python_client_keys(extra)
    given = {k: v for k, v in extra.items() if is_java_key(k)}
    for key, value in plain.items():
        if key in UNTRANSLATABLE and key not in _covered_by(given):
            raise ConfigError(
                f"kafka.extra: {key} has no equivalent in the Java client that Spark's Kafka "
                f"source uses ({UNTRANSLATABLE[key]}); give the Java keys in kafka.extra"
            )
        if key in DIRECT:
            java[DIRECT[key]] = _text(value)
        elif key in HANDLED or key in UNTRANSLATABLE or key in KAFKA_PYTHON_ONLY:
            continue
        elif isinstance(value, str | int | float | bool):
            java[key.replace("_", ".")] = _text(value)
    java.update(_sasl(plain, given))
    java.update(_ssl(plain))
    java.update({k: _text(v) for k, v in given.items()})
    return java


def spark_kafka_options(
    kafka: KafkaSettings, defaults: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Options of Spark's Kafka source and sink: ``kafka.`` + each Java client property.

    Args:
        kafka: bootstrap servers and ``kafka.extra`` (translated by
            :func:`java_client_config`, which wins over ``defaults``).
        defaults: Java client properties of the caller (``fetch.max.wait.ms``).

    Raises:
        ConfigError: see :func:`java_client_config`.
    """
    java = {"bootstrap.servers": kafka.bootstrap_servers, **(defaults or {})}
    java.update(java_client_config(kafka.extra))
    return {f"kafka.{key}": value for key, value in java.items()}


def _covered_by(given: Mapping[str, Any]) -> set[str]:
    """kafka-python keys whose job the given Java keys already do."""
    covered: set[str] = set()
    if "sasl.jaas.config" in given:
        covered |= {"sasl_oauth_token_provider", "sasl_kerberos_name", "sasl_kerberos_domain_name"}
    if "ssl.cipher.suites" in given:
        covered.add("ssl_ciphers")
    return covered


def _sasl(plain: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, str]:
    username = plain.get("sasl_plain_username")
    password = plain.get("sasl_plain_password")
    if username is None and password is None:
        return {}
    if username is None or password is None:
        missing = "sasl_plain_username" if username is None else "sasl_plain_password"
        raise ConfigError(f"kafka.extra: {missing} is missing (both or neither are needed)")
    if "sasl.jaas.config" in given:
        return {}
    mechanism = str(plain.get("sasl_mechanism") or "PLAIN")
    return {"sasl.jaas.config": jaas_config(mechanism, str(username), str(password))}


def _ssl(plain: Mapping[str, Any]) -> dict[str, str]:
    java: dict[str, str] = {}
    if plain.get("ssl_cafile"):
        java["ssl.truststore.type"] = "PEM"
        java["ssl.truststore.location"] = str(plain["ssl_cafile"])
    if plain.get("ssl_check_hostname") is False:
        java["ssl.endpoint.identification.algorithm"] = ""
    certfile, keyfile = plain.get("ssl_certfile"), plain.get("ssl_keyfile")
    if keyfile and not certfile:
        raise ConfigError("kafka.extra: ssl_keyfile is given without ssl_certfile")
    if certfile:
        if keyfile and str(keyfile) != str(certfile):
            # The Java client's PEM keystore is one file holding the key and the chain.
            raise ConfigError(
                "kafka.extra: ssl_certfile and ssl_keyfile are two files; the Java client "
                "that Spark uses needs one PEM file holding both (give that file as both, "
                "or give ssl.keystore.* keys in kafka.extra)"
            )
        java["ssl.keystore.type"] = "PEM"
        java["ssl.keystore.location"] = str(certfile)
        if plain.get("ssl_password") is not None:
            java["ssl.key.password"] = str(plain["ssl_password"])
    return java


def secret_values(extra: Mapping[str, Any]) -> list[str]:
    """The secret strings among ``extra``'s values (to scrub them out of texts)."""
    return [str(v) for k, v in extra.items() if SECRET_KEY.search(k) and str(v)]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced (longest first)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text

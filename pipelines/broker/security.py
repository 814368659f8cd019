"""The embedded broker's SASL_SSL listener: certificate, SCRAM users, listener properties.

``broker.security.protocol = "SASL_SSL"`` turns the embedded broker's client listener
into TLS + SCRAM (no anonymous client gets past the handshake). What it takes:

- **a certificate**, made on first start with the JDK's ``keytool`` into ``tls_dir``: one
  self-signed key pair whose names are the broker's host (and loopback), kept in a
  PKCS12 keystore; its certificate in ``ca.pem`` is what clients trust (``ssl_cafile``).
- **SCRAM users**, written into the storage when it is formatted (KRaft keeps them in
  the metadata log). The storage tool is given salted passwords computed here, never the
  passwords themselves, so no password is on a command line.
- **the broker's own secrets** (keystore password; the password of its own SCRAM user,
  which the listener needs for inter-broker traffic and which readiness checks use),
  generated once into ``tls_dir/broker-secrets.json`` (mode 0600).
- **listener properties**: the client listener becomes ``SASL_SSL``; the controller
  listener becomes ``SSL`` with client certificates required (SCRAM cannot secure it:
  the controller reads the users from the log it serves), so a client without the
  broker's key cannot reach either port.

:func:`secure_properties` and :func:`scram_arguments` are pure; the rest is the I/O
(keytool, the secrets file, the storage's record of its users).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pipelines.config import BrokerSecuritySettings, KafkaSettings, Settings
from pipelines.errors import BrokerStartError, MissingToolError
from pipelines.kafka_security import jaas_config, scrub

BROKER_USER: Final = "stophacking-broker"
"""The broker's own SCRAM user (inter-broker traffic, readiness and status checks)."""
CA_FILE: Final = "ca.pem"
KEYSTORE_FILE: Final = "broker.p12"
SECRETS_FILE: Final = "broker-secrets.json"
STORAGE_RECORD: Final = "stophacking-security.json"
"""Beside the storage: which SCRAM users it was formatted with (names only)."""
SCRAM_ITERATIONS: Final = 8192
CLIENT_LISTENER: Final = "SASL_SSL"
CONTROLLER_LISTENER: Final = "CONTROLLER"
KEYTOOL_PASSWORD_ENV: Final = "STOPHACKING_KEYTOOL_STOREPASS"


@dataclass(frozen=True)
class BrokerTls:
    """The secured broker's files and generated secrets (secrets kept out of ``repr``)."""

    keystore: Path
    ca_file: Path
    store_password: str = field(repr=False)
    broker_password: str = field(repr=False)


def is_secured(settings: Settings) -> bool:
    return settings.broker.security.protocol != "PLAINTEXT"


def tls_dir(settings: Settings) -> Path:
    return settings.broker.security.tls_dir or (settings.broker_dir / "tls")


# -- pure ------------------------------------------------------------------------------
def _parse(properties: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in properties.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def secure_properties(properties: str, security: BrokerSecuritySettings, tls: BrokerTls) -> str:
    """``properties`` (a ``server.properties`` text) with the client listener on SASL_SSL.

    Every ``PLAINTEXT://`` listener is renamed ``SASL_SSL://`` (ports and hosts kept, so
    it works for any node of any layout), the controller listener goes to SSL with client
    certificates required, and the TLS and SCRAM keys are added.
    """
    props = _parse(properties)
    for key in ("listeners", "advertised.listeners"):
        if key in props:
            props[key] = props[key].replace("PLAINTEXT://", f"{CLIENT_LISTENER}://")
    mechanism = security.mechanism
    prefix = f"listener.name.{CLIENT_LISTENER.lower()}.{mechanism.lower()}"
    props.update(
        {
            "inter.broker.listener.name": CLIENT_LISTENER,
            "listener.security.protocol.map": (
                f"{CONTROLLER_LISTENER}:SSL,{CLIENT_LISTENER}:{CLIENT_LISTENER}"
            ),
            "sasl.enabled.mechanisms": mechanism,
            "sasl.mechanism.inter.broker.protocol": mechanism,
            f"{prefix}.sasl.jaas.config": jaas_config(mechanism, BROKER_USER, tls.broker_password),
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(tls.keystore),
            "ssl.keystore.password": tls.store_password,
            "ssl.key.password": tls.store_password,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls.ca_file),
            "ssl.client.auth": "none",
            f"listener.name.{CONTROLLER_LISTENER.lower()}.ssl.client.auth": "required",
        }
    )
    return "\n".join(f"{k}={v}" for k, v in props.items()) + "\n"


def salted_scram(mechanism: str, name: str, password: str, salt: bytes) -> str:
    """One ``--add-scram`` value: the user's salted password, not the password.

    SCRAM's SaltedPassword is PBKDF2-HMAC over the UTF-8 password (RFC 5802 ``Hi``), which
    is what the broker computes from a plain ``password=`` too.
    """
    digest = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
    salted = hashlib.pbkdf2_hmac(digest, password.encode(), salt, SCRAM_ITERATIONS)
    b64 = base64.b64encode
    return (
        f"{mechanism}=[name={name},iterations={SCRAM_ITERATIONS},"
        f'salt="{b64(salt).decode()}",saltedpassword="{b64(salted).decode()}"]'
    )


def scram_users(security: BrokerSecuritySettings, tls: BrokerTls) -> dict[str, str]:
    """Every SCRAM user to create: the configured ones and the broker's own."""
    users = {name: secret.get_secret_value() for name, secret in security.users.items()}
    return {**users, BROKER_USER: tls.broker_password}


def scram_arguments(
    security: BrokerSecuritySettings, tls: BrokerTls, salt: Mapping[str, bytes] | None = None
) -> list[str]:
    """The storage tool's ``--add-scram`` arguments (``salt``: per user; default random)."""
    arguments: list[str] = []
    for name, password in scram_users(security, tls).items():
        user_salt = (salt or {}).get(name) or secrets.token_bytes(16)
        arguments += ["--add-scram", salted_scram(security.mechanism, name, password, user_salt)]
    return arguments


def admin_kafka(kafka: KafkaSettings, tls: BrokerTls | None, mechanism: str) -> KafkaSettings:
    """``kafka`` as the broker's own user (readiness, status): independent of the
    clients' ``kafka.extra``, so a client's wrong password is not a broker that
    "did not start"."""
    if tls is None:
        return kafka
    extra = {
        "security_protocol": CLIENT_LISTENER,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": BROKER_USER,
        "sasl_plain_password": tls.broker_password,
        "ssl_cafile": str(tls.ca_file),
    }
    return kafka.model_copy(update={"extra": extra})


def subject_alternative_names(host: str) -> str:
    """keytool's ``SAN=`` value: the broker's host (as IP or DNS name) and loopback."""
    names = ["dns:localhost", "ip:127.0.0.1"]
    try:
        ipaddress.ip_address(host)
        names.append(f"ip:{host}")
    except ValueError:
        names.append(f"dns:{host}")
    return ",".join(dict.fromkeys(names))


# -- I/O -------------------------------------------------------------------------------
def _keytool(java: str) -> str:
    beside = Path(java).resolve().parent / "keytool"
    found = str(beside) if beside.is_file() else shutil.which("keytool")
    if found is None:
        raise MissingToolError(
            "'keytool' not found beside java or on PATH: the SASL_SSL broker makes its "
            "certificate with the JDK's keytool"
        )
    return found


def _run_keytool(arguments: list[str], password: str, where: Path) -> str:
    # The store password travels in the environment (-storepass:env), never in argv.
    done = subprocess.run(
        arguments,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, KEYTOOL_PASSWORD_ENV: password},
    )
    if done.returncode != 0:
        tail = scrub((done.stdout + done.stderr).strip(), [password])
        raise BrokerStartError(
            f"keytool could not make the broker's certificate in {where}: {tail}"
        )
    return done.stdout


def _make_certificate(keytool: str, settings: Settings, tls: BrokerTls) -> None:
    b = settings.broker
    store = ["-keystore", str(tls.keystore), "-storetype", "PKCS12",
             "-storepass:env", KEYTOOL_PASSWORD_ENV]  # fmt: skip
    _run_keytool(
        [keytool, "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
         "-validity", str(b.security.cert_valid_days),
         "-dname", f"CN={b.host}, O=StopHacking embedded broker",
         "-ext", f"SAN={subject_alternative_names(b.host)}",
         "-keypass:env", KEYTOOL_PASSWORD_ENV, *store],
        tls.store_password, tls.keystore,
    )  # fmt: skip
    pem = _run_keytool(
        [keytool, "-exportcert", "-rfc", "-alias", "broker", *store],
        tls.store_password,
        tls.keystore,
    )
    tls.ca_file.write_text(pem)


def _private_file(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def prepare(settings: Settings, java: str) -> BrokerTls | None:
    """The broker's TLS material and secrets, made on first use; ``None`` for PLAINTEXT.

    Raises:
        MissingToolError: no keytool.
        BrokerStartError: keytool failed, or the secrets file is unreadable.
    """
    if not is_secured(settings):
        return None
    folder = tls_dir(settings)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    secrets_file = folder / SECRETS_FILE
    if secrets_file.is_file():
        try:
            saved = json.loads(secrets_file.read_text())
            store_password, broker_password = saved["store_password"], saved["broker_password"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BrokerStartError(
                f"{secrets_file} is not the broker's secrets record ({exc.__class__.__name__}); "
                f"remove {folder} to make new ones"
            ) from exc
    else:
        store_password, broker_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        _private_file(
            secrets_file,
            json.dumps({"store_password": store_password, "broker_password": broker_password}),
        )
    tls = BrokerTls(folder / KEYSTORE_FILE, folder / CA_FILE, store_password, broker_password)
    if not (tls.keystore.is_file() and tls.ca_file.is_file()):
        tls.keystore.unlink(missing_ok=True)
        _make_certificate(_keytool(java), settings, tls)
    return tls


def _storage_record(log_dirs: Path) -> Path:
    return log_dirs / STORAGE_RECORD


def record_storage(log_dirs: Path, security: BrokerSecuritySettings) -> None:
    """Note beside freshly formatted storage which users it holds (names, no passwords)."""
    record = {"mechanism": security.mechanism, "users": sorted(security.users)}
    _storage_record(log_dirs).write_text(json.dumps(record) + "\n")


def check_storage(log_dirs: Path, security: BrokerSecuritySettings) -> None:
    """Refuse storage formatted with other SCRAM users than the settings name.

    Users are written when the storage is formatted (KRaft keeps them in its log), so a
    user added to the settings later would silently not exist.

    Raises:
        BrokerStartError: the storage holds other users, or none (formatted unsecured).
    """
    try:
        record = json.loads(_storage_record(log_dirs).read_text())
    except (OSError, ValueError):
        record = {"mechanism": None, "users": []}
    if record.get("mechanism") == security.mechanism and record.get("users") == sorted(
        security.users
    ):
        return
    had = ", ".join(record.get("users") or []) or "none"
    raise BrokerStartError(
        f"the broker storage in {log_dirs} was formatted with SCRAM users: {had} "
        f"({record.get('mechanism') or 'no SASL'}), the settings name: "
        f"{', '.join(sorted(security.users)) or 'none'} ({security.mechanism}); users are "
        "created only when the storage is first formatted: remove that folder (its data "
        "is lost) or set broker.data_dir to a new one"
    )

"""One frozen settings tree for the whole product.

Resolution order: defaults in this file → environment variables ``STOPHACKING_*`` →
explicit overrides (CLI flags, workbench widgets) via :func:`load_settings`.
Nested fields use a double underscore: ``STOPHACKING_KAFKA__BOOTSTRAP_SERVERS``,
``STOPHACKING_SPARK__MASTER``. Raw Kafka client keys (SASL, TLS, …) travel in
``kafka.extra`` (JSON in ``STOPHACKING_KAFKA__EXTRA``); raw Spark keys in
``spark.extra``. Nothing below ``cli.py`` reads ``os.environ``: it all happens here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout (or installed tree) that holds ``pipelines/`` and ``workbench/``."""

ENV_PREFIX = "STOPHACKING_"
ENV_HOME = "STOPHACKING_HOME"
ENV_SHARED_DIR = "STOPHACKING_SHARED_DIR"
"""Folder laid out like ``../shared`` (docs/, data/real/, models/provided/); tests only."""
ENV_TEST_BOOTSTRAP = "STOPHACKING_TEST_BOOTSTRAP"
"""An external broker for the test session; without it the tests start the embedded one."""

DEFAULT_KAFKA_PORT = 9092
DEFAULT_CONTROLLER_PORT = 9093


REDACTED = "[redacted]"
SECRET_KEY = re.compile(r"password|secret|jaas|token|credential|private", re.IGNORECASE)
"""Names of client keys whose values are secrets (kafka-python's and the Java client's)."""


def redacted(extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` with the value of every secret key (password, JAAS line …) replaced."""
    return {k: REDACTED if SECRET_KEY.search(k) else v for k, v in extra.items()}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Secret(_Frozen):
    """Settings that hold secrets: a validation error names the field, not the input."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class TopicSettings(_Frozen):
    """Kafka topic names: dotted and versioned."""

    process: str = "stophacking.process.v1"
    memory: str = "stophacking.memory.v1"
    window_counts: str = "stophacking.window-counts.v1"
    alerts: str = "stophacking.alerts.v1"
    health: str = "stophacking.health.v1"


class KafkaSettings(_Secret):
    """How every kafka-python client and Spark's Kafka source reach the cluster.

    Its ``repr`` shows ``extra`` redacted (passwords, JAAS lines), so a logged settings
    tree carries no secret.
    """

    bootstrap_servers: str = f"127.0.0.1:{DEFAULT_KAFKA_PORT}"
    topics: TopicSettings = TopicSettings()
    partitions: int = Field(default=1, ge=1, description="partitions of topics we create")
    replication_factor: int = Field(
        default=1, ge=1, description="replicas of each topic we create (3 on a real cluster)"
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="min.insync.replicas of each topic we create (default: the cluster's); "
        "with the producers' acks='all', a write needs this many replicas, so 2 of 3 "
        "survives one broker lost without losing an acknowledged record",
    )
    request_timeout_s: float = 15.0
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="raw kafka-python keys, e.g. security_protocol, sasl_mechanism",
    )

    @model_validator(mode="after")
    def _insync_within_replicas(self) -> KafkaSettings:
        if self.min_insync_replicas is not None and (
            self.min_insync_replicas > self.replication_factor
        ):
            raise ValueError(
                f"kafka.min_insync_replicas ({self.min_insync_replicas}) exceeds "
                f"kafka.replication_factor ({self.replication_factor}): no write could succeed"
            )
        return self

    def topic_configs(self) -> dict[str, str]:
        """Topic-level configs of each topic we create (from these settings)."""
        if self.min_insync_replicas is None:
            return {}
        return {"min.insync.replicas": str(self.min_insync_replicas)}

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (redacted(value) if name == "extra" else value)


class BrokerSecuritySettings(_Secret):
    """Security of the embedded broker's client listener (docs/reliability.md, "Security").

    ``PLAINTEXT`` (the default) is today's broker: no TLS, no users, on loopback.
    ``SASL_SSL`` serves clients over TLS with SCRAM users only; the certificate is made
    with the JDK's keytool on first start, into ``tls_dir``. Clients still need their own
    ``kafka.extra`` keys (security_protocol, sasl_mechanism, sasl_plain_username,
    sasl_plain_password, ssl_cafile = ``<tls_dir>/ca.pem``).
    """

    protocol: Literal["PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    users: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="SCRAM users, name → password; created when the broker's storage is "
        "first formatted (JSON in STOPHACKING_BROKER__SECURITY__USERS)",
    )
    tls_dir: Path | None = Field(
        default=None,
        description="keystore, the CA certificate clients trust (ca.pem) and the broker's "
        "generated secrets; default: <broker dir>/tls",
    )
    cert_valid_days: int = Field(default=365, ge=1, description="validity of the certificate")

    @field_validator("users")
    @classmethod
    def _plain_user_names(cls, users: dict[str, SecretStr]) -> dict[str, SecretStr]:
        # The storage tool's --add-scram splits its argument on commas and brackets.
        for name in users:
            if not name or re.search(r'[,\[\]"=\s]', name):
                raise ValueError(
                    f"broker.security.users: user name {name!r} must be non-empty "
                    'and hold no comma, bracket, quote, "=" or space'
                )
        return users


class BrokerSettings(_Frozen):
    """The embedded KRaft broker (used when no cluster is reachable), or the embedded
    cluster of ``stophacking broker start --brokers N``: node i (1, 2, …) listens on
    ``port + 2(i-1)`` and ``controller_port + 2(i-1)``."""

    kafka_version: str = "4.1.1"
    host: str = "127.0.0.1"
    port: int = DEFAULT_KAFKA_PORT
    controller_port: int = DEFAULT_CONTROLLER_PORT
    data_dir: Path | None = Field(default=None, description="default: <home>/broker")
    heap_mb: int = 512
    start_timeout_s: float = 90.0
    stop_timeout_s: float = 30.0
    security: BrokerSecuritySettings = BrokerSecuritySettings()


class SparkSettings(_Frozen):
    """The Spark session of the detector and of training."""

    master: str = "local[2]"
    app_name: str = "stophacking"
    shuffle_partitions: int = 2
    ui_enabled: bool = False
    driver_memory: str = Field(
        default="1g",
        description="the driver's heap; in local mode the whole Spark JVM's. Under a "
        "500-host load the heap fills whatever it is given; with 1g the JVM stays near "
        "1.6 GiB resident (heap plus ~0.6 GiB of metaspace, code, threads, GC), with 2g "
        "it passed 2.5 GiB (docs/benchmarks.md)",
    )
    scala_binary_version: str = "2.13"
    own_process_group: bool = Field(
        default=False,
        description="launch Spark's JVM in its own process group, so signals to the "
        "caller's group reach only Python, which stops Spark in order (the workbench "
        "server turns it on)",
    )
    verbose: bool = Field(
        default=False,
        description="show Spark's own output (log lines, warnings, stage progress) on the "
        "console; by default it goes to <home>/logs/spark.log and the console shows only "
        "the project's lines",
    )
    nio_local_fs: bool = Field(
        default=True,
        description="reach the local file system (file: paths: the outputs and the "
        "checkpoints) through Java NIO (com.globalmentor:hadoop-bare-naked-local-fs) "
        "instead of Hadoop's own local file system, which without Hadoop's native "
        "library starts a chmod process for every file it creates (about 20 per ingest "
        "micro-batch, 4 ms each); local masters only; off: Hadoop's defaults",
    )
    extra: dict[str, str] = Field(default_factory=dict, description="raw spark.* keys")


class CycleSettings(_Frozen):
    """One producer's cycle (SPEC §3): period and inclusive row-count ranges per machine."""

    cycle_period_s: float = Field(gt=0, description="seconds between cycles at speed 1")
    rows_min: int = Field(ge=0, description="fewest new rows per machine per cycle")
    rows_max: int = Field(ge=0, description="most new rows per machine per cycle")
    late_rows_min: int = Field(default=0, ge=0, description="fewest held-back rows")
    late_rows_max: int = Field(default=0, ge=0, description="most held-back rows")

    @model_validator(mode="after")
    def _ranges_ordered(self) -> CycleSettings:
        if self.rows_min > self.rows_max or self.late_rows_min > self.late_rows_max:
            raise ValueError("each *_min must not exceed its *_max")
        return self


class ReplaySettings(_Frozen):
    """The producers: cycles per stream and how hard they try to deliver."""

    process: CycleSettings = CycleSettings(cycle_period_s=5.0, rows_min=10, rows_max=50)
    memory: CycleSettings = CycleSettings(
        cycle_period_s=10.0, rows_min=20, rows_max=80, late_rows_min=0, late_rows_max=5
    )
    connect_timeout_s: float = Field(
        default=60.0, gt=0, description="give up when no broker answers for this long"
    )
    delivery_timeout_s: float = Field(
        default=120.0, gt=0, description="a record not acknowledged by then counts as an error"
    )
    linger_ms: int = Field(default=5, ge=0, description="producer batching delay")
    progress_interval_s: float = Field(default=0.5, gt=0, description="progress report period")


class AgentSettings(_Frozen):
    """The live host agent (``stophacking agent``, docs/agent.md)."""

    interval_s: float = Field(default=10.0, gt=0, description="seconds between two samples")
    machine: int | None = Field(
        default=None, ge=0, description="machine id; default: derived from the host name"
    )
    max_buffered_intervals: int = Field(
        default=30, ge=1, description="intervals kept while Kafka is away; then oldest dropped"
    )
    chunk_records: int = Field(
        default=500, ge=1, description="rows per message (one JSON array per stream and chunk)"
    )
    connect_timeout_s: float = Field(
        default=5.0, gt=0, description="one attempt to reach Kafka; retried every such period"
    )
    delivery_timeout_s: float = Field(
        default=60.0, gt=0, description="the client gives a message up after this; it is retried"
    )
    progress_interval_s: float = Field(default=1.0, gt=0, description="progress report period")


class LiveSettings(_Frozen):
    """The streamz live consumers (SPEC §4): trailing-window counts per machine."""

    window_s: float = Field(default=120.0, gt=0, description="trailing window (arrival time)")
    sample_s: float = Field(default=5.0, gt=0, description="one sample of the counts every …")
    max_samples: int = Field(
        default=17_280, ge=1, description="samples kept per series (24 h at 5 s)"
    )
    max_machines: int = Field(
        default=2048, ge=1, description="machines tracked at most (a fleet of 500 fits)"
    )
    group_id: str | None = Field(
        default=None, description="consumer group; default: a fresh one per start"
    )
    from_beginning: bool = Field(default=False, description="read topics from the earliest")


class AttackTopicSettings(_Frozen):
    """The detector's intermediate topics: records predicted as attack, per stream."""

    process: str = "stophacking.attacks.process.v1"
    memory: str = "stophacking.attacks.memory.v1"


class DetectorSettings(_Frozen):
    """The streaming detector (SPEC §5); ``Detector`` keyword arguments override these."""

    trigger_s: float = Field(
        default=1.0, gt=0, description="micro-batch interval of the ingest queries, seconds"
    )
    monitor_trigger_s: float = Field(
        default=2.0, gt=0, description="micro-batch interval of the 7a and 7b queries, seconds"
    )
    starting_offsets: Literal["earliest", "latest"] = Field(
        default="earliest", description="where a first start reads (then the checkpoints)"
    )
    max_offsets_per_trigger: int | None = Field(
        default=None, ge=1, description="cap of Kafka offsets per ingest micro-batch"
    )
    counts_table: str = Field(
        default="attack_counts", min_length=1, description="the 7a memory sink's SQL table"
    )
    drain_timeout_s: float = Field(
        default=30.0,
        ge=0,
        description="a graceful stop (the workbench's Stop pipeline / Stop detector) waits "
        "up to this long for every query to catch up with its topics' end offsets before "
        "stopping them; what is still unread is reported and left for the next start",
    )
    output_dir: Path | None = Field(default=None, description="default: <home>/detector")
    checkpoint_dir: Path | None = Field(
        default=None, description="default: <home>/checkpoints/detector"
    )
    attack_topics: AttackTopicSettings = AttackTopicSettings()


class WorkbenchSettings(_Frozen):
    """The Panel workbench (SPEC §7)."""

    allow_remote: bool = Field(
        default=False,
        description="serve browsers on other hosts (default: loopback clients only)",
    )


class Settings(BaseSettings):
    """The whole tree. Build it with :func:`load_settings`, never by hand in library code."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
        # An error names the setting, never its value: it may be a password.
        hide_input_in_errors=True,
    )

    home: Path = Field(
        default=PROJECT_ROOT / ".stophacking",
        description="state folder: jars, broker storage, generated data, checkpoints",
    )
    models_dir: Path = PROJECT_ROOT / "models"
    jars_cache: Path | None = Field(default=None, description="default: <home>/jars")
    kafka: KafkaSettings = KafkaSettings()
    broker: BrokerSettings = BrokerSettings()
    spark: SparkSettings = SparkSettings()
    live: LiveSettings = LiveSettings()
    replay: ReplaySettings = ReplaySettings()
    agent: AgentSettings = AgentSettings()
    workbench: WorkbenchSettings = WorkbenchSettings()
    detector: DetectorSettings = DetectorSettings()

    @property
    def jars_dir(self) -> Path:
        return self.jars_cache or (self.home / "jars")

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def broker_dir(self) -> Path:
        return self.broker.data_dir or (self.home / "broker")

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def detector_output_dir(self) -> Path:
        """Root of the detector's parquet outputs."""
        return self.detector.output_dir or (self.home / "detector")

    @property
    def detector_checkpoint_dir(self) -> Path:
        """Root of the detector's query checkpoints."""
        return self.detector.checkpoint_dir or (self.home / "checkpoints" / "detector")


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set each dotted path of ``overrides`` in a copy of ``base``.

    Only the override keys are paths; a value is set as given, mappings included, so raw
    client keys that contain dots (``{"spark.extra": {"spark.ui.port": "4050"}}``) stay
    intact.
    """
    merged = dict(base)
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest:
            merged[head] = _merge(dict(merged.get(head) or {}), {rest: value})
        else:
            merged[head] = value
    return merged


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Resolve the settings: defaults → ``STOPHACKING_*`` env vars → ``overrides``.

    Args:
        overrides: dotted keys to values, e.g. ``{"kafka.bootstrap_servers": "h:9092"}``.
            ``None`` values are ignored, so CLI options that were not given fall through.
    """
    from_env = Settings()
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if not given:
        return from_env
    return Settings.model_validate(_merge(from_env.model_dump(), given))


def replace(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    """Return a copy of ``settings`` with dotted ``overrides`` applied (no env re-read)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings.model_validate(_merge(settings.model_dump(), given))


def without_console_progress(settings: Settings) -> Settings:
    """``settings`` with Spark's console progress bar off (commands that print their own
    progress lines: it would overwrite them), unless ``spark.extra`` sets it."""
    quiet = {"spark.ui.showConsoleProgress": "false", **settings.spark.extra}
    return replace(settings, {"spark.extra": quiet})

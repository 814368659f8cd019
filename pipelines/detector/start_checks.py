"""The checks at start that read the world: the broker, the folders, the checkpoint's record.

:class:`StartChecks` gathers the facts (does the broker answer, what the checkpoint
folder holds, which alert batches are on disk, can the folders be written) and asks
:mod:`~pipelines.detector.preflight` what they mean; every problem is raised as one line
that names the thing and says what to do (docs/detector.md, "Checked at start"). The
model checks are :func:`~pipelines.detector.models.check_model_folders` (before the JVM)
and :func:`~pipelines.detector.models.load_models` (last).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pyspark.sql import SparkSession

from pipelines import kafka_io
from pipelines.config import KafkaSettings
from pipelines.detector import preflight, transforms
from pipelines.detector.layout import ALERTS_DIR, PAIRS_QUERY, DetectorTopics, complete_batches
from pipelines.detector.models import DetectorModels, check_model_folders, load_models
from pipelines.errors import BrokerRefused, BrokerUnavailable, ConfigError
from pipelines.schema.columns import Stream

BROKER_CHECK_TIMEOUT_S: Final = 5.0
"""How long the check at start waits for the broker to answer a metadata request."""
WRITE_PROBE: Final = ".stophacking-write-probe"
"""A file the check at start writes and removes in each folder the detector writes to."""


def last_logged_batch(log_folder: Path) -> int | None:
    """Highest batch id of a Spark metadata log (``offsets/``, ``commits/``), None if empty.

    Entries are files named ``<id>`` (or ``<id>.compact``); Spark's temporary files start
    with a dot.
    """
    try:
        names = [p.name.split(".")[0] for p in log_folder.iterdir()]
    except OSError:  # no such folder: no batch yet (or no checkpoint)
        return None
    ids = [int(name) for name in names if name.isdigit()]
    return max(ids) if ids else None


def probe_writable(folder: Path) -> str | None:
    """Create ``folder`` (and its parents) and write and remove a small file in it.

    Returns:
        None when that worked, else why not (one line: the error's class and text).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / WRITE_PROBE
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return None


def current_settings(
    spark: SparkSession, topics: DetectorTopics
) -> dict[str, preflight.SettingValue]:
    """What the settings record holds for a detector on ``spark`` reading ``topics``."""
    names = topics.names()
    return preflight.checkpoint_settings(
        shuffle_partitions=int(spark.conf.get("spark.sql.shuffle.partitions") or 0),
        read_topics={
            role: names[role] for role in ("process", "memory", "process_attacks", "memory_attacks")
        },
        watermark_s=transforms.WATERMARK_S,
        window_s=transforms.WINDOW_S,
        pair_tolerance_s=transforms.PAIR_TOLERANCE_S,
    )


@dataclass(frozen=True)
class StartChecks:
    """The checks at start of one detector's folders and broker.

    Attributes:
        kafka: where the broker should answer.
        model_paths: stream → model folder.
        output_dir: root of the parquet outputs.
        checkpoint_dir: root of the queries' checkpoints.
    """

    kafka: KafkaSettings
    model_paths: Mapping[Stream, Path]
    output_dir: Path
    checkpoint_dir: Path

    def run(self, spark: Callable[[], SparkSession], topics: DetectorTopics) -> DetectorModels:
        """Every check at start, in the order of docs/detector.md; afterwards the settings
        record and the alerts folder exist.

        Args:
            spark: gives the detector's session (called only once the checks that need
                no JVM have passed).
            topics: the detector's topics (those it reads are recorded).

        Returns:
            The loaded models (:func:`~pipelines.detector.models.load_models`, the last check).

        Raises:
            ModelError, BrokerUnavailable, ConfigError: see :meth:`before_spark`,
                :meth:`check_settings` and :func:`~pipelines.detector.models.load_models`.
        """
        self.before_spark()
        to_record = self.check_settings(current_settings(spark(), topics))
        loaded = load_models(spark(), self.model_paths)
        self.passed(to_record)
        return loaded

    @property
    def settings_record(self) -> Path:
        """The record of the settings the checkpoints were made with."""
        return self.checkpoint_dir / preflight.SETTINGS_FILE

    def before_spark(self) -> None:
        """The checks that need no JVM: model folders, broker, alerts against their
        checkpoint, writable folders (created here).

        Raises:
            ModelError: a model folder does not exist.
            BrokerUnavailable: no broker answers at the bootstrap servers.
            ConfigError: the alerts and their checkpoint do not belong together, or an
                output or checkpoint folder cannot be written.
        """
        check_model_folders(self.model_paths)
        self.check_broker()
        self.check_alerts_checkpoint()
        self.check_writable()

    def check_broker(self) -> None:
        """Raises BrokerUnavailable (with what to do) when no broker answers in time."""
        try:
            kafka_io.list_topics(self.kafka, timeout_s=BROKER_CHECK_TIMEOUT_S)
        except BrokerRefused:
            raise  # a broker is there; it refuses this client: the message says why
        except BrokerUnavailable as exc:
            raise BrokerUnavailable(
                f"no Kafka broker answers at {self.kafka.bootstrap_servers} within "
                f"{BROKER_CHECK_TIMEOUT_S:g} s: {preflight.BROKER_REMEDY}"
            ) from exc

    def check_alerts_checkpoint(self) -> None:
        """Raises ConfigError when the alerts folder and the 7b checkpoint disagree
        (:func:`~pipelines.detector.preflight.alerts_problem`)."""
        alerts_dir = self.output_dir / ALERTS_DIR
        pairs_checkpoint = self.checkpoint_dir / PAIRS_QUERY
        done = complete_batches(alerts_dir)
        problem = preflight.alerts_problem(
            alerts_dir=alerts_dir,
            pairs_checkpoint=pairs_checkpoint,
            alerts_dir_exists=alerts_dir.is_dir(),
            last_alert_batch=int(done[-1].name.removeprefix("batch=")) if done else None,
            last_planned_batch=last_logged_batch(pairs_checkpoint / "offsets"),
            recorded=self.settings_record.is_file(),
            checkpoint_dir=self.checkpoint_dir,
            output_dir=self.output_dir,
        )
        if problem is not None:
            raise ConfigError(problem)

    def check_writable(self) -> None:
        """Create the output and checkpoint roots; ConfigError when one cannot be written."""
        for role, folder, remedy in (
            ("output", self.output_dir, "--output-dir / STOPHACKING_DETECTOR__OUTPUT_DIR"),
            (
                "checkpoint",
                self.checkpoint_dir,
                "--checkpoint-dir / STOPHACKING_DETECTOR__CHECKPOINT_DIR",
            ),
        ):
            reason = probe_writable(folder)
            if reason is not None:
                raise ConfigError(
                    preflight.unwritable_message(
                        role,
                        folder,
                        reason,
                        f"give the detector write permission there, or choose another "
                        f"folder ({remedy})",
                    )
                )

    def check_settings(
        self, current: Mapping[str, preflight.SettingValue]
    ) -> dict[str, preflight.SettingValue] | None:
        """Compare ``current`` (:func:`current_settings`) with the checkpoints' record.

        Returns:
            The settings to record (no record yet), or None (the record matches).

        Raises:
            ConfigError: the record differs (old → new listed) or cannot be read.
        """
        record = self.settings_record
        try:
            text = record.read_text(encoding="utf-8")
        except FileNotFoundError:
            return dict(current)
        except OSError as exc:
            raise ConfigError(f"cannot read {record} ({exc.strerror or exc})") from exc
        try:
            recorded = preflight.decode_settings(text, record)
        except ValueError as exc:
            raise ConfigError(
                f"{exc}: restore it, or {preflight.afresh(self.checkpoint_dir, self.output_dir)}"
            ) from exc
        changes = preflight.changed_settings(recorded, current)
        if changes:
            raise ConfigError(
                preflight.settings_changed_message(
                    changes, record, self.checkpoint_dir, self.output_dir
                )
            )
        return None

    def passed(self, to_record: Mapping[str, preflight.SettingValue] | None) -> None:
        """Once every check passed: create the alerts folder, and write the settings
        record when there was none (``to_record``). A failed start leaves neither
        behind, so the next start takes nothing for a checkpoint's history."""
        (self.output_dir / ALERTS_DIR).mkdir(exist_ok=True)
        if to_record is not None:
            self.settings_record.write_text(preflight.encode_settings(to_record), "utf-8")

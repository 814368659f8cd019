"""What the detector checks before any query starts, decided on plain values (pure).

:class:`pipelines.detector.start_checks.StartChecks` gathers the facts (is the broker
there, what the checkpoint folder holds, which alert batches are on disk) and asks this
module what they mean; every problem becomes a one-line message that names the thing
and says what to do. No Spark, no Kafka client, no file access here.

Two checks need a record of their own:

- **The settings a checkpoint was made with** (:func:`checkpoint_settings`), kept as
  JSON in ``<checkpoint root>/detector-settings.json``. Spark restores some of them from
  the checkpoint and ignores the new value without a word (``spark.sql.shuffle.partitions``
  fixes the number of state partitions of 7a and 7b), and others make the checkpoint's
  offsets or state meaningless (another source topic; another watermark, window or pair
  tolerance, whose state the old run built). Trigger intervals, ``maxOffsetsPerTrigger``,
  the models and the topics the detector only writes to may change between runs: Spark
  supports that, and no state depends on them.
- **Alerts and their checkpoint** (:func:`alerts_problem`): the alerts raised so far are
  the ``alerts.parquet/batch=<id>`` folders, numbered by the 7b query's batch ids. A
  checkpoint deleted while the alerts stay restarts the batch ids at 0, and the ledger
  (:mod:`~pipelines.detector.alert_ledger`) takes alerts of batch ids at or above the
  running one for a crashed attempt of it: every old alert would be raised again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SETTINGS_FILE: Final = "detector-settings.json"
"""Name of the settings record, directly under the checkpoint root."""
SETTINGS_SCHEMA_VERSION: Final = 1

SettingValue = str | int | float
"""A recorded setting: JSON scalars only, so a record read back compares equal."""

BROKER_REMEDY: Final = (
    "start one with `stophacking broker start`, or point STOPHACKING_KAFKA__BOOTSTRAP_SERVERS "
    "(--bootstrap-servers) at a running one"
)
MODEL_REMEDY: Final = (
    "train models with `stophacking train`, or point --process-model/--memory-model "
    "(STOPHACKING_MODELS_DIR) at saved Spark ML pipeline models"
)


def checkpoint_settings(
    *,
    shuffle_partitions: int,
    read_topics: Mapping[str, str],
    watermark_s: float,
    window_s: float,
    pair_tolerance_s: float,
) -> dict[str, SettingValue]:
    """The settings that must not change under a checkpoint, flat and sorted by name.

    Args:
        shuffle_partitions: ``spark.sql.shuffle.partitions`` of the detector's session.
        read_topics: role (``process``, ``memory_attacks`` …) → a topic the queries read.
        watermark_s: event-time watermark delay of 7a and 7b, seconds.
        window_s: length of the 7a/alert windows, seconds.
        pair_tolerance_s: largest time between a paired process and memory record, s.
    """
    values: dict[str, SettingValue] = {
        "spark.sql.shuffle.partitions": int(shuffle_partitions),
        "watermark_s": watermark_s,
        "window_s": window_s,
        "pair_tolerance_s": pair_tolerance_s,
    }
    values.update({f"topics.{role}": name for role, name in read_topics.items()})
    return dict(sorted(values.items()))


def encode_settings(settings: Mapping[str, SettingValue]) -> str:
    """The settings record's text (JSON with a schema version)."""
    record = {"schema_version": SETTINGS_SCHEMA_VERSION, "settings": dict(settings)}
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def decode_settings(text: str, source: Path) -> dict[str, SettingValue]:
    """The settings of a record written by :func:`encode_settings`.

    Raises:
        ValueError: the text is not such a record (the message names ``source``).
    """
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{source} is not JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("schema_version") != SETTINGS_SCHEMA_VERSION:
        raise ValueError(f"{source} is not a detector settings record of schema version 1")
    settings = record.get("settings")
    if not isinstance(settings, dict) or not all(
        isinstance(v, str | int | float) for v in settings.values()
    ):
        raise ValueError(f"{source} has no settings mapping of plain values")
    return {str(k): v for k, v in settings.items()}


@dataclass(frozen=True)
class Change:
    """One setting that differs from the checkpoint's record (None: absent there)."""

    name: str
    old: SettingValue | None
    new: SettingValue | None

    def __str__(self) -> str:
        return f"{self.name} {_shown(self.old)} → {_shown(self.new)}"


def _shown(value: SettingValue | None) -> str:
    return "(none)" if value is None else str(value)


def changed_settings(
    recorded: Mapping[str, SettingValue], current: Mapping[str, SettingValue]
) -> list[Change]:
    """The settings whose value differs between the record and now, by name.

    A setting only one side has counts as changed (a record from another version of the
    detector is not silently accepted). ``2`` and ``2.0`` are the same value.
    """
    names = sorted(set(recorded) | set(current))
    return [
        Change(name, recorded.get(name), current.get(name))
        for name in names
        if recorded.get(name) != current.get(name)
    ]


def afresh(checkpoint_dir: Path, output_dir: Path) -> str:
    """The remedy that always works: start over, with both folders gone."""
    return (
        f"start afresh by deleting the checkpoint folder {checkpoint_dir} "
        f"and the output folder {output_dir}"
    )


def settings_changed_message(
    changes: list[Change], record: Path, checkpoint_dir: Path, output_dir: Path
) -> str:
    """One line: what changed since the checkpoint was made, and what to do."""
    listed = "; ".join(str(change) for change in changes)
    return (
        f"the checkpoints in {checkpoint_dir} were made with other settings ({listed}; "
        f"recorded in {record}): restore those settings, or "
        f"{afresh(checkpoint_dir, output_dir)}"
    )


def alerts_problem(
    *,
    alerts_dir: Path,
    pairs_checkpoint: Path,
    alerts_dir_exists: bool,
    last_alert_batch: int | None,
    last_planned_batch: int | None,
    recorded: bool,
    checkpoint_dir: Path,
    output_dir: Path,
) -> str | None:
    """Whether the alerts folder and the 7b checkpoint belong together; None when they do.

    Spark writes a batch's offsets (``offsets/<id>``) before running it, and the 7b
    handler writes ``alerts.parquet/batch=<id>`` while running it, so every complete alert
    batch of this checkpoint's history has an id at most the last planned one. Two ways
    to break that:

    - alerts without their checkpoint: a complete alert batch past the last planned
      batch (typically: the checkpoint is gone, so nothing was planned). Starting would
      number batches from 0 again and raise every old alert a second time.
    - a checkpoint without its alerts (the reverse): the checkpoint has planned batches
      but ``alerts.parquet`` does not exist. The detector creates that folder before its
      first query starts, so it was deleted or the output folder changed: the alerts
      raised so far are unknown to the ledger, and a window whose state the checkpoint
      still holds would be alerted again. Decided only when the checkpoint root has its
      settings record (``recorded``), i.e. was made by a detector that creates the folder.

    Args:
        alerts_dir: the alerts output folder.
        pairs_checkpoint: the 7b query's checkpoint folder.
        alerts_dir_exists: whether ``alerts_dir`` exists.
        last_alert_batch: highest batch id with a complete alerts folder (None: none).
        last_planned_batch: highest batch id in the 7b checkpoint's offset log (None:
            none, or no checkpoint).
        recorded: the checkpoint root holds a settings record.
        checkpoint_dir: the checkpoint root (named in the remedy).
        output_dir: the output root (named in the remedy).

    Returns:
        The one-line message, or None.
    """
    if last_alert_batch is not None and (
        last_planned_batch is None or last_alert_batch > last_planned_batch
    ):
        planned = (
            "has no batch"
            if last_planned_batch is None
            else f"ran only up to batch {last_planned_batch}"
        )
        return (
            f"{alerts_dir} holds alerts up to batch {last_alert_batch} but the alerts "
            f"checkpoint {pairs_checkpoint} {planned} (deleted or replaced?); starting would "
            f"raise those alerts again: restore the checkpoint, or "
            f"{afresh(checkpoint_dir, output_dir)}"
        )
    if recorded and last_planned_batch is not None and not alerts_dir_exists:
        return (
            f"the alerts checkpoint {pairs_checkpoint} ran batches up to {last_planned_batch} "
            f"but the alerts folder {alerts_dir} is gone (deleted, or another output "
            f"folder?); starting would forget the alerts raised so far and raise some "
            f"again: restore the folder, or {afresh(checkpoint_dir, output_dir)}"
        )
    return None


def unwritable_message(role: str, folder: Path, reason: str, remedy: str) -> str:
    """One line: a folder the detector must write to cannot be written."""
    return f"cannot write to the detector's {role} folder {folder} ({reason}): {remedy}"

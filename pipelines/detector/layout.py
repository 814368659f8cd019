"""Where the detector's outputs live: folder names, batch folders, topics (pure).

Readers of the outputs (detection quality, the workbench's read-back, the demo summary,
tests) import this module, not the Spark job. No Spark and no Kafka client here.

Output folders under the output root (SPEC §5 steps 5–7; the brief's own names for
the first three):

| folder | content |
|---|---|
| ``process.parquet``, ``memory.parquet`` | cleaned (transformed) records |
| ``process_scored.parquet``, ``memory_scored.parquet`` | scored records |
| ``quarantine.parquet`` | quarantined records, ``stream=<s>/`` |
| ``process_memory_attack.parquet`` | 7b attack pairs |
| ``alerts.parquet`` | 7b alerts, one per program and window |

Each folder holds one ``batch=<id>`` folder per micro-batch that had rows, written with
``overwrite`` (a batch Spark re-runs after a crash replaces what the failed attempt
left) and complete once it has its ``_SUCCESS`` file. ``spark.read.parquet(folder)``
reads a whole output; ``batch`` comes back as a partition column.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

from pipelines.config import Settings
from pipelines.schema.columns import Stream

CLEANED_DIR: Final[dict[Stream, str]] = {"process": "process.parquet", "memory": "memory.parquet"}
SCORED_DIR: Final[dict[Stream, str]] = {
    "process": "process_scored.parquet",
    "memory": "memory_scored.parquet",
}
QUARANTINE_DIR: Final = "quarantine.parquet"
PAIRS_DIR: Final = "process_memory_attack.parquet"
ALERTS_DIR: Final = "alerts.parquet"

INGEST_QUERY: Final[dict[Stream, str]] = {"process": "ingest_process", "memory": "ingest_memory"}
"""Query names (and checkpoint folder names) of the two ingest queries."""
COUNTS_CHECKPOINT: Final = "attack_counts"
"""The 7a query's checkpoint folder (the query is named after its memory sink's table,
``settings.detector.counts_table``)."""
PAIRS_QUERY: Final = "attack_pairs"
"""The 7b query (and its checkpoint folder): attack pairs and the alerts raised from them."""

SUCCESS_MARKER: Final = "_SUCCESS"


def batch_folder(root: Path, batch_id: int) -> Path:
    """Where micro-batch ``batch_id`` of an output lives: ``<root>/batch=<id>``."""
    return root / f"batch={batch_id}"


def batch_id_of(folder: Path) -> int | None:
    """The id of a ``batch=<id>`` folder, None for any other name."""
    name = folder.name
    if not name.startswith("batch="):
        return None
    try:
        return int(name.removeprefix("batch="))
    except ValueError:
        return None


def complete_batches(root: Path) -> list[Path]:
    """The ``batch=<id>`` folders of an output that hold ``_SUCCESS``, by batch id.

    A folder without it belongs to an attempt that crashed before Spark committed its
    batch; that batch runs again and rewrites it.
    """
    found = [p.parent for p in root.glob(f"batch=*/{SUCCESS_MARKER}")]
    return sorted(
        (p for p in found if batch_id_of(p) is not None), key=lambda p: batch_id_of(p) or 0
    )


@dataclass(frozen=True)
class DetectorTopics:
    """The Kafka topics the detector reads and writes.

    ``process_attacks`` and ``memory_attacks`` carry the records the ingest predicted as
    attack (JSON, every cleaned column plus the prediction): all that 7a and 7b read, so
    nothing downstream parses or scores a record again.
    """

    process: str
    memory: str
    process_attacks: str
    memory_attacks: str
    window_counts: str
    alerts: str
    health: str

    _ROLES: ClassVar[tuple[str, ...]] = (
        "process", "memory", "process_attacks", "memory_attacks", "window_counts", "alerts",
        "health",
    )  # fmt: skip

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectorTopics:
        """The settings' topics, plus the detector's attack-record topics."""
        topics = settings.kafka.topics
        attacks = settings.detector.attack_topics
        return cls(
            process=topics.process,
            memory=topics.memory,
            process_attacks=attacks.process,
            memory_attacks=attacks.memory,
            window_counts=topics.window_counts,
            alerts=topics.alerts,
            health=topics.health,
        )

    @classmethod
    def unique(cls, prefix: str) -> DetectorTopics:
        """Fresh topic names ``<prefix>.<role>.<8 hex>`` for one run (names only; nothing
        is created), so runs sharing a broker never read each other's records."""
        suffix = uuid.uuid4().hex[:8]
        return cls(**{role: f"{prefix}.{role.replace('_', '-')}.{suffix}" for role in cls._ROLES})

    def names(self) -> dict[str, str]:
        """Role (``process``, ``memory_attacks``, ``window_counts`` …) → topic name."""
        return {role: getattr(self, role) for role in self._ROLES}

    def source(self, stream: Stream) -> str:
        """The topic the producers write ``stream`` to."""
        return self.process if stream == "process" else self.memory

    def attacks(self, stream: Stream) -> str:
        """The topic of ``stream``'s records predicted as attack."""
        return self.process_attacks if stream == "process" else self.memory_attacks

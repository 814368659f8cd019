"""Typed field definitions of every telemetry record: the one place kinds are decided.

Derived from the column lists and kind sets of :mod:`pipelines.schema.columns`; the
Python row parser (:mod:`pipelines.schema.parse`), the Spark expressions
(:mod:`pipelines.spark.clean`), the CSV loader and the pandas dtypes all read
their types from here, so a column's kind is decided once.

Decisions (SPEC §2.1, §2.2, §3):

- **Integers** (64-bit): sequence, machine, PID, TRUN, TSLPI, TSLPU, NICE, PRI, RTPR,
  CPUNR, EXC, and the added fields ``pass`` and ``attack`` (0/1, ``label`` accepted as an
  alias on input, always ``attack`` on output).
- **Floats** (IEEE double): CPU, MINFLT, MAJFLT, VSTEXT, VSIZE, RSIZE, VGROW, RGROW, MEM
  (atop prints the page-fault counters and sizes with ``K``/``M``/``G`` suffixes and
  fractions such as ``224.2M``, so they are not integers), and ``ts`` (UTC unix seconds).
- **Categories**: POLI, Status, State, ``type``. Outer whitespace is stripped; ``-`` is a
  real value (Status ``-`` is most of machine 4) and is never turned into a null.
- **Free text**: CMD and ``run_id``, kept exactly as given (spaces, ``<…>``, ``/``, ``:``).
- **Nullable** means that ``-``, an empty value or a null reads as missing. The
  telemetry numbers are nullable (misaligned atop rows carry ``-`` there), and so are
  our producers' identity fields ``run_id`` and ``pass``: other producers of this feed
  send neither (SPEC §3), and their records are identified by their Kafka place instead
  (topic, partition, offset, index in the message). sequence, machine, ts and the labels
  (attack, type) are required, and CMD and the categories are never empty: there a
  missing value is a parse error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from pipelines.schema.columns import (
    ATTACK_TYPE,
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    LABEL,
    LABEL_ALIASES,
    LABELLED_COLUMNS,
    PASS,
    RUN_ID,
    STREAMING_COLUMNS,
    STRING_COLUMNS,
    TEXT,
    TS,
    Stream,
)


class Kind(enum.Enum):
    """How a field's raw text is converted."""

    INTEGER = "integer"
    """Whole number, stored as a 64-bit integer (Spark ``bigint``, pandas ``Int64``)."""
    FLOAT = "float"
    """Real number, stored as an IEEE double (Spark ``double``, pandas ``float64``)."""
    CATEGORY = "category"
    """Short label; outer whitespace stripped, otherwise kept (``-`` included)."""
    TEXT = "text"
    """Free text kept byte for byte."""

    @property
    def numeric(self) -> bool:
        return self in (Kind.INTEGER, Kind.FLOAT)


@dataclass(frozen=True)
class Field:
    """One typed field of a record.

    Attributes:
        name: column name as in the files and Kafka records.
        kind: how the raw text is converted.
        nullable: ``-``/empty/null read as missing (numeric fields only); otherwise a
            missing value is a parse error.
        allowed: the only accepted values (integers), or None for any value.
    """

    name: str
    kind: Kind
    nullable: bool
    allowed: tuple[int, ...] | None = None


REQUIRED_FIELD_NAMES: Final[frozenset[str]] = frozenset(
    {"sequence", "machine", TS, LABEL, ATTACK_TYPE}
)
"""Fields that identify or label a record: never missing."""

OPTIONAL_FIELD_NAMES: Final[frozenset[str]] = frozenset({RUN_ID, PASS})
"""Our producers' identity fields: absent or null in other producers' records."""

LABEL_VALUES: Final[tuple[int, ...]] = (0, 1)


def _kind_of(name: str) -> Kind:
    if name in INTEGER_COLUMNS or name in (PASS, LABEL):
        return Kind.INTEGER
    if name in FLOAT_COLUMNS or name == TS:
        return Kind.FLOAT
    if name in (TEXT, RUN_ID):
        return Kind.TEXT
    if name in STRING_COLUMNS or name == ATTACK_TYPE:
        return Kind.CATEGORY
    raise KeyError(f"no kind defined for column {name!r}")


def _field(name: str) -> Field:
    kind = _kind_of(name)
    nullable = (kind.numeric and name not in REQUIRED_FIELD_NAMES) or name in OPTIONAL_FIELD_NAMES
    return Field(name, kind, nullable, LABEL_VALUES if name == LABEL else None)


_ALL_NAMES: Final[tuple[str, ...]] = tuple(
    dict.fromkeys(
        [
            *STREAMING_COLUMNS["process"],
            *STREAMING_COLUMNS["memory"],
            *LABELLED_COLUMNS["process"],
            *LABELLED_COLUMNS["memory"],
            RUN_ID,
            PASS,
        ]
    )
)

FIELDS: Final[dict[str, Field]] = {name: _field(name) for name in _ALL_NAMES}
"""Every known field by name (telemetry columns, ts, run_id, pass, attack, type)."""

KAFKA_FIELD_NAMES: Final[tuple[str, ...]] = (TS, RUN_ID, PASS)
"""Fields the producers add to every Kafka record (SPEC §3), in record order."""


def layout_fields(stream: Stream, *, labelled: bool = False) -> tuple[Field, ...]:
    """The fields of a file layout, in file column order.

    Args:
        stream: ``"process"`` or ``"memory"``.
        labelled: the TON_IoT training layout of SPEC §2.2 (``ts``, telemetry without
            sequence/machine, ``attack``, ``type``) instead of the streaming layout of §2.1.
    """
    names = LABELLED_COLUMNS[stream] if labelled else STREAMING_COLUMNS[stream]
    return tuple(FIELDS[name] for name in names)


def record_fields(
    stream: Stream, *, labelled: bool = False, with_kafka_fields: bool = True
) -> tuple[Field, ...]:
    """The layout's fields followed by the Kafka fields it lacks (ts, run_id, pass)."""
    base = layout_fields(stream, labelled=labelled)
    if not with_kafka_fields:
        return base
    present = {f.name for f in base}
    return base + tuple(FIELDS[n] for n in KAFKA_FIELD_NAMES if n not in present)


def canonical_name(name: str) -> str:
    """The output name of an input column: ``label`` → ``attack``, others unchanged."""
    return LABEL if name in LABEL_ALIASES else name

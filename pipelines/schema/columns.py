"""Column lists of the telemetry files (SPEC §2.1, §2.2): the one source of truth.

Pure module: no I/O. Every other module (parser, Spark expressions, producers,
generator, training) takes its column names from here.
"""

from __future__ import annotations

from typing import Final, Literal

Stream = Literal["process", "memory"]
STREAMS: Final[tuple[Stream, ...]] = ("process", "memory")

PROCESS_COLUMNS: Final[tuple[str, ...]] = (
    "sequence", "machine", "PID", "TRUN", "TSLPI", "TSLPU", "POLI", "NICE", "PRI",
    "RTPR", "CPUNR", "Status", "EXC", "State", "CPU", "CMD",
)  # fmt: skip
MEMORY_COLUMNS: Final[tuple[str, ...]] = (
    "sequence", "machine", "PID", "MINFLT", "MAJFLT", "VSTEXT", "VSIZE", "RSIZE",
    "VGROW", "RGROW", "MEM", "CMD",
)  # fmt: skip

STREAMING_COLUMNS: Final[dict[Stream, tuple[str, ...]]] = {
    "process": PROCESS_COLUMNS,
    "memory": MEMORY_COLUMNS,
}

# Fields added by the producers to every Kafka record (SPEC §3).
TS: Final = "ts"
RUN_ID: Final = "run_id"
PASS: Final = "pass"
IDENTITY_COLUMNS: Final[tuple[str, ...]] = (RUN_ID, "machine", PASS, "sequence")
"""(run_id, machine, pass, sequence) identifies a record everywhere downstream."""

# Labelled TON_IoT "Processed Linux" files (SPEC §2.2).
LABEL: Final = "attack"
LABEL_ALIASES: Final[tuple[str, ...]] = ("label",)
ATTACK_TYPE: Final = "type"
LABELLED_COLUMNS: Final[dict[Stream, tuple[str, ...]]] = {
    "process": ("ts", *PROCESS_COLUMNS[2:], LABEL, ATTACK_TYPE),
    "memory": ("ts", *MEMORY_COLUMNS[2:], LABEL, ATTACK_TYPE),
}
GROUND_TRUTH_COLUMNS: Final[tuple[str, ...]] = ("machine", "sequence", LABEL, ATTACK_TYPE)

NOT_FEATURES: Final[frozenset[str]] = frozenset(
    {"ts", "machine", "sequence", LABEL, *LABEL_ALIASES, ATTACK_TYPE, RUN_ID, PASS}
)
"""Columns no model may use (ts leaks the label in TON_IoT; machine/sequence identify)."""

CATEGORICAL: Final[dict[Stream, tuple[str, ...]]] = {
    "process": ("POLI", "Status", "State"),
    "memory": (),
}
TEXT: Final = "CMD"

ATTACK_TYPES: Final[dict[Stream, tuple[str, ...]]] = {
    "process": ("ddos", "dos", "password", "injection", "scanning", "xss", "mitm"),
    "memory": ("ddos", "dos", "password", "injection", "mitm"),
}
NORMAL: Final = "normal"

STREAMING_FILE_NAMES: Final[dict[Stream, str]] = {
    "process": "Streaming_Linux_process.csv",
    "memory": "Streaming_Linux_memory.csv",
}

# Column kinds (the one type definition the Python parser, the Spark expressions, the
# producers' JSON encoding and training all derive from).
INTEGER_COLUMNS: Final[frozenset[str]] = frozenset(
    {"sequence", "machine", "PID", "TRUN", "TSLPI", "TSLPU", "NICE", "PRI", "RTPR", "CPUNR", "EXC"}
)
FLOAT_COLUMNS: Final[frozenset[str]] = frozenset(
    {"CPU", "MINFLT", "MAJFLT", "VSTEXT", "VSIZE", "RSIZE", "VGROW", "RGROW", "MEM"}
)
STRING_COLUMNS: Final[frozenset[str]] = frozenset({"POLI", "Status", "State", "CMD"})
"""Never converted: `-` in POLI and Status is a real category; CMD is kept exactly."""

"""Small streaming CSVs for the producer tests, written with the schema's exact columns."""

from __future__ import annotations

import csv
import random
from collections.abc import Mapping
from pathlib import Path

from pipelines.config import CycleSettings
from pipelines.replay.clock import SimulatedClock
from pipelines.replay.plan import CyclePlanner
from pipelines.replay.rows import load_stream_rows
from pipelines.schema.columns import MEMORY_COLUMNS, PROCESS_COLUMNS, Stream

# Machine 6 is much shorter, as in the reference data, so it wraps first.
ROWS_PER_MACHINE: Mapping[int, int] = {4: 130, 5: 110, 6: 27, 7: 95}


def _process_row(machine: int, sequence: int, rng: random.Random) -> list[str]:
    cmd = rng.choice(["atop", "apache2", "<kworker/0:1>", "unity-panel-se", "my app: x"])
    pri = rng.choice(["120", "100", "0"])
    return [
        str(sequence), str(machine), str(rng.randint(1, 60000)), str(rng.randint(0, 3)),
        rng.choice(["1", "11", " 12", "-"]), "0", rng.choice(["norm", "-", "0"]),
        rng.choice(["0", "20"]), pri, "0", str(rng.randint(0, 3)),
        rng.choice(["0", "-", "N", "NE"]), "0", rng.choice(["S", "R", "E"]),
        rng.choice(["0.0", "0.18", "4.0", "0.10"]), cmd,
    ]  # fmt: skip


def _memory_row(machine: int, sequence: int, rng: random.Random) -> list[str]:
    return [
        str(sequence), str(machine), str(rng.randint(1, 60000)),
        rng.choice(["0", "73", "132K", "1969"]), "0", rng.choice(["148", "2219", "-"]),
        rng.choice(["184.3", "1.3", "19296", "224.2M"]), rng.choice(["5668", "4.4K"]),
        "0", "0", rng.choice(["0.0", "0.03"]), rng.choice(["apache2", "<vsftpd>", "a b"]),
    ]  # fmt: skip


def write_streaming_csv(
    folder: Path,
    stream: Stream,
    rows_per_machine: Mapping[int, int] = ROWS_PER_MACHINE,
    seed: int = 7,
) -> Path:
    """Write ``Streaming_Linux_<stream>.csv``: machines interleaved, sequence from 1."""
    rng = random.Random(seed)
    columns = PROCESS_COLUMNS if stream == "process" else MEMORY_COLUMNS
    make = _process_row if stream == "process" else _memory_row
    records = [
        make(machine, sequence, rng)
        for machine, count in rows_per_machine.items()
        for sequence in range(1, count + 1)
    ]
    # Files need not be sorted: the loader orders each machine by sequence.
    rng.shuffle(records)
    path = folder / f"Streaming_Linux_{stream}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(records)
    return path


def planned_identities(
    path: Path, stream: Stream, rule: CycleSettings, *, seed: int, cycles: int, start_ts: float
) -> list[tuple[int, int, int, float]]:
    """(machine, pass, sequence, ts) of every record a simulated-clock run must send,
    in send order: recomputed with the pure planner, independently of the producer."""
    rows = load_stream_rows(path, stream)
    planner = CyclePlanner(rows.row_counts, rule, random.Random(seed))
    clock = SimulatedClock(start_ts, rule.cycle_period_s)
    planned = [r for cycle in range(cycles) for r in planner.next_cycle(clock.stamp(cycle)).rows]
    planned.extend(planner.drain())
    return [(r.machine, r.pass_, rows.machines[r.machine][r.index].sequence, r.ts) for r in planned]

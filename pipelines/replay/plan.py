"""The cycle planner (SPEC §3): which rows each machine sends in each cycle.

Pure: no clock, no Kafka. Each machine keeps its own cursor over its rows (in
``sequence`` order). Every cycle draws, per machine, X new rows (sent now) and Y
late rows (stamped with this cycle's ``ts`` but held back and sent at the head of
the next cycle). Both advance the cursor; when a machine's rows run out its cursor
restarts at its first row and its ``pass`` grows by one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from pipelines.config import CycleSettings


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a machine's next row is: ``index`` into its rows, on pass ``pass_``."""

    index: int = 0
    pass_: int = 0


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """One record to send.

    Attributes:
        machine: the machine id.
        index: position in the machine's rows (0-based, ``sequence`` order).
        pass_: the machine's wrap count when the row was taken.
        ts: the event time of the cycle that took it (UTC unix seconds).
        late: True for a row held back and sent with the following cycle.
    """

    machine: int
    index: int
    pass_: int
    ts: float
    late: bool = False


@dataclass(frozen=True)
class CyclePlan:
    """What one cycle sends, and what it leaves for the next.

    Attributes:
        cycle: the cycle number, from 0.
        ts: this cycle's event time.
        rows: send order: the previous cycle's held-back rows (their own, earlier
            ``ts``) first, then this cycle's new rows machine by machine.
        held: rows taken this cycle, stamped ``ts``, to be sent with the next cycle.
        cursors: each machine's cursor after this cycle.
        drawn: machine → (X new rows, Y held-back rows) drawn for this cycle.
    """

    cycle: int
    ts: float
    rows: tuple[PlannedRow, ...]
    held: tuple[PlannedRow, ...]
    cursors: Mapping[int, Cursor]
    drawn: Mapping[int, tuple[int, int]]


def take_rows(
    cursor: Cursor, count: int, row_count: int, *, machine: int, ts: float, late: bool = False
) -> tuple[list[PlannedRow], Cursor]:
    """The next ``count`` rows from ``cursor``, wrapping to the first row as needed.

    Args:
        cursor: where the machine's next row is.
        count: rows to take (may exceed ``row_count``: the machine wraps repeatedly).
        row_count: how many rows the machine has (at least 1).
        machine: the machine id, copied into each planned row.
        ts: the event time stamped on each row.
        late: mark the rows as held back.

    Returns:
        The planned rows and the cursor after them.
    """
    if row_count < 1:
        raise ValueError(f"machine {machine} has no rows to replay")
    taken: list[PlannedRow] = []
    index, pass_ = cursor.index, cursor.pass_
    for _ in range(count):
        taken.append(PlannedRow(machine, index, pass_, ts, late))
        index += 1
        if index == row_count:
            index, pass_ = 0, pass_ + 1
    return taken, Cursor(index, pass_)


def plan_cycle(
    cursors: Mapping[int, Cursor],
    row_counts: Mapping[int, int],
    rng: random.Random,
    rule: CycleSettings,
    *,
    cycle: int,
    ts: float,
    held: tuple[PlannedRow, ...] = (),
) -> CyclePlan:
    """Plan one cycle for every machine.

    Draws happen in ascending machine order, X before Y, so a seeded ``rng`` gives
    the same plan every time.

    Args:
        cursors: each machine's cursor before this cycle (missing = start of its rows).
        row_counts: rows per machine; every machine here takes part.
        rng: the seedable source of X (``rule.rows_min..rows_max``) and Y
            (``rule.late_rows_min..late_rows_max``), both inclusive.
        rule: the stream's cycle settings.
        cycle: the cycle number (recorded in the plan).
        ts: this cycle's event time, stamped on its new and held-back rows.
        held: the previous cycle's held-back rows, sent first.
    """
    new_rows: list[PlannedRow] = []
    held_now: list[PlannedRow] = []
    after: dict[int, Cursor] = {}
    drawn: dict[int, tuple[int, int]] = {}
    for machine in sorted(row_counts):
        cursor = cursors.get(machine, Cursor())
        count = row_counts[machine]
        x = rng.randint(rule.rows_min, rule.rows_max)
        # No draw when late rows are off, so a process run's X sequence does not
        # depend on the (unused) Y range.
        y = rng.randint(rule.late_rows_min, rule.late_rows_max) if rule.late_rows_max else 0
        sent, cursor = take_rows(cursor, x, count, machine=machine, ts=ts)
        late, cursor = take_rows(cursor, y, count, machine=machine, ts=ts, late=True)
        new_rows.extend(sent)
        held_now.extend(late)
        after[machine] = cursor
        drawn[machine] = (x, y)
    return CyclePlan(
        cycle=cycle,
        ts=ts,
        rows=(*held, *new_rows),
        held=tuple(held_now),
        cursors=after,
        drawn=drawn,
    )


class CyclePlanner:
    """Plans cycles one after another, carrying cursors and held-back rows.

    Args:
        row_counts: rows per machine.
        rule: the stream's cycle settings.
        rng: the seeded random source.
    """

    def __init__(
        self, row_counts: Mapping[int, int], rule: CycleSettings, rng: random.Random
    ) -> None:
        empty = [m for m, n in row_counts.items() if n < 1]
        if empty or not row_counts:
            raise ValueError(f"every machine needs rows to replay (empty: {empty})")
        self.row_counts = dict(row_counts)
        self.rule = rule
        self.rng = rng
        self.cursors: dict[int, Cursor] = {m: Cursor() for m in sorted(row_counts)}
        self.held: tuple[PlannedRow, ...] = ()
        self.cycle = 0

    def next_cycle(self, ts: float) -> CyclePlan:
        """Plan the next cycle at event time ``ts``; the held-back rows move into it."""
        plan = plan_cycle(
            self.cursors,
            self.row_counts,
            self.rng,
            self.rule,
            cycle=self.cycle,
            ts=ts,
            held=self.held,
        )
        self.cursors = dict(plan.cursors)
        self.held = plan.held
        self.cycle += 1
        return plan

    def drain(self) -> tuple[PlannedRow, ...]:
        """The rows still held back (sent before exit); afterwards none are held."""
        held, self.held = self.held, ()
        return held

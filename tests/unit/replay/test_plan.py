"""The cycle planner (SPEC §3), checked over many seeded cycles with plain values."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict

import pytest

from pipelines.config import load_settings
from pipelines.replay.plan import Cursor, CyclePlanner, PlannedRow, plan_cycle, take_rows

REPLAY = load_settings().replay
PROCESS, MEMORY = REPLAY.process, REPLAY.memory
ROW_COUNTS = {4: 1300, 5: 1100, 6: 140, 7: 950}  # machine 6 is short, as in the real data
CYCLES = 1000


def run_planner(rule, cycles=CYCLES, seed=11, row_counts=ROW_COUNTS):  # type: ignore[no-untyped-def]
    planner = CyclePlanner(row_counts, rule, random.Random(seed))
    plans = [planner.next_cycle(ts=1_000_000.0 + 5 * i) for i in range(cycles)]
    return planner, plans


@pytest.mark.parametrize(
    ("rule", "x_bounds", "y_bounds"),
    [(PROCESS, (10, 50), (0, 0)), (MEMORY, (20, 80), (0, 5))],
    ids=["process", "memory"],
)
def test_draws_reach_both_bounds_and_never_exceed_them(rule, x_bounds, y_bounds) -> None:  # type: ignore[no-untyped-def]
    _, plans = run_planner(rule)
    xs = [x for plan in plans for x, _ in plan.drawn.values()]
    ys = [y for plan in plans for _, y in plan.drawn.values()]
    assert len(xs) == CYCLES * len(ROW_COUNTS)
    assert (min(xs), max(xs)) == x_bounds
    assert (min(ys), max(ys)) == y_bounds
    for plan in plans:
        for machine, (x, y) in plan.drawn.items():
            new = [r for r in plan.rows if r.machine == machine and not r.late]
            held = [r for r in plan.held if r.machine == machine]
            assert (len(new), len(held)) == (x, y)


@pytest.mark.parametrize("rule", [PROCESS, MEMORY], ids=["process", "memory"])
def test_every_row_is_sent_once_per_pass_in_sequence_order(rule) -> None:  # type: ignore[no-untyped-def]
    planner, plans = run_planner(rule)
    sent: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for row in [r for plan in plans for r in plan.rows] + list(planner.drain()):
        sent[row.machine].append((row.pass_, row.index))
    for machine, count in ROW_COUNTS.items():
        order = sent[machine]
        # What a machine sends, in send order, is its rows 0..n-1 on pass 0, then again
        # on pass 1, …: nothing skipped or repeated, also across each wrap.
        expected = [(i // count, i % count) for i in range(len(order))]
        assert order == expected, f"machine {machine}"
        assert order[-1][0] >= 1, f"machine {machine} should have wrapped at least once"


def test_the_short_machine_wraps_first() -> None:
    _, plans = run_planner(PROCESS, cycles=40)
    first_wrap = next(r for plan in plans for r in plan.rows if r.pass_ == 1)
    assert first_wrap.machine == 6
    assert first_wrap.index == 0


def test_late_rows_carry_the_previous_ts_and_lead_the_next_cycle() -> None:
    _, plans = run_planner(MEMORY, cycles=200)
    assert sum(len(p.held) for p in plans) > 0
    for before, plan in itertools.pairwise(plans):
        head = plan.rows[: len(before.held)]
        assert head == before.held
        assert all(r.late and r.ts == before.ts for r in head)
        assert all(not r.late and r.ts == plan.ts for r in plan.rows[len(before.held) :])
        assert plan.ts != before.ts


def test_the_first_cycle_has_no_late_rows_and_drain_returns_the_last_held() -> None:
    planner, plans = run_planner(MEMORY, cycles=30)
    assert not any(r.late for r in plans[0].rows)
    last_held = plans[-1].held
    assert planner.drain() == last_held
    assert planner.drain() == ()


def test_process_rule_never_holds_rows_back() -> None:
    _, plans = run_planner(PROCESS, cycles=100)
    assert all(plan.held == () for plan in plans)
    assert not any(r.late for plan in plans for r in plan.rows)


def test_same_seed_same_plans_other_seed_other_plans() -> None:
    _, first = run_planner(MEMORY, cycles=20, seed=3)
    _, again = run_planner(MEMORY, cycles=20, seed=3)
    _, other = run_planner(MEMORY, cycles=20, seed=4)
    assert [p.rows for p in first] == [p.rows for p in again]
    assert [p.drawn for p in first] != [p.drawn for p in other]


def test_take_rows_wraps_repeatedly_when_a_machine_is_tiny() -> None:
    rows, cursor = take_rows(Cursor(index=1, pass_=0), 7, 3, machine=9, ts=1.0)
    assert [(r.pass_, r.index) for r in rows] == [
        (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1)
    ]  # fmt: skip
    assert cursor == Cursor(index=2, pass_=2)
    assert all(r == PlannedRow(9, r.index, r.pass_, 1.0, False) for r in rows)


def test_plan_cycle_starts_machines_without_a_cursor_at_their_first_row() -> None:
    plan = plan_cycle({}, {4: 100}, random.Random(0), PROCESS, cycle=0, ts=5.0)
    x, _ = plan.drawn[4]
    assert [r.index for r in plan.rows] == list(range(x))
    assert plan.cursors[4] == Cursor(index=x, pass_=0)


def test_a_machine_without_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="every machine needs rows"):
        CyclePlanner({4: 10, 5: 0}, PROCESS, random.Random(0))

"""Producers against the real broker: records consumed back and checked one by one."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from pipelines.config import Settings
from pipelines.errors import ConfigError
from pipelines.replay.kafka_producer import Replayer
from pipelines.replay.report import ReplayReport
from pipelines.replay.rows import load_stream_rows
from tests.support.replay import ROWS_PER_MACHINE, planned_identities, write_streaming_csv

START_TS = 1_700_000_000.0
SEED = 42


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("streaming")
    write_streaming_csv(folder, "process")
    write_streaming_csv(folder, "memory")
    return folder


def identity(record: dict) -> tuple:  # type: ignore[type-arg]
    return (record["run_id"], record["machine"], record["pass"], record["sequence"])


def check_sequence_order(records: list[dict]) -> None:  # type: ignore[type-arg]
    """Per machine: sequence 1, 2, … in order, wrapping to 1 with pass + 1."""
    by_machine: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for record in records:
        by_machine[record["machine"]].append((record["pass"], record["sequence"]))
    for machine, seen in by_machine.items():
        count = ROWS_PER_MACHINE[machine]
        assert seen == [(i // count, i % count + 1) for i in range(len(seen))], machine


@pytest.mark.parametrize("stream", ["process", "memory"])
def test_three_cycles_arrive_record_by_record(
    broker_settings: Settings, topic_factory, consume, csv_dir: Path, stream: str
) -> None:  # type: ignore[no-untyped-def]
    topic = topic_factory(stream)
    path = csv_dir / f"Streaming_Linux_{stream}.csv"
    progress: list[ReplayReport] = []
    with Replayer(
        broker_settings,
        stream,  # type: ignore[arg-type]
        file=path,
        seed=SEED,
        speed=100.0,
        clock="simulated",
        start_ts=START_TS,
        topic=topic,
        on_progress=progress.append,
    ) as replayer:
        report = replayer.run(cycles=3)

    rule = getattr(broker_settings.replay, stream)
    expected = planned_identities(
        path,
        stream,
        rule,
        seed=SEED,
        cycles=3,
        start_ts=START_TS,  # type: ignore[arg-type]
    )
    consumed = consume(topic, len(expected))
    records = [value for _, value in consumed]

    # Record by record: exactly what the planner says, in send order, nothing more.
    assert [(r["machine"], r["pass"], r["sequence"], r["ts"]) for r in records] == expected
    assert all(key == str(r["machine"]).encode() for key, r in consumed)
    # Every CSV field arrives exactly as loaded (values typed, never altered).
    rows = load_stream_rows(path, stream)  # type: ignore[arg-type]
    for record in records:
        row = rows.machines[record["machine"]][record["sequence"] - 1]
        assert {k: v for k, v in record.items() if k not in ("ts", "run_id", "pass")} == dict(
            row.fields
        )
    assert {r["run_id"] for r in records} == {report.run_id}
    assert len({identity(r) for r in records}) == len(records)
    check_sequence_order(records)

    # The report agrees with the topic.
    assert (report.cycles, report.errors, report.reason) == (3, 0, "cycles")
    assert report.total_sent == report.total_acked == len(records)
    assert report.acked == dict(Counter(r["machine"] for r in records))
    assert progress and progress[-1].total_acked == len(records)

    # Per cycle: one ts for the new rows, counts within the rule's bounds.
    cycle_ts = [START_TS + i * rule.cycle_period_s for i in range(3)]
    new_rows = defaultdict(list)
    for position, record in enumerate(records):
        new_rows[record["ts"]].append((position, record))
    assert sorted(new_rows) == cycle_ts
    if stream == "process":
        for ts in cycle_ts:
            per_machine = Counter(r["machine"] for _, r in new_rows[ts])
            assert set(per_machine) == set(ROWS_PER_MACHINE)
            assert all(rule.rows_min <= n <= rule.rows_max for n in per_machine.values())
        return

    # Memory: within one ts, records run machine by machine twice: first the cycle's
    # new rows (sent in its own batch), then its late rows, which lead the next batch
    # (or, for the last cycle, are sent at exit). A third run would be a misplaced row.
    late_counts = []
    for ts in cycle_ts:
        machines = [r["machine"] for _, r in new_rows[ts]]
        runs = [[machines[0]]]
        for before, machine in itertools.pairwise(machines):
            if machine < before:
                runs.append([])
            runs[-1].append(machine)
        assert 1 <= len(runs) <= 2, ts
        fresh, late = Counter(runs[0]), Counter(runs[1] if len(runs) == 2 else [])
        assert all(rule.rows_min <= fresh[m] <= rule.rows_max for m in ROWS_PER_MACHINE)
        assert all(rule.late_rows_min <= late[m] <= rule.late_rows_max for m in late)
        late_counts.append(sum(late.values()))
    assert late_counts[2] > 0, "rows held back by the last cycle are sent before exit"
    assert records[-1]["ts"] == cycle_ts[2]
    assert all(n > 0 for n in late_counts), "seed 42 holds rows back every cycle"


def test_a_replayer_runs_once(broker_settings: Settings, topic_factory, csv_dir: Path) -> None:  # type: ignore[no-untyped-def]
    with Replayer(
        broker_settings,
        "process",
        file=csv_dir / "Streaming_Linux_process.csv",
        max_rate=True,
        topic=topic_factory("once"),
    ) as replayer:
        assert replayer.run(cycles=1).errors == 0
        with pytest.raises(ConfigError, match="runs once"):
            replayer.run(cycles=1)

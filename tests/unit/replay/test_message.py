"""One Kafka record: key = machine, value = CSV columns + ts, run_id, pass."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.replay.message import decode_value, encode_key, encode_value
from pipelines.replay.rows import load_stream_rows
from pipelines.schema.columns import MEMORY_COLUMNS
from tests.support.replay import write_streaming_csv


def test_value_has_every_column_then_ts_run_id_and_pass(tmp_path: Path) -> None:
    rows = load_stream_rows(write_streaming_csv(tmp_path, "memory"), "memory")
    row = rows.machines[6][3]
    value = encode_value(row, ts=1_700_000_005.25, run_id="run-1", pass_=2)
    record = json.loads(value)
    assert list(record) == [*MEMORY_COLUMNS, "ts", "run_id", "pass"]
    assert {k: record[k] for k in MEMORY_COLUMNS} == dict(row.fields)
    assert (record["ts"], record["run_id"], record["pass"]) == (1_700_000_005.25, "run-1", 2)
    assert (record["machine"], record["sequence"]) == (6, 4)
    assert decode_value(value) == record


def test_key_is_the_machine_id_as_text() -> None:
    assert encode_key(4) == b"4"
    assert encode_key(12) == b"12"


def test_non_ascii_commands_survive(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(",".join(MEMORY_COLUMNS) + '\n1,5,1,0,0,0,0,0,0,0,0,caf\u00e9 "q"\n')
    row = load_stream_rows(path, "memory").machines[5][0]
    assert decode_value(encode_value(row, ts=1.0, run_id="r", pass_=0))["CMD"] == 'caf\u00e9 "q"'

"""Exit events as the kernel sends them, and the agent's messages as the producers' layout."""

from __future__ import annotations

import json
import struct

from pipelines.agent.exits import PROC_EVENT_EXIT, parse_exit_events
from pipelines.agent.run import MACHINE_ID_BASE, MACHINE_ID_SPAN, Agent, machine_id
from pipelines.config import load_settings, replace

FORK_EVENT = 0x00000001


def _event(what: int, pid: int, tgid: int, status: int) -> bytes:
    body = struct.pack("=IIQ", what, 0, 0) + struct.pack("=IIII", pid, tgid, status, 17)
    cn = struct.pack("=IIIIHH", 1, 1, 0, 0, len(body), 0) + body
    return struct.pack("=IHHII", 16 + len(cn), 3, 0, 0, 0) + cn


def test_exit_events_of_processes_are_read_and_thread_exits_ignored() -> None:
    datagram = (
        _event(PROC_EVENT_EXIT, 300, 300, 7 << 8)
        + _event(PROC_EVENT_EXIT, 301, 300, 0)  # a thread of 300
        + _event(FORK_EVENT, 302, 302, 0)
    )
    assert parse_exit_events(datagram) == [(300, 7 << 8)]
    assert parse_exit_events(b"") == [] and parse_exit_events(b"\x00" * 10) == []


def test_a_host_keeps_its_machine_id_and_ids_stay_apart_from_replayed_fleets() -> None:
    assert machine_id("web-01") == machine_id("web-01") != machine_id("web-02")
    assert MACHINE_ID_BASE <= machine_id("web-01") < MACHINE_ID_BASE + MACHINE_ID_SPAN


def test_rows_become_the_producers_array_layout_in_chunks() -> None:
    settings = replace(load_settings(), {"agent.chunk_records": 2})
    agent = Agent(settings, machine=42, run_id="r1")
    rows = [{"PID": pid, "CMD": "sh"} | dict.fromkeys(
        ("TRUN", "TSLPI", "TSLPU", "POLI", "NICE", "PRI", "RTPR", "CPUNR", "Status",
         "EXC", "State", "CPU"), 0) for pid in (1, 2, 3)]  # fmt: skip
    messages = agent._messages("process", rows, ts=1_700_000_000)
    assert [m.records for m in messages] == [2, 1]
    assert {m.key for m in messages} == {b"42"} and {m.topic for m in messages} == {
        settings.kafka.topics.process
    }
    records = [r for m in messages for r in json.loads(m.value)]
    assert [r["sequence"] for r in records] == [1, 2, 3]
    assert list(records[0])[:3] == ["sequence", "machine", "PID"]
    assert records[0] | {} == {
        **records[0], "machine": 42, "ts": 1_700_000_000, "run_id": "r1", "pass": 0,
    }  # fmt: skip
    again = agent._messages("process", rows[:1], ts=1_700_000_010)
    assert json.loads(again[0].value)[0]["sequence"] == 4  # counting on, per stream
    memory_row = {"PID": 1, "CMD": "sh"} | dict.fromkeys(
        ("MINFLT", "MAJFLT", "VSTEXT", "VSIZE", "RSIZE", "VGROW", "RGROW", "MEM"), 0
    )
    memory = json.loads(agent._messages("memory", [memory_row], ts=0)[0].value)[0]
    assert memory["sequence"] == 1 and list(memory)[:4] == ["sequence", "machine", "PID", "MINFLT"]

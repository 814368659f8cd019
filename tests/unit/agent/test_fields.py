"""atop's fields of an interval from two readings (plain values, no /proc)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipelines.agent.fields import (
    ExitStatus,
    ProcReading,
    ThreadStates,
    atop_size,
    ended_rows,
    interval_rows,
    live_rows,
)

MEM_TOTAL_KIB = 8 * 1024 * 1024  # 8 GiB

BASE = ProcReading(
    pid=1442,
    start_ticks=5_000,
    name="Xorg",
    state="S",
    policy=0,
    nice=0,
    priority=20,
    rt_priority=0,
    cpu=3,
    threads=ThreadStates(running=1, sleeping=4, uninterruptible=0),
    system_cpu_s=10.0,
    minflt=1_000,
    majflt=3,
    vsize_kib=188_723,  # 184.3 M
    rsize_kib=5_668,
    text_kib=596,
)


@pytest.mark.parametrize(
    ("kib", "shown"),
    [
        (0, 0),
        (5_668, 5_668),
        (99_999, 99_999),
        (100_000, 97.7),  # atop switches to M above five digits of K
        (188_723, 184.3),
        (1_023_897, 999.9),
        (1_363_149, 1.3),  # then G
        (-44, -44),  # shrinking growth keeps its sign
    ],
)
def test_sizes_are_shown_as_atop_shows_them_with_the_unit_letter_stripped(
    kib: float, shown: float
) -> None:
    assert atop_size(kib) == shown


def test_a_process_alive_through_the_interval_reports_what_it_did_in_it() -> None:
    now = replace(
        BASE, system_cpu_s=10.25, minflt=1_073, majflt=3, rsize_kib=5_712, vsize_kib=188_723
    )
    process, memory = live_rows(BASE, now, mem_total_kib=MEM_TOTAL_KIB)
    assert process == {
        "PID": 1442, "TRUN": 1, "TSLPI": 4, "TSLPU": 0, "POLI": "norm", "NICE": 0,
        "PRI": 120, "RTPR": 0, "CPUNR": 3, "Status": "-", "EXC": 0, "State": "S",
        "CPU": 0.25, "CMD": "Xorg",
    }  # fmt: skip
    assert memory == {
        "PID": 1442, "MINFLT": 73, "MAJFLT": 0, "VSTEXT": 596, "VSIZE": 184.3,
        "RSIZE": 5_712, "VGROW": 0, "RGROW": 44, "MEM": 0.0, "CMD": "Xorg",
    }  # fmt: skip


def test_a_new_process_is_N_and_its_growth_is_its_whole_size() -> None:
    process, memory = live_rows(None, BASE, mem_total_kib=MEM_TOTAL_KIB)
    assert process["Status"] == "N" and process["CPU"] == 10.0
    assert (memory["VGROW"], memory["RGROW"]) == (memory["VSIZE"], memory["RSIZE"])
    assert memory["MINFLT"] == 1_000


def test_a_reused_pid_is_a_new_process() -> None:
    other = replace(BASE, start_ticks=9_000, name="sshd")
    process, _memory = live_rows(BASE, other, mem_total_kib=MEM_TOTAL_KIB)
    assert process["Status"] == "N" and process["CMD"] == "sshd"


def test_names_are_cut_as_atop_cuts_them() -> None:
    long = replace(BASE, name="unity-panel-ser")  # the kernel keeps 15 characters
    process, _memory = live_rows(BASE, long, mem_total_kib=MEM_TOTAL_KIB)
    assert process["CMD"] == "unity-panel-se"
    ended, _ = ended_rows(replace(BASE, name="nm-dhcp-client"), ExitStatus())
    assert ended["CMD"] == "<nm-dhcp-clie>"


def test_priority_policy_and_memory_share_follow_atops_conventions() -> None:
    realtime = replace(BASE, policy=1, priority=-51, rt_priority=50, nice=-10)
    process, _ = live_rows(BASE, realtime, mem_total_kib=MEM_TOTAL_KIB)
    assert (process["POLI"], process["PRI"], process["RTPR"], process["NICE"]) == (
        "fifo", 49, 50, -10,
    )  # fmt: skip
    big = replace(BASE, rsize_kib=0.03 * MEM_TOTAL_KIB)
    _, memory = live_rows(BASE, big, mem_total_kib=MEM_TOTAL_KIB)
    assert memory["MEM"] == 0.03


def test_an_ended_process_is_named_in_brackets_with_its_exit_code() -> None:
    process, memory = ended_rows(BASE, ExitStatus.from_wait_status(7 << 8))
    assert (process["CMD"], process["State"], process["Status"], process["EXC"]) == (
        "<Xorg>", "E", "E", 7,
    )  # fmt: skip
    assert (process["POLI"], process["PRI"], process["NICE"]) == ("0", 0, 0)
    assert (memory["VSIZE"], memory["RSIZE"], memory["MEM"], memory["CMD"]) == (0, 0, 0.0, "<Xorg>")


def test_a_killed_process_shows_the_signal() -> None:
    process, _ = ended_rows(BASE, ExitStatus.from_wait_status(9))
    assert (process["Status"], process["EXC"]) == ("S", 9)


def test_an_interval_lists_ended_processes_then_live_ones_by_pid() -> None:
    gone = replace(BASE, pid=900, name="cron")
    stays = BASE
    born = replace(BASE, pid=2000, name="sh", start_ticks=7_000)
    process_rows, memory_rows = interval_rows(
        {900: gone, 1442: stays},
        {1442: stays, 2000: born},
        {900: ExitStatus(code=1)},
        mem_total_kib=MEM_TOTAL_KIB,
    )
    assert [(r["PID"], r["CMD"], r["Status"]) for r in process_rows] == [
        (900, "<cron>", "E"), (1442, "Xorg", "-"), (2000, "sh", "N"),
    ]  # fmt: skip
    assert [r["PID"] for r in memory_rows] == [900, 1442, 2000]
    assert process_rows[0]["EXC"] == 1

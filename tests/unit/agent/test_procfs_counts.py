"""Reading the process table: processes that end or hide while read are counted, not fatal."""

from __future__ import annotations

import os

import psutil
import pytest

from pipelines.agent import procfs


def test_vanished_and_unreadable_processes_are_counted_and_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = procfs.read_process
    me, parent = os.getpid(), os.getppid()

    def flaky(process: psutil.Process, proc=procfs.PROC):  # type: ignore[no-untyped-def]
        if process.pid == me:
            raise psutil.NoSuchProcess(me)  # ended between the listing and the reading
        if process.pid == parent:
            raise psutil.AccessDenied(parent)  # another user's, without privileges
        return real(process, proc)

    monkeypatch.setattr(procfs, "read_process", flaky)
    reading = procfs.read_all()
    assert (reading.counts.vanished, reading.counts.denied) == (1, 1)
    assert me not in reading.processes and parent not in reading.processes
    assert 1 in reading.processes  # everything else is still read


def test_a_process_gone_before_its_stat_is_read_counts_as_vanished(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(psutil.NoSuchProcess):
        procfs.read_process(psutil.Process(os.getpid()), tmp_path)  # no <pid>/stat there


def test_thread_states_of_a_missing_process_are_zero(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert procfs.thread_states(123, tmp_path) == procfs.ThreadStates()

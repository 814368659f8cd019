"""SIGTERM and Ctrl-C for long-running commands (pipelines/signals.py)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pipelines.signals import interrupt_on_sigterm, stop_on_signals


def test_after_interrupt_on_sigterm_a_sigterm_runs_finally_blocks() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    cleaned_up = []
    try:
        interrupt_on_sigterm()
        with pytest.raises(KeyboardInterrupt):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1.0)  # the handler raises before this ends
            finally:
                cleaned_up.append(True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert cleaned_up == [True]


def test_the_first_sigterm_inside_stop_on_signals_only_asks_for_a_stop() -> None:
    stop = threading.Event()
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(2.0)

"""Ctrl-C and SIGTERM for long-running commands: the first asks for a clean stop.

Every command that runs until stopped (producers, the agent, the detector, the demo)
wraps its loop in :func:`stop_on_signals` and watches the event it sets.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM set ``stop``; a second one interrupts at once.

    The first signal lets the run finish its cycle, send held-back rows and flush;
    a second means the user does not want to wait for that.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return

    def handle(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def interrupt_on_sigterm() -> None:
    """From now on SIGTERM interrupts the main thread as Ctrl-C does (KeyboardInterrupt).

    Python's default for SIGTERM ends the process at once, skipping ``finally`` blocks:
    a benchmark killed that way left the producers and live consumers it had started
    running. Raising instead lets it stop what it started.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handle)

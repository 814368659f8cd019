"""Hear how processes end: the kernel's process-event connector (netlink).

atop learns a finished process's exit code from process accounting. The agent listens to
the kernel's process events instead (``NETLINK_CONNECTOR``, ``PROC_EVENT_EXIT``), which
several listeners can share and which needs no accounting file. Listening needs root
(``CAP_NET_ADMIN``); without it, or on a kernel without the connector, the agent still
runs and reports ended processes with EXC 0 (``ExitWatcher.available`` is False and the
agent says so when it starts).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import struct
import threading
from typing import Final

from pipelines.agent.fields import ExitStatus

log = logging.getLogger(__name__)

NETLINK_CONNECTOR: Final = 11
CN_IDX_PROC: Final = 1
CN_VAL_PROC: Final = 1
PROC_CN_MCAST_LISTEN: Final = 1
PROC_CN_MCAST_IGNORE: Final = 2
NLMSG_DONE: Final = 3
PROC_EVENT_EXIT: Final = 0x80000000

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
_EVENT_HEADER = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
_EXIT_EVENT = struct.Struct("=IIII")  # pid, tgid, exit_code, exit_signal

MAX_PENDING: Final = 100_000
"""Exit events kept between two takes (a fork bomb must not grow the agent)."""


def parse_exit_events(datagram: bytes) -> list[tuple[int, int]]:
    """(PID, wait status) of each process exit in one netlink datagram.

    Only the exit of a thread-group leader counts (the process itself, not one of its
    threads).
    """
    exits: list[tuple[int, int]] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(datagram):
        length = _NLMSGHDR.unpack_from(datagram, offset)[0]
        if length < _NLMSGHDR.size:
            break
        event_at = offset + _NLMSGHDR.size + _CN_MSG.size
        if event_at + _EVENT_HEADER.size + _EXIT_EVENT.size <= offset + length:
            what = _EVENT_HEADER.unpack_from(datagram, event_at)[0]
            if what == PROC_EVENT_EXIT:
                pid, tgid, status, _signal = _EXIT_EVENT.unpack_from(
                    datagram, event_at + _EVENT_HEADER.size
                )
                if pid == tgid:
                    exits.append((pid, status))
        offset += (length + 3) & ~3  # NLMSG_ALIGN
    return exits


def _control(op: int) -> bytes:
    payload = struct.pack("=I", op)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(cn), NLMSG_DONE, 0, 0, os.getpid()) + cn


class ExitWatcher:
    """A background listener collecting the exit status of every process that ends.

    ``with ExitWatcher() as exits: ...; exits.take()`` returns and forgets what was heard.
    """

    def __init__(self) -> None:
        self.available = False
        self.reason = ""
        self._socket: socket.socket | None = None
        self._exits: dict[int, ExitStatus] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ExitWatcher:
        """Subscribe to process events; on failure stay unavailable with a reason."""
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
            sock.bind((0, CN_IDX_PROC))
            sock.send(_control(PROC_CN_MCAST_LISTEN))
        except (OSError, AttributeError) as exc:
            self.reason = f"process exit events unavailable ({exc}): ended processes get EXC 0"
            return self
        self._socket = sock
        self.available = True
        self._thread = threading.Thread(target=self._listen, name="agent-exits", daemon=True)
        self._thread.start()
        return self

    def _listen(self) -> None:
        while not self._stop.is_set():
            sock = self._socket
            if sock is None:
                return
            ready, _, _ = select.select([sock], [], [], 0.2)
            if ready:
                self._drain()

    def _drain(self) -> None:
        """Read every datagram waiting now (the listener, and :meth:`take` before it
        answers, so that an exit just before the reading is not missed)."""
        sock = self._socket
        if sock is None:
            return
        while True:
            try:
                datagram = sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as exc:  # ENOBUFS: the kernel dropped events we were slow for
                log.warning("missed process exit events: %s", exc)
                return
            events = parse_exit_events(datagram)
            with self._lock:
                for pid, status in events:
                    if len(self._exits) < MAX_PENDING:
                        self._exits[pid] = ExitStatus.from_wait_status(status)

    def take(self) -> dict[int, ExitStatus]:
        """The exits heard since the last take (PID → status), forgotten here."""
        self._drain()
        with self._lock:
            exits, self._exits = self._exits, {}
        return exits

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.send(_control(PROC_CN_MCAST_IGNORE))
            self._socket.close()
            self._socket = None

    def __enter__(self) -> ExitWatcher:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

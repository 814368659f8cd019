"""Producers feed: runs ``stophacking produce`` as child processes and follows them.

Each producer is a child process in its own process group (so a Ctrl-C aimed at the
workbench terminal is handled by the workbench, which then stops the child
cleanly). The child writes one JSON object per line on stdout (``--progress
json``); a reader thread turns each line into one batched parameter update that
the tab (or a notebook) displays. Stopping sends SIGINT (the producer finishes its
cycle, sends held-back rows, flushes), then SIGTERM, then SIGKILL, each after a
grace period, and always waits for the child.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from typing import Any

import param

from pipelines.config import PROJECT_ROOT, Settings
from pipelines.replay.report import ReplayReport
from pipelines.schema.columns import STREAMS, Stream

STOP_GRACE_S = 30.0
"""After SIGINT: time to finish the cycle, send held-back rows and flush."""
TERM_GRACE_S = 5.0
"""After SIGTERM (the producer's 'stop now'): time to close its client."""
KILL_GRACE_S = 5.0
STDERR_TAIL_LINES = 20
ENV_REPLAY = "STOPHACKING_REPLAY"
ENV_KAFKA_EXTRA = "STOPHACKING_KAFKA__EXTRA"


def _cli(settings: Settings) -> list[str]:
    """``python -m pipelines.cli`` with the workbench's Kafka address and state folder as
    flags, so a child talks to the same cluster as the workbench. Its client keys go in
    the environment (:func:`producer_environment`): a password in argv is on every
    ``ps`` listing."""
    return [
        sys.executable, "-m", "pipelines.cli",
        "--bootstrap-servers", settings.kafka.bootstrap_servers,
        "--home", str(settings.home),
    ]  # fmt: skip


def agent_command(settings: Settings, *, interval_s: float) -> list[str]:
    """The ``stophacking agent`` command line: this machine, live (docs/agent.md)."""
    return [
        *_cli(settings), "agent",
        "--progress", "json",
        "--interval", repr(float(interval_s)),
        "--process-topic", settings.kafka.topics.process,
        "--memory-topic", settings.kafka.topics.memory,
    ]  # fmt: skip


def producer_command(
    settings: Settings,
    stream: Stream,
    *,
    file: str = "",
    speed: float = 1.0,
    seed: int | None = None,
    cycles: int | None = None,
) -> list[str]:
    """The ``stophacking produce`` command line for a child producer.

    Kafka address, client keys, state folder and topic come from ``settings`` as
    flags, so the child talks to the same cluster as the workbench.
    """
    command = _cli(settings)
    command += [
        "produce", stream,
        "--progress", "json",
        "--topic", getattr(settings.kafka.topics, stream),
        "--speed", repr(float(speed)),
    ]  # fmt: skip
    if file:
        command += ["--file", file]
    if seed is not None:
        command += ["--seed", str(seed)]
    if cycles is not None:
        command += ["--cycles", str(cycles)]
    return command


def producer_environment(settings: Settings) -> dict[str, str]:
    """The child's environment: ours, with the workbench's replay settings and Kafka
    client keys (``kafka.extra``, credentials included) as JSON.

    ``STOPHACKING_REPLAY__*`` and ``STOPHACKING_KAFKA__EXTRA__*`` variables are dropped
    so that they cannot override the settings this workbench actually uses.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith((f"{ENV_REPLAY}__", f"{ENV_KAFKA_EXTRA}__"))
    }
    env[ENV_REPLAY] = settings.replay.model_dump_json()
    env[ENV_KAFKA_EXTRA] = json.dumps(settings.kafka.extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


_log = logging.getLogger(__name__)


class ProducerFeed(param.Parameterized):
    """One producer (process or memory): its settings, its child process, its counts."""

    stream = param.String(default="process", constant=True)
    file = param.String(default="", doc="Streaming CSV to replay; empty: the demo data")
    speed = param.Number(default=1.0, bounds=(0.01, None), doc="divides the cycle period")
    seed = param.Integer(default=None, allow_None=True, doc="seed of the random row counts")
    cycles = param.Integer(
        default=None, allow_None=True, bounds=(1, None), doc="stop after N cycles"
    )
    running = param.Boolean(default=False)
    pid = param.Integer(default=None, allow_None=True)
    run_id = param.String(default="")
    cycles_done = param.Integer(default=0)
    sent_per_machine = param.Dict(default={}, doc="machine → records handed to Kafka")
    acked_per_machine = param.Dict(default={}, doc="machine → records Kafka acknowledged")
    total_acked = param.Integer(default=0)
    errors = param.Integer(default=0)
    records_per_s = param.Number(default=0.0)
    exit_code = param.Integer(default=None, allow_None=True)
    message = param.String(default="Not running.")

    def __init__(self, settings: Settings, stream: Stream, **params: Any) -> None:
        with param.edit_constant(self):
            super().__init__(stream=stream, **params)
        self.settings = settings
        self.summary: ReplayReport | None = None
        self._process: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._finished.set()

    # -- control ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the producer with the current settings (no-op while one runs)."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return
            command = self.command()
            self._stderr.clear()
            self.summary = None
            self._finished.clear()
            self._process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                cwd=PROJECT_ROOT,
                env=producer_environment(self.settings),
                start_new_session=True,
            )
            process = self._process
            self.param.update(
                running=True,
                pid=process.pid,
                run_id="",
                cycles_done=0,
                sent_per_machine={},
                acked_per_machine={},
                total_acked=0,
                errors=0,
                records_per_s=0.0,
                exit_code=None,
                message=f"Starting the {self.stream} producer (pid {process.pid})…",
            )
            self._readers = [
                threading.Thread(
                    target=self._read_progress, args=(process,), daemon=True,
                    name=f"{self.stream}-producer-stdout",
                ),
                threading.Thread(
                    target=self._read_stderr, args=(process,), daemon=True,
                    name=f"{self.stream}-producer-stderr",
                ),
            ]  # fmt: skip
            for reader in self._readers:
                reader.start()

    def command(self) -> list[str]:
        """The child's command line, from the current settings."""
        return producer_command(
            self.settings,
            self.stream,  # type: ignore[arg-type]
            file=self.file.strip(),
            speed=self.speed,
            seed=self.seed,
            cycles=self.cycles,
        )

    def stop(self) -> int | None:
        """Stop the producer cleanly and wait for it; return its exit code.

        SIGINT first (finish the cycle, send held-back rows, flush), then SIGTERM,
        then SIGKILL, each after its grace period.
        """
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            self.message = f"Stopping the {self.stream} producer…"
        for sig, grace_s in (
            (signal.SIGINT, STOP_GRACE_S),
            (signal.SIGTERM, TERM_GRACE_S),
            (signal.SIGKILL, KILL_GRACE_S),
        ):
            if process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace_s)
        self._finished.wait(timeout=KILL_GRACE_S)
        return process.returncode

    def wait(self, timeout_s: float | None = None) -> ReplayReport | None:
        """Wait until the producer exits (a bounded run ends); return its summary.

        Returns:
            The final summary, or ``None`` if it is still running after ``timeout_s``
            or ended without one (see :attr:`message`).
        """
        self._finished.wait(timeout=timeout_s)
        return self.summary

    # -- the child's output ----------------------------------------------------------
    def _read_progress(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not a progress line (a library printed something)
            if event.get("event") == "start":
                self.param.update(
                    run_id=event.get("run_id", ""), message=self.started_message(event)
                )
            elif event.get("event") in ("progress", "summary"):
                report = ReplayReport.from_json(event)
                if report.done:
                    self.summary = report
                self._show(report)
        process.wait()
        for reader in self._readers:
            if reader is not threading.current_thread():
                reader.join(timeout=KILL_GRACE_S)
        code = process.returncode
        if self.summary is not None and code == 0:
            message = self.finished_message(self.summary)
        elif code in (-signal.SIGKILL, -signal.SIGTERM):
            message = f"The {self.stream} producer was killed (signal {-code})."
        else:
            detail = self._stderr[-1] if self._stderr else "no message"
            message = f"The {self.stream} producer exited with code {code}: {detail}"
        self.param.update(running=False, pid=None, exit_code=code, message=message)
        self._finished.set()

    def started_message(self, event: dict[str, Any]) -> str:
        """What the card says once the child has started (its ``start`` line)."""
        return f"Replaying {event.get('file')} onto {event.get('topic')}"

    def finished_message(self, summary: ReplayReport) -> str:
        """What the card says after a clean exit."""
        return " · ".join(summary.summary_lines()[:1])

    def _read_stderr(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            # The progress bar is off in JSON mode; what arrives here are warnings and
            # the one-line error a failed run ends with.
            if line.strip():
                self._stderr.append(line.rstrip())

    def _show(self, report: ReplayReport) -> None:
        # One batched update per progress line (at most every progress_interval_s).
        try:
            self.param.update(
                cycles_done=report.cycles,
                sent_per_machine={str(m): n for m, n in sorted(report.sent.items())},
                acked_per_machine={str(m): n for m, n in sorted(report.acked.items())},
                total_acked=report.total_acked,
                errors=report.errors,
                records_per_s=round(report.records_per_s, 1),
            )
        except Exception as exc:  # a session torn down at shutdown; the reader goes on
            _log.warning("showing producer progress failed: %s", exc)


class AgentFeed(ProducerFeed):
    """``stophacking agent`` on the workbench's own machine, followed like a producer:
    its rows go to the same process and memory topics, under this machine's id."""

    interval_s = param.Number(
        default=None, allow_None=True, bounds=(0.5, None), doc="seconds between samples"
    )  # from settings.agent.interval_s
    machine = param.Integer(default=None, allow_None=True, doc="the id its rows carry")

    def __init__(self, settings: Settings, **params: Any) -> None:
        super().__init__(settings, "agent", **params)  # type: ignore[arg-type]
        self.interval_s = settings.agent.interval_s
        self.message = "Not running: start it to monitor this machine live."

    def command(self) -> list[str]:
        return agent_command(
            self.settings, interval_s=self.interval_s or self.settings.agent.interval_s
        )

    def started_message(self, event: dict[str, Any]) -> str:
        self.machine = event.get("machine")
        return (
            f"Sampling this machine (machine {event.get('machine')}) every "
            f"{self.interval_s:g} s onto {event.get('topic')}; first rows after one interval"
        )

    def finished_message(self, summary: ReplayReport) -> str:
        return (
            f"Stopped after {summary.cycles} intervals: {summary.total_acked:,} of "
            f"{summary.total_sent:,} rows of machine {self.machine} acknowledged."
        )


class ProducersFeed:
    """The process and the memory producer of one workbench, and this machine's agent."""

    def __init__(self, settings: Settings) -> None:
        self.by_stream: dict[str, ProducerFeed] = {
            stream: ProducerFeed(settings, stream) for stream in STREAMS
        }
        self.agent = AgentFeed(settings)

    @property
    def process(self) -> ProducerFeed:
        return self.by_stream["process"]

    @property
    def memory(self) -> ProducerFeed:
        return self.by_stream["memory"]

    def stop_all(self) -> None:
        """Stop every running producer and the agent, and wait for them (in parallel: each
        may flush)."""
        feeds = {**self.by_stream, "agent": self.agent}
        stoppers = [
            threading.Thread(target=feed.stop, name=f"stop-{name}-producer")
            for name, feed in feeds.items()
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()

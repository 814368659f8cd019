"""A Spark standalone cluster on this machine: one master, one worker, from pyspark's install.

The PyPI ``pyspark`` package ships ``bin/spark-class`` and every jar of Spark, but not
the ``sbin/start-master.sh``/``start-worker.sh`` scripts, so the master and the worker
are started directly with ``spark-class`` and the Master/Worker classes, each in its
own process group (stopping the group stops the JVM and its launcher shell)::

    with StandaloneCluster(tmp / "cluster") as cluster:
        run(["stophacking", "detect", "--master", cluster.master_url, ...])
        cluster.applications()   # what the master ran, from its /json endpoint

The master's web UI answers ``/json`` with its workers and applications; the worker
keeps each executor's stdout/stderr under ``<work_dir>/worker/<app-id>/<executor-id>/``.
Used by the cluster test and by anyone trying the detector on a cluster by hand
(docs/detector.md, "Running on a standalone cluster").
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pyspark

from pipelines.errors import StopHackingError

MASTER_CLASS: Final = "org.apache.spark.deploy.master.Master"
WORKER_CLASS: Final = "org.apache.spark.deploy.worker.Worker"
POLL_S: Final = 0.5
HTTP_TIMEOUT_S: Final = 5.0


class ClusterError(StopHackingError):
    """The standalone master or worker did not come up (the message names its log)."""


def pyspark_home() -> Path:
    """The installed pyspark folder: Spark's home (``bin/``, ``jars/``)."""
    return Path(pyspark.__file__).resolve().parent


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class StandaloneCluster:
    """A master and one worker started with ``spark-class``; stopped with their groups.

    Args:
        work_dir: holds ``master.log``, ``worker.log`` and the worker's ``worker/``
            folder (executor logs and files of each application).
        host: address both bind to.
        worker_cores: cores the worker offers.
        worker_memory: memory the worker offers (``1g``); an executor takes
            ``spark.executor.memory`` (1g by default) of it.
        start_timeout_s: seconds to wait for the master's web UI and the worker's
            registration.
        python: the Python executors start for PySpark work (default: this one).
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        host: str = "127.0.0.1",
        worker_cores: int = 1,
        worker_memory: str = "1g",
        start_timeout_s: float = 120.0,
        python: str | None = None,
    ) -> None:
        self.work_dir = Path(work_dir)
        self.host = host
        self.worker_cores = worker_cores
        self.worker_memory = worker_memory
        self.start_timeout_s = start_timeout_s
        self.python = python or sys.executable
        self.port = free_port(host)
        self.webui_port = free_port(host)
        self.worker_webui_port = free_port(host)
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def master_url(self) -> str:
        """``spark://host:port``: what ``--master`` takes."""
        return f"spark://{self.host}:{self.port}"

    @property
    def webui_url(self) -> str:
        """The master's web UI (``/json`` gives its state as JSON)."""
        return f"http://{self.host}:{self.webui_port}"

    @property
    def worker_dir(self) -> Path:
        """The worker's work folder: ``<app-id>/<executor-id>/stderr`` per executor."""
        return self.work_dir / "worker"

    @property
    def pids(self) -> dict[str, int]:
        """Process (and process group) id of ``master`` and ``worker``."""
        return {name: p.pid for name, p in self._processes.items()}

    def _environment(self) -> dict[str, str]:
        home = pyspark_home()
        return {
            **os.environ,
            # spark-class finds the jars and the launcher under SPARK_HOME.
            "SPARK_HOME": str(home),
            "SPARK_LOG_DIR": str(self.work_dir / "logs"),
            "SPARK_LOCAL_IP": self.host,
            "PYSPARK_PYTHON": self.python,
        }

    def _launch(self, name: str, arguments: list[str]) -> None:
        command = [str(pyspark_home() / "bin" / "spark-class"), *arguments]
        with (self.work_dir / f"{name}.log").open("wb") as log:
            self._processes[name] = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                cwd=self.work_dir,
                start_new_session=True,
            )

    def status(self) -> dict[str, Any]:
        """The master's state (workers, active and completed applications) from ``/json``.

        Raises:
            ClusterError: the master does not answer.
        """
        try:
            with urllib.request.urlopen(f"{self.webui_url}/json", timeout=HTTP_TIMEOUT_S) as r:
                payload: dict[str, Any] = json.loads(r.read().decode())
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise ClusterError(f"the master at {self.webui_url} does not answer: {exc}") from exc
        return payload

    def alive_workers(self) -> int:
        """Workers registered with the master in state ALIVE (0 when it does not answer)."""
        try:
            workers = self.status().get("workers", [])
        except ClusterError:
            return 0
        return sum(1 for w in workers if w.get("state") == "ALIVE")

    def applications(self) -> list[dict[str, Any]]:
        """Every application the master knows, running or completed (name, id, state …)."""
        status = self.status()
        return [*status.get("activeapps", []), *status.get("completedapps", [])]

    def _wait(self, what: str, log: str, ready: Callable[[], object]) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while not ready():
            for name, process in self._processes.items():
                if process.poll() is not None:
                    raise ClusterError(
                        f"the {name} exited with {process.returncode}; "
                        f"see {self.work_dir / f'{name}.log'}"
                    )
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{what} not within {self.start_timeout_s:.0f} s; see {self.work_dir / log}"
                )
            time.sleep(POLL_S)

    def start(self) -> None:
        """Start the master, wait for its web UI, start the worker, wait for it to register.

        Raises:
            ClusterError: either did not come up in time or exited (names its log).
        """
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.worker_dir.mkdir(exist_ok=True)
        try:
            self._launch(
                "master",
                [
                    MASTER_CLASS, "--host", self.host, "--port", str(self.port),
                    "--webui-port", str(self.webui_port),
                ],
            )  # fmt: skip
            self._wait("the master's web UI", "master.log", self._answers)
            self._launch(
                "worker",
                [
                    WORKER_CLASS, self.master_url, "--host", self.host,
                    "--cores", str(self.worker_cores), "--memory", self.worker_memory,
                    "--webui-port", str(self.worker_webui_port),
                    "--work-dir", str(self.worker_dir),
                ],
            )  # fmt: skip
            self._wait("the worker's registration", "worker.log", self.alive_workers)
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        try:
            self.status()
        except ClusterError:
            return False
        return True

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the worker, then the master: SIGTERM to each group, SIGKILL after ``timeout_s``."""
        for name in ("worker", "master"):
            process = self._processes.pop(name, None)
            if process is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            # The JVM may outlive the launcher shell for a moment; the group goes with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def __enter__(self) -> StandaloneCluster:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

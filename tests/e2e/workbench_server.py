"""Run `panel serve workbench` for a test, pointed at the test session's broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from pipelines.config import PROJECT_ROOT, Settings


def workbench_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment that makes a child process use the test settings."""
    return {
        **os.environ,
        "STOPHACKING_HOME": str(settings.home),
        "STOPHACKING_JARS_CACHE": str(settings.jars_dir),
        "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        **(extra or {}),
    }


@contextmanager
def served_workbench(
    settings: Settings,
    port: int,
    log_file: Path,
    extra_env: Mapping[str, str] | None = None,
    *,
    address: str | None = "127.0.0.1",
    other_origins: Sequence[str] = (),
) -> Iterator[str]:
    """Serve the workbench on port; yield its loopback URL; stop the whole process group.

    Args:
        address: ``--address`` of `panel serve`; ``None``: none given (Bokeh's default,
            every interface).
        other_origins: ``host:port`` values allowed to open the websocket besides
            ``127.0.0.1:port``.
    """
    origins = [f"127.0.0.1:{port}", *other_origins]
    url = f"http://127.0.0.1:{port}/workbench"
    command = [sys.executable, "-m", "panel", "serve", "workbench", "--port", str(port)]
    command += ["--address", address] if address is not None else []
    for origin in origins:
        command += ["--allow-websocket-origin", origin]
    with log_file.open("wb") as log:
        server = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT, env=workbench_env(settings, extra_env), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    # Readiness through a static file, not the app's page: a page fetch builds a session,
    # which starts the live consumers before the tests have created their topics (a
    # fresh-clone run then saw no counts within the tests' waits).
    probe = f"http://127.0.0.1:{port}/static/js/bokeh.min.js"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise AssertionError(f"panel serve exited early:\n{log_file.read_text()}")
            try:
                with urllib.request.urlopen(probe, timeout=30) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"workbench not served:\n{log_file.read_text()}") from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)

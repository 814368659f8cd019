"""Ctrl-C (SIGINT) or SIGTERM on `panel serve workbench` stops everything it started.

The server runs in a temporary home with the embedded broker's ports free, so it starts
the embedded broker itself (no broker answers there). The pipeline is started from the
page (sidebar "Start pipeline": both producers, both live pipelines and the streaming
detector, whose Spark JVM is a child of the server); once the detector runs, the server
gets SIGINT, as from Ctrl-C in its terminal, or SIGTERM. Afterwards no process of its tree
(producer children, the broker's JVM, Spark's JVM) and no process naming the temporary
home remains.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.config import PROJECT_ROOT, Settings, load_settings, replace
from tests.conftest import free_port

EXIT_TIMEOUT_S = 210.0
"""The detector stops (≤ 60 s), producers flush (≤ 30 s grace each, in parallel), the
broker stops (≤ 30 s)."""
DETECTOR_START_TIMEOUT_MS = 420_000
"""Spark's JVM, both models and seven queries, on a loaded 2-core machine."""
SPARK_JVM = "org.apache.spark.deploy.SparkSubmit"
"""In the command line of the JVM PySpark starts for its driver."""


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may hold spaces: the fields follow the last ")".
    return int(stat.rsplit(")", 1)[1].split()[1])


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(root: int) -> set[int]:
    """Every live process below ``root`` (children, their children, …)."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        parent = _parent_pid(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def naming(text: str) -> set[int]:
    """Live processes whose command line contains ``text`` (not this test's own)."""
    return {
        pid
        for pid in _all_pids()
        if pid != os.getpid() and text in _command_line(pid) and _alive(pid)
    }


@pytest.fixture(scope="module")
def own_home_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from pipelines.data.demo_set import ensure_demo_data

    home = tmp_path_factory.mktemp("shutdown-home")
    port = free_port()
    own = replace(
        load_settings(),
        {
            "home": str(home),
            "jars_cache": str(settings.jars_dir),
            "broker.port": port,
            "broker.controller_port": free_port(),
            "kafka.bootstrap_servers": f"127.0.0.1:{port}",
        },
    )
    ensure_demo_data(own)  # generated here, not inside the producers' first cycle
    return own


@pytest.fixture
def server(own_home_settings: Settings) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    s = own_home_settings
    port = free_port()
    env = {
        **os.environ,
        "STOPHACKING_HOME": str(s.home),
        "STOPHACKING_JARS_CACHE": str(s.jars_dir),
        "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS": s.kafka.bootstrap_servers,
        "STOPHACKING_BROKER__PORT": str(s.broker.port),
        "STOPHACKING_BROKER__CONTROLLER_PORT": str(s.broker.controller_port),
    }
    log = (s.home / "panel-serve.log").open("wb")
    # Its own process group, like a shell job: SIGINT to the group is what Ctrl-C does.
    process = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", "workbench", "--address", "127.0.0.1",
         "--port", str(port), "--allow-websocket-origin", f"127.0.0.1:{port}"],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield process, f"http://127.0.0.1:{port}/workbench"
    finally:
        # Whatever the test saw, leave nothing behind for the rest of the run.
        leftovers = descendants(process.pid) | naming(str(s.home))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        log.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_server_leaves_no_producer_jvm_or_python_behind(
    browser,
    server: tuple[subprocess.Popen[bytes], str],
    own_home_settings: Settings,
    stop_signal: signal.Signals,
    screenshots_dir: Path,
) -> None:  # type: ignore[no-untyped-def]
    process, url = server
    home = str(own_home_settings.home)
    log_file = own_home_settings.home / "panel-serve.log"
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    deadline = time.monotonic() + 120
    while True:  # the server takes a while to import panel, holoviews, pandas…
        assert process.poll() is None, log_file.read_text()
        try:
            page.goto(url, wait_until="domcontentloaded", timeout=30_000)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    # The embedded broker is started by the workbench because none answers here.
    page.get_by_text("reachable (embedded)").first.wait_for(timeout=150_000)
    page.get_by_role("button", name="Start pipeline").click()
    for stream in ("Process", "Memory"):
        page.get_by_text(
            re.compile(rf"{stream} producer: running \(pid \d+\), [1-9][\d,]* records sent")
        ).first.wait_for(timeout=120_000)
    page.get_by_text(re.compile(r"Process live view: live, [1-9]")).first.wait_for(timeout=30_000)
    page.get_by_text(re.compile(r"Detector: running")).first.wait_for(
        timeout=DETECTOR_START_TIMEOUT_MS
    )
    page.locator(".bk-tab", has_text="Producers").first.click()
    page.get_by_text(re.compile(r"Running \(pid \d+\), [1-9]\d* cycles")).first.wait_for(
        timeout=60_000
    )
    page.screenshot(path=str(screenshots_dir / "pipeline-running.png"), full_page=True)
    context.close()

    started = descendants(process.pid) | naming(home)
    producers = {pid for pid in started if "produce" in _command_line(pid)}
    jvms = {pid for pid in started if "kafka.Kafka" in _command_line(pid)}
    spark_jvms = {pid for pid in started if SPARK_JVM in _command_line(pid)}
    assert len(producers) == 2, {pid: _command_line(pid) for pid in started}
    assert len(jvms) == 1, {pid: _command_line(pid) for pid in started}
    assert len(spark_jvms) == 1, {pid: _command_line(pid) for pid in started}

    os.killpg(process.pid, stop_signal)
    process.wait(timeout=EXIT_TIMEOUT_S)

    remaining = {pid for pid in started if _alive(pid)} | naming(home)
    assert not remaining, {pid: _command_line(pid) for pid in remaining}
    log = log_file.read_text()
    # Our code must not fail while stopping. (kafka-python itself may log a traceback
    # from its socket thread when a connection closes under it; that one is harmless.)
    ours = re.findall(r'File "[^"]*/(?:pipelines|workbench)/[^"]*"', log)
    assert not ours, log

"""`panel serve workbench` starts and serves its page over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from pipelines.config import PROJECT_ROOT, Settings
from tests.conftest import free_port


def test_panel_serve_workbench_serves_the_page(broker_settings: Settings) -> None:
    port = free_port()
    env = {
        **os.environ,
        "STOPHACKING_HOME": str(broker_settings.home),
        "STOPHACKING_JARS_CACHE": str(broker_settings.jars_dir),
        "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS": broker_settings.kafka.bootstrap_servers,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", "workbench", "--address", "127.0.0.1",
         "--port", str(port), "--allow-websocket-origin", f"127.0.0.1:{port}"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        body = ""
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/workbench", timeout=30) as r:
                    assert r.status == 200
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert "StopHacking workbench" in body
        assert "bokeh" in body.lower()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

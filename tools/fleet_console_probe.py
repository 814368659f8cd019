"""How the workbench's live tabs hold up with a fleet: a rerunnable probe, not a test.

Serves the workbench (its own state folder and topics on the running broker), replays a
fleet's process and memory data with one producer per stream (array layout, the fleet
bench's), opens the page in headless Chromium and, while records flow, measures:

- the page's answer time (a trivial script evaluated in the page: a busy renderer or
  a flood of Bokeh updates delays it), median and worst;
- the time from a click on the Process / Memory tab to its chart on screen;
- the bytes the server pushes to the page over its websocket per second, and per
  message: how many messages streamed new rows into a chart and how many replaced a
  chart's data whole (with their bytes);
- what the chart shows (its title, how many curves) and whether the heat map is there.

Usage (a broker must answer at STOPHACKING_KAFKA__BOOTSTRAP_SERVERS, e.g. after
`stophacking broker start`; the fleet data come from `stophacking bench fleet`):

    python tools/fleet_console_probe.py --machines 500 --duration 120
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.config import load_settings  # noqa: E402
from tests.e2e.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    LIVE_TAB_DRAWN,
    PLOTS_JS,
    TITLES_JS,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=500)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--port", type=int, default=5077)
    args = parser.parse_args()

    settings = load_settings()
    fleet = settings.home / "data" / f"fleet-{args.machines}-seed7-rows600"
    if not fleet.exists():
        sys.exit(
            f"no fleet data at {fleet}: run `stophacking bench fleet --machines "
            f"{args.machines}` once (it generates them)"
        )
    home = Path(tempfile.mkdtemp(prefix="fleet-probe-"))
    suffix = uuid.uuid4().hex[:8]
    topics = {s: f"probe.{s}.{suffix}" for s in ("process", "memory")}
    env = {
        **os.environ,
        "STOPHACKING_HOME": str(home),
        **{f"STOPHACKING_KAFKA__TOPICS__{s.upper()}": t for s, t in topics.items()},
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", "workbench", "--port", str(args.port),
         "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{args.port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    producers: list[subprocess.Popen[bytes]] = []
    try:
        from playwright.sync_api import sync_playwright

        time.sleep(8)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            pushed = {"bytes": 0}
            messages: list[Message] = []

            def received(frame: str | bytes) -> None:
                size = len(frame if isinstance(frame, (bytes, str)) else "")
                pushed["bytes"] += size
                if isinstance(frame, str) and '"msgtype"' in frame:
                    messages.append(Message())  # a Bokeh message starts with its header
                if messages:
                    messages[-1].add(frame, size)

            page.on("websocket", lambda ws: ws.on("framereceived", received))
            page.goto(f"http://127.0.0.1:{args.port}/workbench", wait_until="domcontentloaded")
            page.get_by_text("StopHacking workbench").first.wait_for(timeout=120_000)
            for stream in ("process", "memory"):
                producers.append(
                    subprocess.Popen(
                        [
                            str(Path(sys.executable).parent / "stophacking"),
                            "produce",
                            stream,
                            "--file",
                            str(fleet / f"Streaming_Linux_{stream}.csv"),
                            "--layout",
                            "array",
                            "--duration",
                            str(args.duration + 60),
                            "--progress",
                            "none",
                        ],
                        cwd=ROOT,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            page.locator(".bk-tab", has_text="Process").first.click(force=True)
            time.sleep(20)  # the first samples of every machine
            answers: list[float] = []
            switches: list[float] = []
            start = time.monotonic()
            bytes_at_start = pushed["bytes"]
            messages_at_start = len(messages)
            tab = "Process"
            while time.monotonic() - start < args.duration:
                before = time.monotonic()
                page.evaluate("() => 1")
                answers.append(time.monotonic() - before)
                if len(answers) % 15 == 0:
                    tab = "Memory" if tab == "Process" else "Process"
                    before = time.monotonic()
                    page.locator(".bk-tab", has_text=tab).first.click(force=True)
                    page.wait_for_function(
                        f"(prefix) => ({TITLES_JS})(prefix).length > 0",
                        arg=f"{tab} records per machine",
                        timeout=120_000,
                    )
                    page.locator(LIVE_TAB_DRAWN).first.wait_for(timeout=120_000)
                    switches.append(time.monotonic() - before)
                time.sleep(1.0)
            seconds = time.monotonic() - start
            curves = page.evaluate(PLOTS_JS, f"{tab} records per machine")
            heat = page.evaluate(PLOTS_JS, "All ")
            # A page too busy for a screenshot must not cost the figures measured.
            with contextlib.suppress(Exception):
                page.screenshot(path=str(home / "fleet-probe.png"), full_page=True)
            browser.close()
        report = {
            "machines": args.machines,
            "seconds": round(seconds, 1),
            "page_answer_s": {
                "median": round(statistics.median(answers), 3),
                "max": round(max(answers), 3),
            },
            "tab_switch_s": {
                "median": round(statistics.median(switches), 2) if switches else None,
                "max": round(max(switches), 2) if switches else None,
                "n": len(switches),
            },
            "pushed_kib_per_s": round((pushed["bytes"] - bytes_at_start) / 1024 / seconds, 1),
            "updates": update_sizes(messages[messages_at_start:]),
            "curves_drawn": len(curves[0]["labels"]) if curves else 0,
            "heat_map_shown": bool(heat),
            "screenshot": str(home / "fleet-probe.png"),
        }
        print(json.dumps(report, indent=2))
    finally:
        for child in [*producers, server]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in [*producers, server]:
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)


class Message:
    """One Bokeh message pushed to the page: its bytes and the data changes it carries."""

    def __init__(self) -> None:
        self.size = 0
        self.streamed = 0
        self.replaced = 0

    def add(self, frame: str | bytes, size: int) -> None:
        self.size += size
        if isinstance(frame, str) and '"events"' in frame:
            self.streamed += len(re.findall(r'"kind":\s*"ColumnsStreamed"', frame))
            self.replaced += len(re.findall(r'"kind":\s*"ColumnDataChanged"', frame))
            self.replaced += len(re.findall(r'"attr":\s*"data"', frame))


def update_sizes(messages: list[Message]) -> dict[str, object]:
    """Bytes per pushed message (median, max), and how many appended rows to a chart's
    data (``ColumnsStreamed``) or replaced a chart's data whole."""
    sizes = [m.size for m in messages] or [0]
    return {
        "messages": len(messages),
        "median_bytes": int(statistics.median(sizes)),
        "max_bytes": max(sizes),
        "with_rows_streamed": sum(1 for m in messages if m.streamed),
        "with_data_replaced": sum(1 for m in messages if m.replaced),
        "bytes_of_replacing_messages": sum(m.size for m in messages if m.replaced),
    }


if __name__ == "__main__":
    main()

"""Soak: the workbench's whole pipeline for half an hour, memory sampled; not a test.

Serves the workbench on its own state folder and its own embedded broker (started by the
workbench, as on a fresh machine), opens the page in headless Chromium, presses Start
pipeline (both producers at the brief's cadence, both live views, the detector) and keeps
the page open. Every ``--every`` seconds it samples the resident memory of each part —
the panel server, the detector's JVM, Spark's Python workers, the broker, the producers —
and how the page answers: a trivial script evaluated in it, and a tab switch until the
chart is drawn. At the end it presses Stop pipeline, stops the server, and writes:

- ``<out>/soak.json``: every sample and the verdict per part;
- ``<out>/images/soak-memory.png``: the memory curve of each part;
- on stdout, the markdown table ``docs/reliability.md`` quotes;
- a picture of each tab at the end, in the soak's state folder (``screens/``).

Usage (``make soak``; about 35 minutes with start and stop):

    python tools/soak.py --duration 1800 --every 30 --out docs
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.bench.probes import UsageSampler, children_of  # noqa: E402
from pipelines.bench.soak import PARTS, levelling, part_of  # noqa: E402
from pipelines.config import load_settings  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.e2e.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    LIVE_TAB_DRAWN,
    PLOTS_JS,
    TITLES_JS,
)

MIB = 2**20
STATUS = re.compile(r"(Process|Memory) live view: ([a-z]+), ([\d,]+)")
SCORED = re.compile(r"Detector: ([a-z]+)")


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _pids_of(part: str, server: int, home: str) -> list[int]:
    """The processes of one part now: the server alone, or its descendants (and the
    broker, which the workbench starts in a session of its own) by command line."""
    if part == "panel server":
        return [server]
    candidates = children_of([server]) - {server}
    candidates |= {
        int(p.name) for p in Path("/proc").glob("[0-9]*") if home in _command_line(int(p.name))
    }
    return [pid for pid in candidates if part_of(_command_line(pid)) == part]


def _curves(page: Any, tab: str) -> int:
    """How many machines' curves the tab's live chart draws now."""
    plots = page.evaluate(PLOTS_JS, f"{tab} records per machine") or []
    return len(plots[0]["labels"]) if plots else 0


def _screenshots(page: Any, folder: Path) -> None:
    """A picture of each tab after the soak (the README's are taken from these)."""
    folder.mkdir(parents=True, exist_ok=True)
    # Toasts of high-severity alerts would cover the charts: dismissed for the pictures.
    page.evaluate("() => document.querySelectorAll('.notyf__toast').forEach(t => t.remove())")
    for tab in ("Detection", "Health", "Process", "Memory", "Producers", "Broker"):
        page.locator(".bk-tab", has_text=tab).first.click(force=True)
        time.sleep(6)
        page.evaluate("() => document.querySelectorAll('.notyf__toast').forEach(t => t.remove())")
        page.screenshot(path=str(folder / f"{tab.lower()}.png"), full_page=True, timeout=120_000)
    print(f"soak: pictures of each tab in {folder}", flush=True)


def _picture(samples: dict[str, list[tuple[float, float]]], path: Path, minutes: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=110)
    for part in PARTS:
        points = [(t / 60, mib) for t, mib in samples.get(part, []) if mib > 0]
        if points:
            axes.plot(*zip(*points, strict=True), marker=".", label=part)
    axes.set_xlabel("minutes since Start pipeline")
    axes.set_ylabel("resident memory (MiB)")
    axes.set_title(f"Soak: the workbench's pipeline at the brief's cadence, {minutes:.0f} min")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def _table(verdicts: list[Any]) -> str:
    rows = [
        "| part | MiB at start | MiB at end | peak MiB | trend of the 2nd half | levels off |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for v in verdicts:
        rows.append(
            f"| {v.part} | {v.start_mib:,.0f} | {v.end_mib:,.0f} | {v.peak_mib:,.0f} | "
            f"{v.slope_mib_per_30_min:+,.1f} MiB / 30 min | {'yes' if v.levels_off else '**no**'} |"
        )
    return "\n".join(rows)


def _rereport(path: Path, out: Path) -> None:
    """The verdict, table and picture again from the samples a soak saved."""
    report = json.loads(path.read_text())
    samples = {part: [(t, m) for t, m in points] for part, points in report["rss_mib"].items()}
    verdicts = levelling(samples)
    report["verdict"] = [v.__dict__ for v in verdicts]
    path.write_text(json.dumps(report, indent=1) + "\n")
    _picture(samples, out / "images" / "soak-memory.png", report["duration_s"] / 60)
    print(_table(verdicts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of pipeline")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument(
        "--report", type=Path, help="only recompute the verdict and picture of a soak.json"
    )
    args = parser.parse_args()
    if args.report is not None:
        _rereport(args.report, args.out)
        return

    settings = load_settings()
    home = Path(tempfile.mkdtemp(prefix="soak-"))
    port, broker_port, controller_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "STOPHACKING_HOME": str(home),
        "STOPHACKING_JARS_CACHE": str(settings.jars_dir),
        "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
        "STOPHACKING_BROKER__PORT": str(broker_port),
        "STOPHACKING_BROKER__CONTROLLER_PORT": str(controller_port),
    }
    log = (home / "panel-serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", "workbench", "--port", str(port),
         "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    print(f"soak: state in {home}, server log {home / 'panel-serve.log'}", flush=True)
    sampler = UsageSampler(
        {part: (lambda p=part: _pids_of(p, server.pid, str(home))) for part in PARTS},
        interval_s=args.every,
        alone=PARTS,
    )
    pages: list[dict[str, Any]] = []
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            deadline = time.monotonic() + 180
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/workbench", wait_until="domcontentloaded")
                    break
                except Exception:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(2)
            page.get_by_text("reachable (embedded)").first.wait_for(timeout=180_000)
            page.get_by_role("button", name="Start pipeline").click()
            page.get_by_text(re.compile(r"Detector: running")).first.wait_for(timeout=300_000)
            print("soak: pipeline running; sampling", flush=True)
            sampler.start()
            started = time.monotonic()
            tab = "Process"
            while (elapsed := time.monotonic() - started) < args.duration:
                before = time.monotonic()
                page.evaluate("() => 1")
                answer_s = time.monotonic() - before
                tab = "Memory" if tab == "Process" else "Process"
                before = time.monotonic()
                page.locator(".bk-tab", has_text=tab).first.click(force=True)
                page.wait_for_function(
                    f"(prefix) => ({TITLES_JS})(prefix).length > 0",
                    arg=f"{tab} records per machine",
                    timeout=120_000,
                )
                page.locator(LIVE_TAB_DRAWN).first.wait_for(timeout=120_000)
                switch_s = time.monotonic() - before
                # Panel renders into shadow roots: locators pierce them, inner_text does not.
                text = " ".join(
                    page.locator("p")
                    .filter(has_text=re.compile(r"live view|Detector"))
                    .all_inner_texts()
                )
                counted = {m[0]: int(m[2].replace(",", "")) for m in STATUS.findall(text)}
                detector = SCORED.search(text)
                pages.append(
                    {
                        "t_s": round(elapsed, 1),
                        "answer_s": round(answer_s, 3),
                        "tab_switch_s": round(switch_s, 2),
                        "live_counts": counted,
                        "detector": detector.group(1) if detector else None,
                        "curves": _curves(page, tab),
                    }
                )
                print(f"soak: {json.dumps(pages[-1])}", flush=True)
                time.sleep(max(0.0, args.every - (time.monotonic() - started - elapsed)))
            usage = sampler.stop()
            _screenshots(page, home / "screens")
            page.get_by_role("button", name="Stop pipeline").click()
            page.get_by_text(re.compile(r"Detector: stopped")).first.wait_for(timeout=120_000)
            page.screenshot(path=str(home / "soak-end.png"), full_page=True)
            browser.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()

    samples = {part: [(t, rss / MIB) for t, rss in usage[part].rss_samples] for part in PARTS}
    verdicts = levelling(samples)
    answers = [p["answer_s"] for p in pages]
    switches = [p["tab_switch_s"] for p in pages]
    report = {
        "duration_s": args.duration,
        "every_s": args.every,
        "machine_cores": os.cpu_count(),
        "rss_mib": {p: [(round(t, 1), round(m, 1)) for t, m in pts] for p, pts in samples.items()},
        "cpu_cores_busy": {part: round(sampler.cores_busy(part), 2) for part in PARTS},
        "verdict": [v.__dict__ for v in verdicts],
        "page": pages,
        "page_answer_s": {"median": statistics.median(answers), "max": max(answers)},
        "tab_switch_s": {"median": statistics.median(switches), "max": max(switches)},
    }  # fmt: skip
    (args.out / "soak.json").write_text(json.dumps(report, indent=1) + "\n")
    _picture(samples, args.out / "images" / "soak-memory.png", args.duration / 60)
    print(_table(verdicts))
    print(
        f"\npage answer median {report['page_answer_s']['median']:.3f} s, "
        f"max {report['page_answer_s']['max']:.2f} s; tab switch median "
        f"{report['tab_switch_s']['median']:.2f} s, max {report['tab_switch_s']['max']:.2f} s; "
        f"cores busy {report['cpu_cores_busy']}"
    )
    if not all(v.levels_off for v in verdicts):
        sys.exit(1)


if __name__ == "__main__":
    main()

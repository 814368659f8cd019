"""Browser fixtures: the system Chromium driven by Playwright (no downloaded browsers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.config import PROJECT_ROOT

CHROMIUM = os.environ.get("STOPHACKING_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = PROJECT_ROOT / "test-results" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the run. Fails (never skips) when Chromium is missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run `make browser` (apt-get install chromium) "
            "or set STOPHACKING_CHROMIUM"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


PLOT_X_STARTS_JS = """(prefix) => {
  // The x-axis starts (ms since 1970) of the page's Bokeh plots titled prefix….
  const starts = [];
  for (const doc of Bokeh.documents) {
    for (const model of doc._all_models.values()) {
      const title = model.title;
      const text = title === null || title === undefined ? "" : String(title.text ?? title);
      if (model.x_range !== undefined && text.startsWith(prefix)) starts.push(model.x_range.start);
    }
  }
  return starts;
}"""
DRAWN_AFTER_MS = 1_600_000_000_000
"""2020-09: an x axis starting later shows real data (a placeholder's axis starts at 0)."""


def charts_show_data(page: object, *titles: str) -> bool:
    """True when every chart whose title starts with one of ``titles`` is on the page and
    its x axis has moved to the data's times (a chart that kept its placeholder's
    1970 axis draws nothing visible)."""
    for title in titles:
        starts = page.evaluate(PLOT_X_STARTS_JS, title)  # type: ignore[attr-defined]
        if not starts or not all(
            isinstance(start, int | float) and start > DRAWN_AFTER_MS for start in starts
        ):
            return False
    return True

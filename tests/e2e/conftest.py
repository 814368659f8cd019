"""Browser fixtures: the system Chromium driven by Playwright (no downloaded browsers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

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


def keep_on_this_machine(page: Any, outside: list[str]) -> None:
    """Let ``page`` fetch from the workbench's own server only: any request that would
    leave 127.0.0.1 is aborted and its address appended to ``outside``."""

    def guard(route: Any, request: Any) -> None:
        host = urlparse(request.url).hostname
        if request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(request.url)
            route.abort()

    page.route("**/*", guard)


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


PLOTS_JS = """(prefix) => {
  // The page's Bokeh plots titled prefix…: x-axis start (ms since 1970), legend labels.
  const plots = [];
  for (const doc of Bokeh.documents) {
    for (const model of doc._all_models.values()) {
      const title = model.title;
      const text = title === null || title === undefined ? "" : String(title.text ?? title);
      if (model.x_range === undefined || !text.startsWith(prefix)) continue;
      const labels = [];
      const panels = ["center", "right", "left", "above", "below"];
      for (const annotation of panels.flatMap((side) => model[side] ?? [])) {
        if (annotation.type !== "Legend") continue;
        for (const item of annotation.items) {
          const label = item.label;
          const text = label !== null && typeof label === "object" ? label.value : label;
          labels.push(String(text));
        }
      }
      plots.push({ start: model.x_range.start, labels: labels });
    }
  }
  return plots;
}"""
TITLES_JS = """(prefix) => {
  // Titles of the page's plots that start with prefix (Bokeh draws titles on its
  // canvas, so they are read from the document's Title models, not the DOM).
  const titles = [];
  for (const doc of Bokeh.documents)
    for (const model of doc._all_models.values())
      if (model.type === "Title" && String(model.text).startsWith(prefix)) titles.push(model.text);
  return titles;
}"""
LIVE_TAB_DRAWN = "text=Machines drawn as curves >> visible=true"
"""A live tab's machine picker, visible once the server has handled a switch to the tab
(dynamic tabs: until then the page may still hold the tab's detached models, which the
server no longer syncs, so a pick made there is lost)."""
DRAWN_AFTER_MS = 1_600_000_000_000
"""2020-09: an x axis starting later shows real data (a placeholder's axis starts at 0)."""
WAITING_LABEL = "waiting for data"


def charts_show_data(page: object, *titles: str) -> bool:
    """True when every chart whose title starts with one of ``titles`` is on the page, its
    x axis has moved to the data's times (a chart that kept its placeholder's 1970 axis
    draws nothing visible) and its legend names series, not the waiting placeholder."""
    for title in titles:
        plots = page.evaluate(PLOTS_JS, title)  # type: ignore[attr-defined]
        if not plots:
            return False
        for plot in plots:
            start, labels = plot["start"], plot["labels"]
            if not isinstance(start, int | float) or start <= DRAWN_AFTER_MS:
                return False
            if not labels or any(WAITING_LABEL in label for label in labels):
                return False
    return True


PLOT_LAYERS_JS = """(prefix) => {
  // The layers of each Bokeh plot titled prefix…, by legend item: its label, glyph type,
  // fill alpha (null when the glyph has none) and its data source's columns (typed
  // arrays as plain arrays, NaN as null).
  const plots = [];
  const column = (values) =>
    values === undefined ? null
      : Array.from(values, (v) => (typeof v === "number" && Number.isNaN(v) ? null : v));
  for (const doc of Bokeh.documents) {
    for (const model of doc._all_models.values()) {
      const title = model.title;
      const text = title === null || title === undefined ? "" : String(title.text ?? title);
      if (model.x_range === undefined || !text.startsWith(prefix)) continue;
      const layers = [];
      const panels = ["center", "right", "left", "above", "below"];
      for (const annotation of panels.flatMap((side) => model[side] ?? [])) {
        if (annotation.type !== "Legend") continue;
        for (const item of annotation.items) {
          const label = item.label;
          const name = label !== null && typeof label === "object" ? label.value : label;
          for (const renderer of item.renderers) {
            const glyph = renderer.glyph;
            const alpha = glyph.fill_alpha;
            const source = renderer.data_source;
            const data = {};
            for (const key of source.columns()) data[key] = column(source.get_column(key));
            layers.push({
              label: String(name),
              glyph: glyph.type,
              fill_alpha: alpha !== null && typeof alpha === "object" ? alpha.value : alpha ?? null,
              data: data,
            });
          }
        }
      }
      plots.push({ title: text, layers: layers });
    }
  }
  return plots;
}"""


def plot_layers(page: object, title: str) -> list[dict[str, Any]]:
    """Each plot whose title starts with ``title``: ``{"title", "layers": [{"label",
    "glyph", "fill_alpha", "data": {column: values}}]}`` (x times in ms since 1970 UTC)."""
    return list(page.evaluate(PLOT_LAYERS_JS, title))  # type: ignore[attr-defined]

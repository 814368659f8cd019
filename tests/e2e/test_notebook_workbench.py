"""The "Workbench in Jupyter" notebook runs top to bottom against the test broker.

The kernel finds the broker through the environment (as a user's would), on topics of
its own; the notebook starts the whole pipeline with bounded producers, displays every
tab, the banner and the sidebar, and stops what it started.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.config import PROJECT_ROOT, Settings, replace
from tests.support.notebooks import printed, read_thin, run_with_parameters

NOTEBOOK = PROJECT_ROOT / "notebooks" / "Workbench in Jupyter.ipynb"
TABS = ("Broker", "Producers", "Process", "Memory", "Detection", "Models", "Health")
RICH = ("display_data", "execute_result")


def test_workbench_notebook_displays_every_tab(
    broker_settings: Settings,
    topic_factory,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipelines.data.demo_set import ensure_demo_data

    notebook = read_thin(NOTEBOOK)

    home = tmp_path / "home"
    ensure_demo_data(replace(broker_settings, {"home": str(home)}))  # not in the kernel's time
    topics = {stream: topic_factory(f"notebook-workbench-{stream}") for stream in TABS[2:4]}
    monkeypatch.setenv(
        "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS", broker_settings.kafka.bootstrap_servers
    )
    monkeypatch.setenv("STOPHACKING_HOME", str(home))
    monkeypatch.setenv("STOPHACKING_JARS_CACHE", str(broker_settings.jars_dir))
    for stream, topic in topics.items():
        monkeypatch.setenv(f"STOPHACKING_KAFKA__TOPICS__{stream.upper()}", topic)
    run_with_parameters(
        notebook, "cycles = 3\nspeed = 5.0\ntimeout_s = 120.0", cwd=tmp_path, timeout_s=300
    )

    for name in TABS:
        cell = next(c for c in notebook.cells if c.source == f'tabs["{name}"]')
        assert any(o.output_type in RICH for o in cell.outputs), name
    for marker in ("broker_banner(", "sidebar("):
        cell = next(c for c in notebook.cells if c.source.startswith(marker))
        assert any(o.output_type in RICH for o in cell.outputs), marker
    text = printed(notebook)
    assert ", ".join(TABS) in text, text
    for stream, topic in topics.items():
        # Both bounded producers ended cleanly, every record acknowledged on its topic …
        produced = re.search(
            rf"{stream.lower()} producer: 3 cycles, (\d+) of \1 records acknowledged on "
            rf"{re.escape(topic)}",
            text,
        )
        assert produced and int(produced.group(1)) > 0, text
        # … and the live pipeline counted records from it.
        counted = re.search(rf"{stream.lower()} live view: (\d+) records counted", text)
        assert counted and int(counted.group(1)) > 0, text

"""Fixtures of the workbench unit tests: a state that connects nowhere, Panel reset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import panel as pn
import pytest

from pipelines.config import load_settings, replace
from workbench.feeds import WorkbenchState


@pytest.fixture(autouse=True)
def _reset_panel_state() -> Iterator[None]:
    yield
    pn.state.reset()


@pytest.fixture
def state(tmp_path: Path) -> WorkbenchState:
    """Feeds over a broker address nothing answers at (port 9) and an empty home."""
    settings = replace(
        load_settings(),
        {"home": str(tmp_path), "kafka.bootstrap_servers": "127.0.0.1:9", "models_dir": tmp_path},
    )
    return WorkbenchState(settings)

"""The model training notebook runs top to bottom (small parameters) and shows the cards."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.config import PROJECT_ROOT, Settings
from pipelines.training.card import MODEL_FOLDER_NAMES, read_card
from tests.support.notebooks import printed, read_thin, run_with_parameters, shows_rich_output

NOTEBOOK = PROJECT_ROOT / "notebooks" / "Model training and evaluation.ipynb"


def test_training_notebook_runs_and_reports_the_cards_auc(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = read_thin(NOTEBOOK)
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert "from workbench" in first_code.source and "from pipelines" in first_code.source

    # The kernel reads the jar cache from the environment, as a user's would.
    monkeypatch.setenv("STOPHACKING_JARS_CACHE", str(settings.jars_dir))
    models_dir = tmp_path / "models"
    run_with_parameters(
        notebook,
        f"labelled_rows = 2500\nhome = {str(tmp_path / 'home')!r}\n"
        f"models_dir = {str(models_dir)!r}",
        cwd=tmp_path,
        timeout_s=900,
    )
    text = printed(notebook)
    for stream, folder in MODEL_FOLDER_NAMES.items():
        card = read_card(models_dir / folder)
        assert card is not None, text
        match = re.search(rf"^{stream}: (\w+) test AUC (\d\.\d{{3}})", text, re.MULTILINE)
        assert match, text
        assert match.group(1) == card.family
        assert float(match.group(2)) == round(card.test_metrics.auc_roc, 3)
    # The cards and the tab were displayed as rich outputs.
    for marker in ('model_card_view(feed, "process")', "models_tab(feed)"):
        assert shows_rich_output(notebook, marker), marker

"""The model training notebook runs top to bottom (small parameters) and shows the cards."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from pipelines.config import PROJECT_ROOT, Settings
from pipelines.training.card import MODEL_FOLDER_NAMES, read_card

NOTEBOOK = PROJECT_ROOT / "notebooks" / "Model training and evaluation.ipynb"


def test_training_notebook_runs_and_reports_the_cards_auc(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    assert not any(
        line.lstrip().startswith(("def ", "class "))
        for cell in notebook.cells
        for line in cell.source.splitlines()
    ), "notebooks are thin: no functions or classes"
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert "from workbench" in first_code.source and "from pipelines" in first_code.source

    # The kernel reads the jar cache from the environment, as a user's would.
    monkeypatch.setenv("STOPHACKING_JARS_CACHE", str(settings.jars_dir))
    models_dir = tmp_path / "models"
    at = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(
        f"labelled_rows = 2500\nhome = {str(tmp_path / 'home')!r}\n"
        f"models_dir = {str(models_dir)!r}",
        metadata={"tags": ["injected-parameters"]},
    )
    notebook.cells.insert(at + 1, injected)
    NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()

    printed = "\n".join(
        "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        for cell in notebook.cells
        if cell.cell_type == "code"
    )
    for stream, folder in MODEL_FOLDER_NAMES.items():
        card = read_card(models_dir / folder)
        assert card is not None, printed
        match = re.search(rf"^{stream}: (\w+) test AUC (\d\.\d{{3}})", printed, re.MULTILINE)
        assert match, printed
        assert match.group(1) == card.family
        assert float(match.group(2)) == round(card.test_metrics.auc_roc, 3)
    # The cards and the tab were displayed as rich outputs.
    for marker in ('model_card_view(feed, "process")', "models_tab(feed)"):
        cell = next(c for c in notebook.cells if c.cell_type == "code" and marker in c.source)
        assert any(o.output_type in ("display_data", "execute_result") for o in cell.outputs)

"""Running the brief's notebooks in tests: thin and output-free as committed, parameters
injected the way papermill does it, run top to bottom in a real kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode


def read_thin(
    path: Path, *, imports: tuple[str, ...] = ("from pipelines", "from workbench")
) -> NotebookNode:
    """The notebook, checked as committed: no outputs, no functions or classes (thin),
    and a first code cell that imports the project (any of ``imports``)."""
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.get("outputs") for cell in code), f"{path.name}: committed with outputs"
    assert not any(
        line.lstrip().startswith(("def ", "class "))
        for cell in code
        for line in cell.source.splitlines()
    ), f"{path.name}: notebooks are thin: no functions or classes"
    assert any(name in code[0].source for name in imports), f"{path.name}: imports {imports}"
    return notebook


def run_with_parameters(
    notebook: NotebookNode, parameters: str, *, cwd: Path, timeout_s: float
) -> NotebookNode:
    """Insert ``parameters`` as an injected cell right after the ``parameters`` cell, then
    run the notebook top to bottom in a python3 kernel started in ``cwd``."""
    at = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    notebook.cells.insert(
        at + 1,
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["injected-parameters"]}),
    )
    NotebookClient(
        notebook,
        timeout=timeout_s,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    ).execute()
    return notebook


def printed_per_cell(notebook: NotebookNode) -> list[str]:
    """What each code cell printed."""
    return [
        "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]


def printed(notebook: NotebookNode) -> str:
    """Everything the code cells printed, one block per cell."""
    return "\n".join(printed_per_cell(notebook))


def shows_rich_output(notebook: NotebookNode, marker: str) -> bool:
    """Whether the code cell holding ``marker`` displayed something rich (a chart, a tab)."""
    cell = next(c for c in notebook.cells if c.cell_type == "code" and marker in c.source)
    return any(o.output_type in ("display_data", "execute_result") for o in cell.outputs)

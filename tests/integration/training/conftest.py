"""One small trained model set for the training tests, made by ``stophacking train``.

Small generated labelled files (4,000 process rows, ~3,300 memory rows) keep the run
short; the models are written to a temporary ``--out`` folder, never to ``models/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.config import Settings
from pipelines.data.generator import GeneratedFiles, generate

TRAINING_SEED = 11
LABELLED_ROWS = 4_000


@dataclass(frozen=True)
class TrainedModels:
    data: GeneratedFiles
    out_dir: Path
    output: str
    exit_code: int
    seed: int


@pytest.fixture(scope="session")
def trained(spark, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> TrainedModels:  # type: ignore[no-untyped-def]
    """Train both streams once per test run through the CLI (reuses the ``spark`` session)."""
    del spark  # the CLI's session factory returns the test session
    data = generate(
        tmp_path_factory.mktemp("training-data"),
        seed=3,
        rows_per_machine=200,
        labelled_rows=LABELLED_ROWS,
    )
    out_dir = tmp_path_factory.mktemp("trained-models")
    result = CliRunner().invoke(
        main,
        [
            "--home",
            str(settings.home),
            "train",
            "--process",
            str(data.labelled_process),
            "--memory",
            str(data.labelled_memory),
            "--out",
            str(out_dir),
            "--seed",
            str(TRAINING_SEED),
        ],
        catch_exceptions=False,
    )
    return TrainedModels(data, out_dir, result.output, result.exit_code, TRAINING_SEED)

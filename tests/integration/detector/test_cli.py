"""``stophacking detect`` on the command line (the failure paths that need no Spark job)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pipelines.cli import main


def test_detect_names_a_missing_model_folder_and_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "process_pipeline_model"
    result = CliRunner().invoke(
        main,
        ["--home", str(tmp_path), "detect", "--process-model", str(missing), "--duration", "1"],
    )
    assert result.exit_code == 2
    assert f"no model folder at {missing}" in result.output


def test_detect_rejects_a_non_positive_trigger(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--home", str(tmp_path), "detect", "--trigger", "0"])
    assert result.exit_code == 2
    assert "--trigger" in result.output

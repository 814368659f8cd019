"""Models tab and feed without Spark: folder descriptions, the detector's choice, errors."""

from __future__ import annotations

import json
from pathlib import Path

import panel as pn
import pytest
from bokeh.document import Document
from pyviz_comms import Comm

from pipelines.config import Settings, load_settings, replace
from pipelines.training.card import MODEL_FOLDER_NAMES
from workbench.feeds.models import ModelsFeed, split_paths
from workbench.tabs.models import folder_summary, model_card_view, models_tab


def fake_model(folder: Path, spark_version: str = "3.0.0") -> Path:
    """A folder shaped like a saved PipelineModel (metadata and stage folders only)."""
    (folder / "metadata").mkdir(parents=True)
    meta = {
        "class": "org.apache.spark.ml.PipelineModel",
        "sparkVersion": spark_version,
        "uid": f"PipelineModel_{folder.name}",
    }
    (folder / "metadata" / "part-00000").write_text(json.dumps(meta) + "\n")
    for stage in ("0_RegexTokenizer_1", "1_Word2Vec_2", "2_GBTClassifier_3"):
        (folder / "stages" / stage).mkdir(parents=True)
    return folder


@pytest.fixture
def wb_settings(tmp_path: Path) -> Settings:
    return replace(
        load_settings(), {"home": str(tmp_path / "home"), "models_dir": str(tmp_path / "models")}
    )


def test_defaults_point_at_the_project_folders(wb_settings: Settings) -> None:
    feed = ModelsFeed(wb_settings)
    for stream, name in MODEL_FOLDER_NAMES.items():
        assert feed.model_path(stream) == wb_settings.models_dir / name  # type: ignore[arg-type]
    assert set(feed.problems()) == {"process", "memory"}
    assert feed.problems()["process"] == "no such folder"


def test_choosing_a_foreign_folder_describes_it(wb_settings: Settings, tmp_path: Path) -> None:
    feed = ModelsFeed(wb_settings)
    foreign = fake_model(tmp_path / "provided" / "process_pipeline_model")
    feed.process_model_path = str(foreign)
    info = feed.info("process")
    assert info is not None and info.is_pipeline_model
    assert info.spark_version == "3.0.0"
    assert "process" not in feed.problems()
    summary = folder_summary(info)
    assert "Spark 3.0.0" in summary and "foreign model (no model card)" in summary
    assert "RegexTokenizer, Word2Vec, GBTClassifier" in summary

    feed.use_default("process")
    assert feed.process_model_path == str(wb_settings.models_dir / "process_pipeline_model")
    assert feed.problems()["process"] == "no such folder"


def test_unusable_folder_is_flagged(wb_settings: Settings, tmp_path: Path) -> None:
    feed = ModelsFeed(wb_settings)
    (tmp_path / "junk").mkdir()
    feed.memory_model_path = str(tmp_path / "junk")
    summary = folder_summary(feed.info("memory"))
    assert summary.startswith("**Cannot load**") and "cannot use it" in summary
    assert "no readable Spark ML metadata" in feed.problems()["memory"]


def test_training_with_a_missing_file_fails_with_its_name(
    wb_settings: Settings, tmp_path: Path
) -> None:
    feed = ModelsFeed(wb_settings)
    missing = tmp_path / "nope.csv"
    feed.param.update(process_files=str(missing), memory_files="")
    assert feed.train_now() is False
    assert str(missing) in feed.error and "no such file" in feed.error
    assert feed.training is False and feed.message == "Training failed."
    assert feed.revision == 1


def test_training_with_a_streaming_file_names_the_problem(
    wb_settings: Settings, tmp_path: Path
) -> None:
    streaming = tmp_path / "Streaming_Linux_process.csv"
    streaming.write_text(
        "sequence,machine,PID,TRUN,TSLPI,TSLPU,POLI,NICE,PRI,RTPR,CPUNR,Status,EXC,State,CPU,CMD\n"
    )
    feed = ModelsFeed(wb_settings)
    feed.param.update(process_files=str(streaming))
    assert feed.train_now() is False
    assert str(streaming) in feed.error and "line 1" in feed.error


def test_paths_split_on_commas_and_lines() -> None:
    assert split_paths(" a.csv, b.csv\nc.csv ,\n") == [Path("a.csv"), Path("b.csv"), Path("c.csv")]
    assert split_paths("  ") == []


def test_tab_renders_without_models(wb_settings: Settings) -> None:
    feed = ModelsFeed(wb_settings)
    tab = models_tab(feed)
    model = tab.get_root(Document(), Comm())
    assert model is not None
    assert tab.name == "Models"
    view = model_card_view(feed, "process")
    assert isinstance(view, pn.Column)

"""When ``stophacking detect`` reports detection quality on its own (plain values)."""

from __future__ import annotations

from pathlib import Path

from pipelines.config import Settings, replace
from pipelines.data.demo_set import demo_folder
from pipelines.data.generator import files_in
from pipelines.detector.console import default_ground_truth


def _demo_with_side_files(settings: Settings) -> Path:
    files = files_in(demo_folder(settings))
    files.folder.mkdir(parents=True)
    for path in (files.process, files.memory, files.process_labels, files.memory_labels):
        path.write_text("")
    return files.folder


def test_demo_side_files_are_used_with_the_default_topics(tmp_path: Path) -> None:
    settings = replace(Settings(), {"home": str(tmp_path)})
    assert default_ground_truth(settings) is None, "no demo data yet"
    folder = _demo_with_side_files(settings)
    assert default_ground_truth(settings) == folder


def test_other_topics_mean_other_data(tmp_path: Path) -> None:
    settings = replace(
        Settings(), {"home": str(tmp_path), "kafka.topics.process": "site.process.v1"}
    )
    _demo_with_side_files(settings)
    assert default_ground_truth(settings) is None


def test_a_missing_side_file_means_no_ground_truth(tmp_path: Path) -> None:
    settings = replace(Settings(), {"home": str(tmp_path)})
    folder = _demo_with_side_files(settings)
    (folder / "Streaming_Linux_memory.labels.csv").unlink()
    assert default_ground_truth(settings) is None

"""Configuration errors before any record is consumed (docs/detector.md, "Checked at start").

Each error is raised by ``Detector.start()`` before any query starts, so most tests need
no running query: they use the session's broker and Spark session and the provided
models. Every test asserts the error's class, that its message is one line, and that it
names the thing at fault and the remedy.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pyspark.sql import SparkSession

from pipelines import kafka_io
from pipelines.cli import main
from pipelines.config import Settings, replace
from pipelines.detector.job import Detector
from pipelines.detector.layout import ALERTS_DIR, PAIRS_QUERY, DetectorTopics
from pipelines.detector.preflight import SETTINGS_FILE
from pipelines.errors import BrokerUnavailable, ConfigError, ModelError, StopHackingError
from workbench.feeds.detection import DetectionFeed


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert text and "\n" not in text, f"not one line: {text!r}"
    return text


@pytest.fixture
def provided(shared_dir: Path) -> Path:
    return shared_dir / "models" / "provided"


@pytest.fixture
def make_detector(
    broker_settings: Settings, spark: SparkSession, provided: Path, tmp_path: Path
) -> Callable[..., Detector]:
    """A detector on fresh topic names, with outputs and checkpoints under ``tmp_path``."""
    topics = DetectorTopics.unique("test.preflight")

    def make(settings: Settings | None = None, **options: Any) -> Detector:
        options.setdefault("process_model", provided / "process_pipeline_model")
        options.setdefault("memory_model", provided / "memory_pipeline_model")
        options.setdefault("output_dir", tmp_path / "out")
        options.setdefault("checkpoint_dir", tmp_path / "checkpoints")
        options.setdefault("spark", spark)
        options.setdefault("topics", topics)
        options.setdefault("counts_table", f"counts_preflight_{uuid.uuid4().hex[:8]}")
        return Detector(settings or broker_settings, **options)

    return make


def _refused(detector: Detector, kind: type[StopHackingError]) -> str:
    """Start ``detector``; return the one-line message of the ``kind`` error it raised."""
    with pytest.raises(kind) as raised:
        detector.start()
    assert detector.queries == {}, "a query started before the error"
    return _one_line(raised.value)


def test_an_unreachable_broker_is_named_with_how_to_start_one(
    broker_settings: Settings, make_detector: Callable[..., Detector], tmp_path: Path
) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    settings = replace(broker_settings, {"kafka.bootstrap_servers": address})
    message = _refused(make_detector(settings), BrokerUnavailable)
    assert f"no Kafka broker answers at {address}" in message
    assert "stophacking broker start" in message
    assert "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS" in message
    assert not (tmp_path / "out").exists(), "folders made although the start failed"


def test_detect_prints_an_unreachable_broker_as_one_line_and_exits_2(
    provided: Path, tmp_path: Path
) -> None:
    """Checked before the JVM starts, so the command fails in seconds."""
    address = f"127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(
        main,
        [
            "--home", str(tmp_path), "--bootstrap-servers", address, "detect",
            "--process-model", str(provided / "process_pipeline_model"),
            "--memory-model", str(provided / "memory_pipeline_model"),
            "--output-dir", str(tmp_path / "out"), "--duration", "1",
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("stophacking:")]
    assert len(errors) == 1, result.output
    assert errors[0].startswith(f"stophacking: error: no Kafka broker answers at {address}")
    assert "stophacking broker start" in errors[0]


def test_the_workbench_shows_an_unreachable_broker_as_one_line(
    broker_settings: Settings, provided: Path, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    settings = replace(broker_settings, {"kafka.bootstrap_servers": address, "home": str(tmp_path)})
    feed = DetectionFeed(
        settings,
        model_paths=lambda: (
            provided / "process_pipeline_model",
            provided / "memory_pipeline_model",
        ),
    )
    assert feed.start_now() is False
    assert feed.state == "failed"
    assert feed.failure.startswith(
        f"Could not start the detector: BrokerUnavailable: no Kafka broker answers at {address}"
    )
    assert "stophacking broker start" in feed.failure and "\n" not in feed.failure


def test_a_missing_model_folder_is_named_with_how_to_get_one(
    make_detector: Callable[..., Detector], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "process_pipeline_model"
    message = _refused(make_detector(process_model=missing), ModelError)
    assert f"no model folder at {missing}" in message
    assert "stophacking train" in message and "--process-model" in message


def test_a_corrupt_model_is_named_with_how_to_get_one(
    make_detector: Callable[..., Detector], provided: Path, tmp_path: Path
) -> None:
    corrupt = tmp_path / "memory_pipeline_model"
    shutil.copytree(provided / "memory_pipeline_model", corrupt)
    for part in (corrupt / "metadata").glob("part-*"):
        part.write_text("this is not Spark ML metadata\n")
    detector = make_detector(memory_model=corrupt)
    message = _refused(detector, ModelError)
    assert f"cannot load the pipeline model at {corrupt}" in message
    assert "stophacking train" in message
    # Nothing that a later start would take for a checkpoint's history.
    assert not detector.checks.settings_record.exists()


def test_an_output_folder_that_cannot_be_written_is_named(
    make_detector: Callable[..., Detector], tmp_path: Path
) -> None:
    if os.geteuid() == 0:
        # root writes through chmod 0o500; a folder below a regular FILE cannot be made
        # by anyone, root included.
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder\n")
        output_dir = blocker / "out"
    else:
        output_dir = tmp_path / "read-only"
        output_dir.mkdir()
        output_dir.chmod(0o500)
    try:
        message = _refused(make_detector(output_dir=output_dir), ConfigError)
    finally:
        if output_dir.exists():
            output_dir.chmod(0o700)
    assert f"cannot write to the detector's output folder {output_dir}" in message
    assert "--output-dir" in message and "STOPHACKING_DETECTOR__OUTPUT_DIR" in message


def test_a_changed_shuffle_partition_count_on_a_checkpoint_is_refused(
    make_detector: Callable[..., Detector], spark: SparkSession, tmp_path: Path
) -> None:
    first = make_detector()
    first.preflight()  # what a first start records before its queries start
    recorded = json.loads(first.checks.settings_record.read_text())["settings"]
    assert recorded["spark.sql.shuffle.partitions"] == int(
        spark.conf.get("spark.sql.shuffle.partitions") or 0
    )
    assert make_detector().check_checkpoint_settings() is None  # same settings: accepted

    other = spark.newSession()  # its own SQL settings: the session fixture keeps its own
    changed = recorded["spark.sql.shuffle.partitions"] + 1
    other.conf.set("spark.sql.shuffle.partitions", str(changed))
    message = _refused(make_detector(spark=other), ConfigError)
    assert f"spark.sql.shuffle.partitions {changed - 1} → {changed}" in message
    assert str(tmp_path / "checkpoints" / SETTINGS_FILE) in message
    assert "restore those settings" in message
    assert f"deleting the checkpoint folder {tmp_path / 'checkpoints'}" in message
    assert f"the output folder {tmp_path / 'out'}" in message


def test_alerts_without_their_checkpoint_are_refused(
    make_detector: Callable[..., Detector], tmp_path: Path
) -> None:
    # What an earlier run leaves (a complete alert batch: the layout's _SUCCESS marker;
    # the check reads no parquet), then its checkpoint folder deleted.
    batch = tmp_path / "out" / ALERTS_DIR / "batch=3"
    batch.mkdir(parents=True)
    (batch / "_SUCCESS").touch()
    message = _refused(make_detector(), ConfigError)
    assert f"{tmp_path / 'out' / ALERTS_DIR} holds alerts up to batch 3" in message
    assert str(tmp_path / "checkpoints" / PAIRS_QUERY) in message
    assert "raise those alerts again" in message and "restore the checkpoint" in message


def test_a_checkpoint_whose_alerts_folder_was_deleted_is_refused(
    broker_settings: Settings, make_detector: Callable[..., Detector], tmp_path: Path
) -> None:
    """A real run on empty topics: its 7b query plans batch 0, then the folder goes."""
    first = make_detector()
    kafka_io.ensure_topics(broker_settings.kafka, list(first.topics.names().values()))
    first.start()
    try:
        first.process_all_available()
    finally:
        first.stop()
    assert (tmp_path / "checkpoints" / PAIRS_QUERY / "offsets" / "0").is_file()
    shutil.rmtree(tmp_path / "out" / ALERTS_DIR)
    message = _refused(make_detector(), ConfigError)
    assert f"the alerts folder {tmp_path / 'out' / ALERTS_DIR} is gone" in message
    assert "restore the folder" in message

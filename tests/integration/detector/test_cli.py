"""``stophacking detect`` on the command line (the failure paths that need no Spark job)."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from click.testing import CliRunner

from pipelines.cli import main
from pipelines.config import PROJECT_ROOT, Settings
from pipelines.replay.kafka_producer import Replayer
from pipelines.schema.columns import STREAMS, Stream

TOPIC_SETTINGS = ("process", "memory", "window_counts", "alerts", "health")
STATUS_TIMEOUT_S = 360.0
"""Upper bound for a fresh JVM, model loading and the first batches on a loaded machine."""
STOP_TIMEOUT_S = 120.0


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


def test_detect_prints_a_status_line_per_batch_and_stops_cleanly_on_ctrl_c(
    broker_settings: Settings,
    tiny_files: dict[Stream, Path],
    shared_dir: Path,
    tmp_path: Path,
) -> None:
    """The real command in its own process (its own JVM: no session to borrow)."""
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"test.cli.{name}.{suffix}" for name in TOPIC_SETTINGS}
    for stream in STREAMS:
        with Replayer(
            broker_settings,
            stream,
            file=tiny_files[stream],
            seed=3,
            max_rate=True,
            topic=topics[stream],
        ) as replayer:
            assert replayer.run(cycles=1).errors == 0
    env = {
        **os.environ,
        "STOPHACKING_JARS_CACHE": str(broker_settings.jars_dir),
        **{f"STOPHACKING_KAFKA__TOPICS__{name.upper()}": t for name, t in topics.items()},
    }
    models = shared_dir / "models" / "provided"
    command = [
        sys.executable, "-m", "pipelines.cli",
        "--home", str(tmp_path), "--bootstrap-servers", broker_settings.kafka.bootstrap_servers,
        "detect", "--trigger", "1",
        "--process-model", str(models / "process_pipeline_model"),
        "--memory-model", str(models / "memory_pipeline_model"),
    ]  # fmt: skip
    with (tmp_path / "stderr.txt").open("w") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=PROJECT_ROOT, env=env
        )
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        reader = threading.Thread(target=lambda: [lines.put(x) for x in process.stdout or []])
        reader.start()
        seen: list[str] = []
        try:
            deadline = time.monotonic() + STATUS_TIMEOUT_S
            while not all(any(x.startswith(f"{s} batch ") for x in seen) for s in STREAMS):
                remaining = deadline - time.monotonic()
                assert remaining > 0 and process.poll() is None, f"no status lines: {seen}"
                with contextlib.suppress(queue.Empty):
                    seen.append(lines.get(timeout=min(remaining, 5.0)))
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=STOP_TIMEOUT_S) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            reader.join(timeout=10)
    while not lines.empty():
        seen.append(lines.get())
    status = next(x for x in seen if x.startswith("process batch "))
    assert re.match(
        r"process batch \d+: \d+ records in \d+ messages, [\d.]+ rec/s, \d+ quarantined, "
        r"\d+ attacks, [\d.]+ s, lag \d+, watermark \S+ \| totals process \d+/\d+q/\d+a "
        r"memory \d+/\d+q/\d+a, \d+ alerts",
        status,
    ), status
    assert seen[-1].strip() == "detector stopped"
    # Only our own lines on the console; Spark's own output is in the home's log file.
    console = (tmp_path / "stderr.txt").read_text() + "".join(seen)
    spark_noise = ("log4j", "WARN ", "[Stage", "netlib", "loopback", "NativeCodeLoader")
    assert not [marker for marker in spark_noise if marker in console], console[-2000:]
    spark_log = (tmp_path / "logs" / "spark.log").read_text()
    assert "log4j" in spark_log and "WARN" in spark_log

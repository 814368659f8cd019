"""``stophacking watch`` as a user runs it: a bounded terminal table and a PNG export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import matplotlib.image
from kafka import KafkaProducer

from pipelines import kafka_io
from pipelines.config import PROJECT_ROOT, Settings


def keep_sending(settings: Settings, topic: str, stop: threading.Event) -> None:
    producer = KafkaProducer(**kafka_io.client_config(settings.kafka, acks="all"))
    try:
        while not stop.wait(0.3):
            for machine in (4, 7):
                producer.send(
                    topic,
                    key=str(machine).encode(),
                    value=json.dumps({"machine": machine}).encode(),
                )
            producer.flush()
    finally:
        producer.close()


def test_watch_prints_a_table_per_sample_and_exports_the_chart(
    broker_settings: Settings, topic_factory: Callable[[str], str], tmp_path: Path
) -> None:
    topic = topic_factory("live-watch")
    png = tmp_path / "chart" / "memory.png"
    env = {
        **os.environ,
        "STOPHACKING_KAFKA__TOPICS__MEMORY": topic,
        "STOPHACKING_HOME": str(tmp_path / "home"),
    }
    stop = threading.Event()
    sender = threading.Thread(target=keep_sending, args=(broker_settings, topic, stop))
    sender.start()
    try:
        done = subprocess.run(
            [
                sys.executable, "-m", "pipelines.cli",
                "--bootstrap-servers", broker_settings.kafka.bootstrap_servers,
                "watch", "memory", "--duration", "15", "--window", "10", "--sample", "1",
                "--png", str(png),
            ],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    finally:
        stop.set()
        sender.join(30)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "memory · records in trailing 10 s" in out
    tables = out.count("sample at ")
    assert tables >= 3, out
    last = out.strip().split("memory · records in trailing 10 s")[-1]
    rows = {
        parts[0]: int(parts[1].replace(",", ""))
        for parts in (line.split() for line in last.splitlines())
        if len(parts) == 2 and parts[0].isdigit()
    }
    assert set(rows) == {"4", "7"} and all(n > 0 for n in rows.values()), last
    assert f"chart saved to {png}" in out
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 200 and image.shape[1] > 400

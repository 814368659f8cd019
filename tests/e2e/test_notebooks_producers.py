"""The Part 1.1 / 1.2 notebooks run top to bottom against the test broker.

The kernel finds the broker and the topic through the environment (as a user's
would); the parameters cell is overridden the way papermill does it, with an
injected cell right after it: a bounded cycle count on the real reference sample.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from pipelines import kafka_io
from pipelines.config import PROJECT_ROOT, Settings
from tests.support.notebooks import printed_per_cell, read_thin, run_with_parameters

NOTEBOOKS = {
    "process": "Real time stream processing with Kafka - Part 1.1 - Process Event Producer.ipynb",
    "memory": "Real time stream processing with Kafka - Part 1.2 - Memory Event Producer.ipynb",
}
CYCLES = 2
# One notebook replays its default input (the generated demo data, made on first use
# under the temp home), the other the real reference sample.
USE_REAL_SAMPLE = {"process": False, "memory": True}


def count_per_key(settings: Settings, topic: str) -> Counter[str]:
    consumer = KafkaConsumer(**kafka_io.client_config(settings.kafka, enable_auto_commit=False))
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        keys: Counter[str] = Counter()
        while consumer.position(partition) < end:
            for batch in consumer.poll(timeout_ms=500).values():
                keys.update(record.key.decode() for record in batch)
        return keys
    finally:
        consumer.close()


@pytest.mark.parametrize("stream", ["process", "memory"])
def test_producer_notebook_runs_top_to_bottom(
    stream: str,
    broker_settings: Settings,
    shared_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = PROJECT_ROOT / "notebooks" / NOTEBOOKS[stream]
    notebook = read_thin(path)

    topic = f"test.notebook.{stream}.{uuid.uuid4().hex[:8]}"
    sample = (
        str(shared_dir / "data" / "real" / f"Streaming_Linux_{stream}.sample.csv")
        if USE_REAL_SAMPLE[stream]
        else ""
    )
    monkeypatch.setenv(
        "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS", broker_settings.kafka.bootstrap_servers
    )
    monkeypatch.setenv(f"STOPHACKING_KAFKA__TOPICS__{stream.upper()}", topic)
    monkeypatch.setenv("STOPHACKING_HOME", str(tmp_path / "home"))
    run_with_parameters(
        notebook,
        f"cycles = {CYCLES}\nspeed = 20.0\nseed = 7\nfile = {sample!r}\nwait_s = 240.0",
        cwd=tmp_path,
        timeout_s=300,
    )
    summary = next(t for t in printed_per_cell(notebook) if f"{stream} producer:" in t)
    assert f"{CYCLES} cycles" in summary and ", 0 errors" in summary
    assert "ended by: cycles" in summary
    per_machine = count_per_key(broker_settings, topic)
    shown = summary.split("records per machine: ")[1].splitlines()[0]
    assert shown == ", ".join(
        f"{m}: {n}" for m, n in sorted(per_machine.items(), key=lambda i: int(i[0]))
    )
    if USE_REAL_SAMPLE[stream]:
        assert set(per_machine) == {"4", "5", "6", "7"}
    total = sum(per_machine.values())
    assert f"{total} of {total} records acknowledged on {topic}" in summary
    # The tab object rendered (a Panel object shows as a widget/HTML output).
    assert any(
        o.output_type in ("display_data", "execute_result")
        for cell in notebook.cells
        if cell.cell_type == "code" and "producers_tab(" in cell.source
        for o in cell.outputs
    )

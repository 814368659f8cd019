"""The Part 2.1 / 2.2 notebooks run top to bottom against the test broker.

The kernel finds the broker and the topic through the environment (as a user's would);
the parameters cell is overridden the way papermill does it (an injected cell right after
it) with a short duration. While the notebook runs, the test sends records of known
machines to the topic; the notebook must count them and show the chart and the table.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from kafka import KafkaProducer

from pipelines import kafka_io
from pipelines.config import PROJECT_ROOT, Settings
from tests.support.notebooks import printed, read_thin, run_with_parameters, shows_rich_output

NOTEBOOKS = {
    "process": "Real time stream processing with Kafka - Part 2.1 - Process Event Consumer.ipynb",
    "memory": "Real time stream processing with Kafka - Part 2.2 - Memory Event Consumer.ipynb",
}
DURATION_S = 30.0
MACHINES = (4, 5, 6)


def keep_sending(settings: Settings, topic: str, stop: threading.Event) -> None:
    """Three records per machine and one malformed message every 0.5 s until stopped."""
    producer = KafkaProducer(**kafka_io.client_config(settings.kafka, acks="all"))
    try:
        while not stop.wait(0.5):
            for machine in MACHINES:
                for _ in range(3):
                    producer.send(
                        topic,
                        key=str(machine).encode(),
                        value=json.dumps({"machine": machine, "PID": 1}).encode(),
                    )
            producer.send(topic, value=b"not JSON")
            producer.flush()
    finally:
        producer.close()


@pytest.mark.parametrize("stream", ["process", "memory"])
def test_consumer_notebook_runs_top_to_bottom(
    stream: str,
    broker_settings: Settings,
    topic_factory,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = PROJECT_ROOT / "notebooks" / NOTEBOOKS[stream]
    notebook = read_thin(path)

    topic = topic_factory(f"notebook-{stream}")
    monkeypatch.setenv(
        "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS", broker_settings.kafka.bootstrap_servers
    )
    monkeypatch.setenv(f"STOPHACKING_KAFKA__TOPICS__{stream.upper()}", topic)
    monkeypatch.setenv("STOPHACKING_HOME", str(tmp_path / "home"))
    # From the earliest offsets: the kernel's consumer may join the group seconds after
    # the sender started (a loaded CI machine), and every record must still count.
    monkeypatch.setenv("STOPHACKING_LIVE__FROM_BEGINNING", "true")
    stop = threading.Event()
    sender = threading.Thread(target=keep_sending, args=(broker_settings, topic, stop))
    sender.start()
    try:
        run_with_parameters(
            notebook,
            f"duration_s = {DURATION_S}\nwindow_s = 10.0\nsample_s = 1.0",
            cwd=tmp_path,
            timeout_s=300,
        )
    finally:
        stop.set()
        sender.join(30)
    text = printed(notebook)
    match = re.search(
        rf"{re.escape(topic)}: (\d+) messages, (\d+) records counted, (\d+) malformed", text
    )
    assert match, text
    messages, records, malformed = (int(g) for g in match.groups())
    assert records > 0 and malformed > 0, text
    assert messages == records + malformed
    # The chart (a HoloViews DynamicMap) and the tab were displayed as rich outputs.
    for marker in ("feed.plot()", "live_tab("):
        assert shows_rich_output(notebook, marker), marker
    # The last cell shows the table of the latest counts: every machine sent to.
    table_cell = notebook.cells[-1]
    html = "".join(
        o.get("data", {}).get("text/plain", "")
        for o in table_cell.outputs
        if o.output_type == "execute_result"
    )
    assert all(re.search(rf"^\d+\s+{m}\s+\d+", html, re.M) for m in MACHINES), html

"""The Part 3 notebook runs top to bottom against the test broker, with short refreshes.

The kernel finds the broker, its own topics and state folder through the environment (as
a user's would); the parameters cell is overridden the way papermill does it (an injected
cell right after it): a short bounded replay of the generated data started by the
notebook itself, refreshes every few seconds, and an output folder where the notebook
saves its final memory-sink query result (CSV) and chart (HTML). The test reads both.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pandas as pd
import pytest

from pipelines import kafka_io
from pipelines.config import PROJECT_ROOT, Settings, replace
from pipelines.data.demo_set import ensure_demo_data
from pipelines.schema.columns import STREAMS
from tests.support.notebooks import printed, read_thin, run_with_parameters

NOTEBOOK = PROJECT_ROOT / "notebooks" / "Real time stream processing with Kafka - Part 3.ipynb"
MACHINES = {4, 5, 6, 7, 8}
"""The generated data's machines."""
KERNEL_TIMEOUT_S = 900
"""Per cell: the detector's first start (JVM, models) and the final drain on a loaded machine."""
TOPIC_ROLES = {
    "STOPHACKING_KAFKA__TOPICS__PROCESS": "process",
    "STOPHACKING_KAFKA__TOPICS__MEMORY": "memory",
    "STOPHACKING_KAFKA__TOPICS__WINDOW_COUNTS": "window-counts",
    "STOPHACKING_KAFKA__TOPICS__ALERTS": "alerts",
    "STOPHACKING_KAFKA__TOPICS__HEALTH": "health",
    "STOPHACKING_DETECTOR__ATTACK_TOPICS__PROCESS": "attacks.process",
    "STOPHACKING_DETECTOR__ATTACK_TOPICS__MEMORY": "attacks.memory",
}


def test_notebook_is_thin_and_committed_without_outputs() -> None:
    notebook = read_thin(NOTEBOOK)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") is None for cell in code)
    parameters = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1
    assert re.search(r"^refresh_s = 600\.0\b", parameters[0].source, re.M)


def test_notebook_queries_the_memory_sink_and_draws_one_curve_per_machine(
    broker_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    run = uuid.uuid4().hex[:8]
    topics = {env: f"test.part3-{run}.{role}.v1" for env, role in TOPIC_ROLES.items()}
    for env, topic in topics.items():
        monkeypatch.setenv(env, topic)
    monkeypatch.setenv("STOPHACKING_HOME", str(home))
    monkeypatch.setenv("STOPHACKING_JARS_CACHE", str(broker_settings.jars_dir))
    monkeypatch.setenv(
        "STOPHACKING_KAFKA__BOOTSTRAP_SERVERS", broker_settings.kafka.bootstrap_servers
    )
    # Generated once here, not by the two producer children at the same time.
    ensure_demo_data(replace(broker_settings, {"home": str(home)}))
    output = tmp_path / "output"

    notebook = read_thin(NOTEBOOK)
    try:
        run_with_parameters(
            notebook,
            "refresh_s = 10.0\nrefreshes = 3\nprocess_cycles = 12\nmemory_cycles = 6\n"
            f"speed = 2.0\ntrigger_s = 2.0\noutput_dir = {str(output)!r}",
            cwd=tmp_path,
            timeout_s=KERNEL_TIMEOUT_S,
        )
    finally:
        kafka_io.delete_topics(broker_settings.kafka, topics.values())
    text = printed(notebook)
    assert len(re.findall(r"^refresh \d/3: \d+ rows", text, re.M)) == 3, text
    assert "detector stopped" in text

    # The memory sink's final query result, as the notebook saved it.
    counts = pd.read_csv(output / "attack_counts.csv")
    assert list(counts.columns) == ["machine", "window_start", "window_end", "stream", "count"]
    assert len(counts) > 0
    assert set(counts["stream"]) <= set(STREAMS)
    assert set(counts["machine"]) <= MACHINES
    assert (counts["count"] > 0).all()
    final = re.search(r"^final: (\d+) rows, machines \[([\d, ]+)\]", text, re.M)
    assert final and int(final.group(1)) == len(counts), text
    assert {int(m) for m in final.group(2).split(",")} == set(counts["machine"])

    # The final chart (Bokeh's document in the saved HTML): one chart per stream, in
    # STREAMS order, each with one legend entry (curve) per machine of that stream's rows.
    html = (output / "attack_counts.html").read_text(encoding="utf-8")
    assert "Waiting for data" not in html
    legend = re.findall(
        r'"name":"LegendItem","id":"[^"]+","attributes":\{"label":\{"type":"value",'
        r'"value":"(?:machine )?(\d+)"',
        html,
    )
    expected = [
        str(machine)
        for stream in STREAMS
        for machine in sorted(counts.loc[counts["stream"] == stream, "machine"].unique())
    ]
    assert legend == expected

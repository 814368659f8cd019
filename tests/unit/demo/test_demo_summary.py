"""The demo's summary: accounting, printed lines, JSON, options (plain values only)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipelines.config import load_settings
from pipelines.demo.run import DemoOptions, demo_home, demo_topics
from pipelines.demo.summary import (
    DemoSummary,
    DemoTimings,
    StreamSummary,
    accounting_problems,
    format_summary,
)
from pipelines.errors import ConfigError


def stream(produced: int, cleaned: int, scored: int, **quarantined: int) -> StreamSummary:
    return StreamSummary(
        produced=produced,
        sent=produced,
        producer_errors=0,
        cycles=12,
        cleaned=cleaned,
        scored=scored,
        predicted_attacks=7,
        quarantined=quarantined,
        live_records=produced,
        live_latest={"10": 3, "4": 5, "6": 0},
    )


def summary(**changes: object) -> DemoSummary:
    values: dict[str, object] = {
        "run_id": "ab12cd34",
        "home": "/state/demo",
        "output_dir": "/state/demo/detector",
        "broker": "embedded Kafka at 127.0.0.1:9092",
        "broker_started": True,
        "topics": demo_topics("ab12cd34"),
        "duration_s": 120.0,
        "speed": 2.0,
        "cycle_periods_s": {"process": 2.5, "memory": 5.0},
        "trigger_s": 5.0,
        "streams": {"process": stream(100, 98, 97, parse=2, score=1), "memory": stream(50, 50, 50)},
        "window_rows": 9,
        "attack_pairs": 40,
        "attack_events": 6,
        "first_alert_after_s": 51.4,
        "quality_lines": ["process records: precision 0.9"],
        "quality": {"events": {"f1": 0.8}},
        "timings": DemoTimings(total_s=200.0),
    }
    values.update(changes)
    return DemoSummary(**values)  # type: ignore[arg-type]


def test_accounting_holds_when_every_record_is_cleaned_or_quarantined() -> None:
    figures = stream(100, 97, 96, decode=1, parse=2, score=1)
    assert figures.quarantined_before_cleaning == 3
    assert figures.accounted
    assert accounting_problems({"process": figures}) == []


def test_a_missing_record_is_named_per_stream() -> None:
    short = stream(100, 97, 97, parse=2)
    assert not short.accounted
    assert accounting_problems({"memory": short}) == [
        "memory: produced 100 != cleaned 97 + quarantined 2"
    ]
    unscored = stream(10, 10, 8, score=1)
    assert accounting_problems({"process": unscored}) == [
        "process: cleaned 10 != scored 8 + score-quarantined 1"
    ]


def test_the_printed_summary_has_a_row_per_stream_and_the_attack_figures() -> None:
    lines = format_summary(summary())
    text = "\n".join(lines)
    assert re.search(r"^process\s+100\s+98\s+97\s+3\s+7\s+100\s+yes$", text, re.M), text
    assert re.search(r"^memory\s+50\s+50\s+50\s+0\s+7\s+50\s+yes$", text, re.M), text
    assert "speed 2 (process every 2.5 s, memory every 5 s)" in text
    assert "(started for this run, stopped at the end)" in text
    assert "  process quarantined by stage: parse 2, score 1" in lines
    # Machines in numeric order (10 after 6), as the charts' legends order them.
    assert "  process  4: 5, 6: 0, 10: 3" in lines
    assert "attack events (alerts): 6, the first 51 s after the producers started" in lines
    assert "windows counted (7a rows, machine x 2-min window x stream): 9" in lines
    assert "process records: precision 0.9" in lines
    assert lines[-1] == "demo OK"


def test_problems_and_notes_are_printed_and_fail_the_run() -> None:
    failed = summary(problems=["query attack_pairs failed: boom"], notes=["no attack events"])
    lines = format_summary(failed)
    assert not failed.ok
    assert "PROBLEM: query attack_pairs failed: boom" in lines
    assert "note: no attack events" in lines
    assert lines[-1] == "demo FAILED"


def test_the_json_summary_round_trips_with_derived_figures() -> None:
    data = json.loads(json.dumps(summary().to_json()))
    process = data["streams"]["process"]
    assert process["produced"] == 100
    assert process["quarantined"] == {"parse": 2, "score": 1}
    assert process["quarantined_before_cleaning"] == 2
    assert process["accounted"] is True
    assert data["attack_events"] == 6
    assert data["timings"]["total_s"] == 200.0
    assert data["ok"] is True


def test_topics_carry_the_run_id_and_the_home_defaults_under_the_product_home(
    tmp_path: Path,
) -> None:
    topics = demo_topics("ab12cd34")
    assert topics["process"] == "stophacking.demo-ab12cd34.process.v1"
    assert topics["attacks.memory"] == "stophacking.demo-ab12cd34.attacks.memory.v1"
    assert len(set(topics.values())) == 7
    settings = load_settings({"home": str(tmp_path)})
    assert demo_home(settings) == tmp_path / "demo"
    assert demo_home(settings, tmp_path / "elsewhere") == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    "options", [{"duration_s": 0}, {"speed": -1.0}, {"trigger_s": 0.0}], ids=str
)
def test_options_refuse_non_positive_values(options: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        DemoOptions(**options)  # type: ignore[arg-type]

"""The metrics table ``stophacking train`` prints."""

from __future__ import annotations

from pipelines.training.console import metrics_table
from tests.unit.training.test_card import make_card


def test_table_has_one_line_per_stream_with_the_held_out_numbers() -> None:
    card = make_card()
    lines = metrics_table({"process": card}).splitlines()
    assert lines[0].split()[:7] == ["stream", "family", "AUC", "PR-AUC", "prec", "recall", "F1"]
    assert lines[1].split() == [
        "process", "gbt", "0.875", "0.700", "0.500", "0.667", "0.571", "10", "2", "1", "2", "15",
    ]  # fmt: skip

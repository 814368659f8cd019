"""Detection-quality arithmetic, event-key scoring and the ground-truth reader (plain values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.detector.quality import (
    DetectionQuality,
    Scores,
    format_quality,
    ground_truth_for,
    read_ground_truth,
    set_scores,
)
from pipelines.errors import ParseError


def test_scores_from_counts() -> None:
    scores = Scores.from_counts(tp=8, fp=2, fn=4)
    assert scores.precision == pytest.approx(0.8)
    assert scores.recall == pytest.approx(8 / 12)
    # Harmonic mean of 0.8 and 2/3.
    assert scores.f1 == pytest.approx(2 * 0.8 * (2 / 3) / (0.8 + 2 / 3))


def test_undefined_ratios_are_zero_not_nan() -> None:
    assert Scores.from_counts(0, 0, 0) == Scores(0, 0, 0, 0.0, 0.0, 0.0)
    nothing_predicted = Scores.from_counts(0, 0, 5)
    assert (nothing_predicted.precision, nothing_predicted.recall, nothing_predicted.f1) == (
        0.0,
        0.0,
        0.0,
    )
    perfect = Scores.from_counts(3, 0, 0)
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Scores.from_counts(1, -1, 0)


def test_set_scores_count_each_key_once() -> None:
    predicted = [(4, "sshd", 10), (4, "sshd", 10), (5, "nc", 7), (6, "bash", 3)]
    actual = {(4, "sshd", 10), (5, "nc", 7), (7, "perl", 1), (8, "x", 2)}
    scores = set_scores(predicted, actual)
    assert (scores.tp, scores.fp, scores.fn) == (2, 1, 2)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(0.5)
    assert scores.f1 == pytest.approx(4 / 7)


def test_format_quality_names_every_figure() -> None:
    quality = DetectionQuality(
        streams={"process": Scores.from_counts(9, 1, 1), "memory": Scores.from_counts(0, 0, 0)},
        events=Scores.from_counts(3, 1, 0),
        evaluated={"process": 40, "memory": 0},
        unlabelled={"process": 2, "memory": 0},
    )
    lines = format_quality(quality)
    assert lines[1] == (
        "  process records: precision 0.900, recall 0.900, F1 0.900 (tp 9, fp 1, fn 1); "
        "40 records, 2 without ground truth (not counted)"
    )
    assert lines[2].startswith("  memory records: precision 0.000, recall 0.000, F1 0.000")
    assert lines[3] == (
        "  attack events (7b, per machine|CMD|PID): precision 0.750, recall 1.000, "
        "F1 0.857 (tp 3, fp 1, fn 0)"
    )


def test_ground_truth_for_needs_the_side_file(tmp_path: Path) -> None:
    data = tmp_path / "Streaming_Linux_process.csv"
    data.write_text("sequence,machine\n")
    assert ground_truth_for(data) is None
    (tmp_path / "Streaming_Linux_process.labels.csv").write_text("machine,sequence,attack,type\n")
    assert ground_truth_for(data) == tmp_path
    other = tmp_path / "mine.csv"
    (tmp_path / "mine.labels.csv").write_text("machine,sequence,attack,type\n")
    assert ground_truth_for(other) is None, "only the generator's names are looked up"


def test_read_ground_truth(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("machine,sequence,attack,type\n4,1,0,normal\n4,2,1,ddos\n\n5,1,1,dos\n")
    assert read_ground_truth(path) == [(4, 1, 0, "normal"), (4, 2, 1, "ddos"), (5, 1, 1, "dos")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("machine,seq,attack,type\n", "line 1: expected the header machine,sequence,attack,type"),
        ("machine,sequence,attack,type\n4,x,0,normal\n", "line 2, column sequence: not an integer"),
        ("machine,sequence,attack,type\n4,1,2,ddos\n", "line 2, column attack: must be 0 or 1"),
        ("machine,sequence,attack,type\n4,1,0\n", "line 2: expected 4 fields, got 3"),
        (
            "machine,sequence,attack,type\n4,1,0,normal\n4,1,1,ddos\n",
            "line 3: repeated machine and sequence",
        ),
    ],
)
def test_bad_ground_truth_names_file_line_and_column(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(body)
    with pytest.raises(ParseError) as error:
        read_ground_truth(path)
    assert str(error.value).startswith(f"{path}, {message}")


def test_missing_ground_truth_file(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="no ground-truth file"):
        read_ground_truth(tmp_path / "absent.labels.csv")

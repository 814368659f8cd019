"""The drain's arithmetic: offsets behind the end, checkpoint offsets, the stop sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.detector.drain import (
    DrainReport,
    caught_up,
    committed_offsets,
    offsets_behind,
    source_offsets,
)

ENDS = {("p", 0): 100, ("p", 1): 50}


@pytest.mark.parametrize(
    ("read", "behind"),
    [
        ({("p", 0): 100, ("p", 1): 50}, 0),  # at the end
        ({("p", 0): 60, ("p", 1): 50}, 40),
        ({("p", 0): 60}, 90),  # partition 1 never read: all of its 50 offsets
        ({}, 150),  # nothing read yet
        ({("p", 0): 120, ("p", 1): 10}, 40),  # ahead on one partition counts 0, not -20
        ({("p", 0): 100, ("p", 1): 50, ("other", 0): 7}, 0),  # other topics do not count
    ],
)
def test_offsets_behind_sums_what_each_partition_has_left(
    read: dict[tuple[str, int], int], behind: int
) -> None:
    assert offsets_behind(ENDS, read) == behind
    assert caught_up(ENDS, read) is (behind == 0)


def test_an_empty_topic_is_caught_up_by_a_reader_that_never_read_it() -> None:
    assert caught_up({("p", 0): 0}, {})
    assert not caught_up({("p", 0): 1}, {})


@pytest.mark.parametrize(
    ("line", "offsets"),
    [
        ('{"t.a":{"1":7,"0":42}}', {("t.a", 0): 42, ("t.a", 1): 7}),
        ('{"a":{"0":1},"b":{"0":2}}', {("a", 0): 1, ("b", 0): 2}),
        ("-", {}),  # a source without offsets yet
        ('{"logOffset":3}', {}),  # another source's format
        ("[1, 2]", {}),
    ],
)
def test_source_offsets_reads_the_kafka_sources_line(
    line: str, offsets: dict[tuple[str, int], int]
) -> None:
    assert source_offsets(line) == offsets


def _write_batch(checkpoint: Path, batch_id: int, *sources: str, commit: bool = True) -> None:
    (checkpoint / "offsets").mkdir(parents=True, exist_ok=True)
    (checkpoint / "commits").mkdir(parents=True, exist_ok=True)
    metadata = '{"batchWatermarkMs":0,"batchTimestampMs":1,"conf":{}}'
    text = "\n".join(["v1", metadata, *sources])
    (checkpoint / "offsets" / str(batch_id)).write_text(text, encoding="utf-8")
    if commit:
        (checkpoint / "commits" / str(batch_id)).write_text('v1\n{"nextBatchWatermarkMs":0}')


def test_committed_offsets_are_those_of_the_last_committed_batch(tmp_path: Path) -> None:
    assert committed_offsets(tmp_path / "never-started") == {}
    _write_batch(tmp_path, 0, '{"a":{"0":5}}', '{"b":{"0":1}}')
    _write_batch(tmp_path, 1, '{"a":{"0":9}}', '{"b":{"0":4}}')
    # Planned (offsets written) but not committed: the next start runs it again.
    _write_batch(tmp_path, 2, '{"a":{"0":30}}', '{"b":{"0":6}}', commit=False)
    (tmp_path / "commits" / ".1.crc").write_text("")  # Hadoop's checksum files are skipped
    assert committed_offsets(tmp_path) == {("a", 0): 9, ("b", 0): 4}


def test_committed_offsets_before_the_first_commit_are_empty(tmp_path: Path) -> None:
    _write_batch(tmp_path, 0, '{"a":{"0":5}}', commit=False)
    assert committed_offsets(tmp_path) == {}


@pytest.mark.parametrize(
    ("report", "sentence"),
    [
        (
            DrainReport({"process": 0, "memory": 0}, 1.2, timed_out=False),
            "Pipeline stopped: every record sent was scored or quarantined.",
        ),
        (
            DrainReport({"process": 405, "memory": 621}, 30.04, timed_out=True),
            "Pipeline stopped after 30 s of draining: 405 process and 621 memory records "
            "remain for the next start.",
        ),
        (
            DrainReport({"process": 0, "memory": 1}, 30.0, timed_out=True),
            "Pipeline stopped after 30 s of draining: 1 memory record remains for the next start.",
        ),
        (
            # Caught up, but records arrived after the end offsets were taken.
            DrainReport({"process": 3, "memory": 0}, 2.0, timed_out=False),
            "Pipeline stopped: 3 process records remain for the next start.",
        ),
        (
            DrainReport(None, 5.0, timed_out=True),
            "Pipeline stopped after 5 s of draining: the records left for the next start "
            "could not be counted.",
        ),
    ],
)
def test_sentence_says_what_remains_for_the_next_start(report: DrainReport, sentence: str) -> None:
    assert report.sentence("Pipeline") == sentence
    assert report.complete is (sentence.endswith("scored or quarantined."))

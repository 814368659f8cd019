"""Which columns feed the models (SPEC §2.2, §6): never ts, machine, sequence or labels."""

from __future__ import annotations

import pytest

from pipelines.schema.columns import LABELLED_COLUMNS, NOT_FEATURES, STREAMS
from pipelines.training.pipeline import FAMILIES, build_pipeline, feature_spec


def test_process_features_by_treatment() -> None:
    spec = feature_spec("process")
    assert spec.categorical == ("POLI", "Status", "State")
    assert spec.text == "CMD"
    assert spec.numeric == (
        "PID", "TRUN", "TSLPI", "TSLPU", "NICE", "PRI", "RTPR", "CPUNR", "EXC", "CPU",
    )  # fmt: skip


def test_memory_features_by_treatment() -> None:
    spec = feature_spec("memory")
    assert spec.categorical == ()
    assert spec.numeric == (
        "PID", "MINFLT", "MAJFLT", "VSTEXT", "VSIZE", "RSIZE", "VGROW", "RGROW", "MEM",
    )  # fmt: skip


@pytest.mark.parametrize("stream", STREAMS)
def test_no_excluded_column_is_a_feature(stream: str) -> None:
    columns = set(feature_spec(stream).columns)  # type: ignore[arg-type]
    assert not columns & NOT_FEATURES
    assert columns == set(LABELLED_COLUMNS[stream]) - {"ts", "attack", "type"}  # type: ignore[index]


def test_unknown_family_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown model family 'svm'"):
        build_pipeline("process", "svm", seed=1)
    assert {"gbt", "random_forest"} <= set(FAMILIES)

"""The soak's verdict from plain samples: which process is which part, does memory level off."""

from __future__ import annotations

import pytest

from pipelines.bench.soak import levelling, part_of


@pytest.mark.parametrize(
    ("command_line", "part"),
    [
        ("/usr/lib/jvm/java-17/bin/java -cp … org.apache.spark.deploy.SparkSubmit pyspark-shell",
         "detector JVM"),
        ("java -Xmx1G -cp /jars/* kafka.Kafka /home/broker/server.properties", "broker"),
        ("/venv/bin/python -m pyspark.daemon", "Spark Python workers"),
        ("/venv/bin/python /venv/bin/stophacking produce process --file x.csv", "producers"),
        ("/venv/bin/python -m panel serve workbench", None),
        ("/venv/bin/python /venv/bin/stophacking producer-report", None),
    ],
)  # fmt: skip
def test_each_process_of_the_run_is_told_apart_by_what_it_runs(
    command_line: str, part: str | None
) -> None:
    assert part_of(command_line) == part


def _series(values: list[float], step_s: float = 30.0) -> list[tuple[float, float]]:
    return [(i * step_s, v) for i, v in enumerate(values)]


def test_a_part_that_grows_then_holds_its_level_levels_off() -> None:
    # Heap sizing during warm-up, then a saw-tooth of collections around 900 MiB.
    values = [300.0, 500.0, 700.0, 880.0] + [
        900.0 + (15.0 if i % 3 == 0 else 0.0) for i in range(56)
    ]
    [result] = levelling({"detector JVM": _series(values)})
    assert result.part == "detector JVM"
    assert result.levels_off
    assert abs(result.slope_mib_per_30_min) < 10
    assert result.end_mib == 900.0 and result.peak_mib == 915.0


def test_a_steady_leak_does_not_level_off_even_when_small_against_the_part() -> None:
    # 1.5 MiB a minute (45 MiB per 30 min) on a 600 MiB part: 7 % per 30 min.
    values = [600.0 + 0.75 * i for i in range(60)]
    [result] = levelling({"panel server": _series(values)})
    assert not result.levels_off
    assert abs(result.slope_mib_per_30_min - 45.0) < 1e-6
    assert result.start_mib < result.end_mib


def test_a_few_pages_more_of_a_small_process_is_level() -> None:
    values = [40.0 + 0.1 * i for i in range(60)]  # 3 MiB per 30 min on 45 MiB
    [result] = levelling({"producers": _series(values)})
    assert result.levels_off


def test_warm_up_gaps_and_short_series_are_left_out_and_parts_keep_their_order() -> None:
    results = levelling(
        {
            "producers": _series([0.0, 0.0] + [50.0] * 20),
            "panel server": _series([400.0] * 20),
            "broker": _series([500.0] * 5),  # 5 samples, all but one in the warm-up
        }
    )
    assert [r.part for r in results] == ["panel server", "producers"]
    assert results[1].start_mib == 50.0


def test_one_sample_that_counted_a_forked_child_twice_makes_no_trend() -> None:
    values = [1676.0] * 50 + [3353.0] + [1677.0] * 9  # a fork between two samples
    [result] = levelling({"detector JVM": _series(values)})
    assert result.levels_off and result.peak_mib == 1677.0
    assert abs(result.slope_mib_per_30_min) < 5.0  # the real 1 MiB step remains

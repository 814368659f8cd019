"""``spark.extra`` keys reach the session; a user's JVM flags join ours, not replace them."""

from __future__ import annotations

from pipelines.spark.session import with_extra

OURS = {
    "spark.master": "local[2]",
    "spark.driver.extraJavaOptions": "-Dderby.system.home=/h -XX:+UseParallelGC",
}


def test_a_plain_extra_key_replaces_ours() -> None:
    merged = with_extra(OURS, {"spark.master": "spark://host:7077", "spark.x": "1"})
    assert merged["spark.master"] == "spark://host:7077"
    assert merged["spark.x"] == "1"


def test_extra_jvm_flags_are_appended_so_ours_stay_and_the_users_come_last() -> None:
    merged = with_extra(OURS, {"spark.driver.extraJavaOptions": "-XX:NewRatio=1 -Xss4m"})
    assert merged["spark.driver.extraJavaOptions"] == (
        "-Dderby.system.home=/h -XX:+UseParallelGC -XX:NewRatio=1 -Xss4m"
    )
    assert OURS["spark.driver.extraJavaOptions"].endswith("UseParallelGC")  # not mutated


def test_a_collector_the_user_picks_replaces_ours() -> None:
    merged = with_extra(OURS, {"spark.driver.extraJavaOptions": "-XX:+UseG1GC"})
    assert merged["spark.driver.extraJavaOptions"] == "-Dderby.system.home=/h -XX:+UseG1GC"


def test_without_extra_the_options_are_unchanged() -> None:
    assert with_extra(OURS, {}) == OURS

"""The server's unload hook ends a Spark JVM that Models-tab training started.

Training builds the process-wide Spark session without a detector, so the detector's
shutdown does not end its JVM. A child Python process (this test run's own JVM must live
on) builds the session as training does, runs a job, calls the hook ``panel serve`` calls
at shutdown, and reports whether the JVM it launched still exists while it is alive.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.config import PROJECT_ROOT, Settings

CHILD = """
import os
from pyspark import SparkContext
from pipelines.config import load_settings
from pipelines.spark.session import build_spark_session
from workbench.app_hooks import on_server_unloaded

spark = build_spark_session(load_settings(), app_name="unload-test-training")
assert spark.range(5).count() == 5
pid = SparkContext._gateway.proc.pid
print("own group" if os.getpgid(pid) != os.getpgid(0) else "shared group")
on_server_unloaded(None)
try:
    os.kill(pid, 0)
    print(f"jvm {pid} alive")
except ProcessLookupError:
    print(f"jvm {pid} ended")
"""


@pytest.mark.parametrize("own_group", [False, True], ids=["shared-group", "own-group"])
def test_server_unload_ends_the_jvm_training_started(
    settings: Settings, tmp_path: Path, own_group: bool
) -> None:
    """Also with the JVM in its own process group, as the served workbench starts it."""
    env = {
        **os.environ,
        "STOPHACKING_HOME": str(tmp_path / "home"),
        "STOPHACKING_JARS_CACHE": str(settings.jars_dir),
        "STOPHACKING_SPARK__DRIVER_MEMORY": "1g",
        "STOPHACKING_SPARK__OWN_PROCESS_GROUP": str(own_group).lower(),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ended" in done.stdout and "alive" not in done.stdout, done.stdout
    assert ("own group" if own_group else "shared group") in done.stdout, done.stdout

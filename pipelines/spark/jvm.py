"""Ending a Spark driver's JVM before the Python process that launched it exits.

``SparkSession.stop()`` stops the SparkContext but leaves PySpark's gateway JVM running
until the Python process exits; the JVM then notices its stdin closing and shuts down a
few seconds later, after the Python process is gone. A bounded command (``stophacking
demo``) that promises to leave nothing running stops the JVM itself and waits for it.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess

from pyspark import SparkContext
from pyspark.sql import SparkSession

from pipelines.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_JVM_EXIT_TIMEOUT_S = 60.0


def stop_session_and_jvm(
    spark: SparkSession, *, timeout_s: float = DEFAULT_JVM_EXIT_TIMEOUT_S
) -> bool:
    """Stop ``spark``, then end PySpark's gateway JVM and wait until it has exited.

    After this no session can be made in this Python process again.

    Args:
        spark: the session to stop.
        timeout_s: seconds to wait for the JVM to exit after its stdin closed; it is
            killed after that.

    Returns:
        True when a JVM launched by this process was ended (False: the gateway was not
        launched here, e.g. an existing JVM was attached).
    """
    spark.stop()
    return end_launched_jvm(timeout_s=timeout_s)


def end_launched_jvm(*, timeout_s: float = DEFAULT_JVM_EXIT_TIMEOUT_S) -> bool:
    """Stop the active SparkContext, if any, and end the gateway JVM this process launched.

    For a process that may or may not have started Spark (the workbench: Models-tab
    training starts it without a detector). Never imports pyspark's JVM side anew.

    Returns:
        True when a JVM launched by this process was ended.
    """
    context = SparkContext._active_spark_context
    if context is not None:
        context.stop()
    gateway = SparkContext._gateway
    process: subprocess.Popen[bytes] | None = getattr(gateway, "proc", None)
    if gateway is None or process is None:
        return False
    with contextlib.suppress(Exception):  # already closed connections are fine
        gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    # The JVM exits when its stdin closes (how PySpark ends it when Python exits).
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        log.warning(
            "the Spark JVM (pid %d) did not exit in %.0f s: killing it", process.pid, timeout_s
        )
        process.kill()
        process.wait(timeout=timeout_s)
    return True


def spark_jvm_pid() -> int:
    """The process id of this process's Spark JVM (PySpark's gateway)."""
    gateway = SparkContext._gateway
    process = getattr(gateway, "proc", None)
    if process is None:
        raise ConfigError("no Spark JVM was launched by this process")
    return int(process.pid)

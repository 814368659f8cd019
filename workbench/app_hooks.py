"""Server lifecycle of `panel serve workbench`: every stylesheet served locally at start
(:mod:`workbench.offline`); stop what we started on shutdown."""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


def on_server_loaded(server_context: Any) -> None:
    from workbench.offline import serve_panel_css_locally

    serve_panel_css_locally()


def on_server_unloaded(server_context: Any) -> None:
    from workbench.feeds import reset_shared_state

    reset_shared_state()
    end_spark_jvm()


def end_spark_jvm() -> None:
    """End Spark's JVM if this server process launched one and it still runs.

    The detector ends it when it shuts down; Models-tab training starts it without a
    detector, and it would otherwise outlive the server. Only the server's unload calls
    this: the process is going away, so no Spark session is wanted afterwards.
    """
    if "pyspark" not in sys.modules:  # Spark never used: nothing to end, nothing to import
        return
    from pipelines.spark.jvm import end_launched_jvm

    try:
        if end_launched_jvm():
            log.info("ended Spark's JVM")
    except Exception as exc:  # the JVM may be gone already (SIGTERM to the group)
        log.warning("ending Spark's JVM at shutdown: %s", exc)

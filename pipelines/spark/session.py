"""The SparkSession factory, with Spark's Kafka connector on the classpath.

The connector jars (``spark-sql-kafka-0-10`` at exactly pyspark's version, Scala 2.13)
are resolved from Maven Central once into ``<home>/jars/spark-kafka-<version>``; after
that, nothing is downloaded at run time. Only the connector and the few jars it needs
beyond pyspark's own are kept, so no second Hadoop or Scala lands on the classpath.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import pyspark
from pyspark.sql import SparkSession

from pipelines.config import Settings
from pipelines.errors import MissingToolError
from pipelines.maven import Artifact, resolve_jars

SPARK_LOG = "spark.log"
"""Spark's own output, under ``<home>/logs/`` (see :func:`launch_jvm`)."""
SPARK_LOG_MAX_BYTES = 50 * 1024 * 1024
"""Past this size a new JVM starts the log afresh; the previous one becomes ``spark.log.1``."""

CONNECTOR_EXTRA_ARTIFACT_IDS = (
    "spark-sql-kafka-0-10_{scala}",
    "spark-token-provider-kafka-0-10_{scala}",
    "kafka-clients",
    "commons-pool2",
)


def connector_artifact(settings: Settings) -> Artifact:
    scala = settings.spark.scala_binary_version
    return Artifact("org.apache.spark", f"spark-sql-kafka-0-10_{scala}", pyspark.__version__)


def resolve_connector_jars(settings: Settings) -> list[Path]:
    """Fetch (once) and return the jars of Spark's Kafka connector."""
    scala = settings.spark.scala_binary_version
    return resolve_jars(
        settings.jars_dir / f"spark-kafka-{pyspark.__version__}",
        [connector_artifact(settings)],
        include_artifact_ids=[a.format(scala=scala) for a in CONNECTOR_EXTRA_ARTIFACT_IDS],
    )


LOCAL_FS_ARTIFACT = Artifact("com.globalmentor", "hadoop-bare-naked-local-fs", "0.1.0")
"""A Hadoop local file system on Java NIO (Hadoop itself is ``provided``: no other jar)."""


def resolve_local_fs_jars(settings: Settings) -> list[Path]:
    """Fetch (once) and return the jar of :data:`LOCAL_FS_ARTIFACT`."""
    return resolve_jars(
        settings.jars_dir / f"local-fs-{LOCAL_FS_ARTIFACT.version}", [LOCAL_FS_ARTIFACT]
    )


def nio_local_fs_options() -> dict[str, str]:
    """The settings that send ``file:`` paths through :data:`LOCAL_FS_ARTIFACT` (pure).

    Without Hadoop's native library (pyspark ships none) Hadoop's local file system
    sets every new file's permissions by starting ``chmod`` (``Shell.execCommand``),
    and Spark's default checkpoint manager reaches it through ``FileContext``, which
    does not honour ``fs.file.impl``. So both are replaced: ``fs.file.impl`` (parquet
    writes, reads, listings) and the checkpoint manager, which then goes through the
    ``FileSystem`` API (offset and commit logs, state store files). A rename on a local
    disk is atomic, which is what that manager relies on.
    """
    return {
        "spark.hadoop.fs.file.impl": "com.globalmentor.apache.hadoop.fs.BareLocalFileSystem",
        "spark.sql.streaming.checkpointFileManagerClass": (
            "org.apache.spark.sql.execution.streaming.checkpointing."
            "FileSystemBasedCheckpointFileManager"
        ),
    }


def build_spark_session(
    settings: Settings,
    *,
    app_name: str | None = None,
    checkpoint_dir: Path | None = None,
    with_kafka: bool = True,
) -> SparkSession:
    """Get or create the process-wide SparkSession.

    Args:
        settings: master, shuffle partitions, UI, raw ``spark.extra`` keys.
        app_name: application name (default ``settings.spark.app_name``).
        checkpoint_dir: default streaming checkpoint root (default ``<home>/checkpoints``).
        with_kafka: put the Kafka connector jars on the classpath.

    Spark allows one session per JVM: a second call returns the first session, with
    its original classpath and master.
    """
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise MissingToolError("'java' not found on PATH and JAVA_HOME unset: Spark needs Java 17+")
    spark_settings = settings.spark
    checkpoints = checkpoint_dir or settings.home / "checkpoints"
    options: dict[str, str] = {
        "spark.master": spark_settings.master,
        "spark.app.name": app_name or spark_settings.app_name,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(spark_settings.shuffle_partitions),
        "spark.ui.enabled": str(spark_settings.ui_enabled).lower(),
        "spark.driver.memory": spark_settings.driver_memory,
        "spark.sql.streaming.checkpointLocation": str(checkpoints),
        "spark.sql.warehouse.dir": str(settings.home / "spark-warehouse"),
        # The parallel collector: no concurrent marking threads competing with the
        # tasks for two cores (fleet bench, 500 hosts, same machine, two runs each:
        # ingest batches every 7.1 s instead of 10.1 s, send → scored p95 15–17 s
        # instead of 18–24 s). In local mode the driver JVM runs the tasks too.
        "spark.driver.extraJavaOptions": (
            f"-Dderby.system.home={settings.home} -XX:+UseParallelGC"
        ),
        # Local mode: keep the driver quiet about the loopback address.
        "spark.driver.host": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        "spark.sql.adaptive.enabled": "false",
        # The detector's queries generate more Java classes than the default cache of
        # 100 holds; evicted ones were compiled again in every micro-batch (a fifth of
        # the JVM's CPU in a Flight Recorder profile of the ingest).
        "spark.sql.codegen.cache.maxEntries": "2000",
        # Cleaning builds each column through several aliased steps; the optimizer's
        # constraint inference over them grows past any heap once a filter sits on top
        # (planning the batch clean → split → score of the sample ran out of a 2 GiB heap;
        # 3.5 s and a 1 MB plan with it off). No rule the detector relies on needs it.
        "spark.sql.constraintPropagation.enabled": "false",
        "spark.sql.streaming.forceDeleteTempCheckpointLocation": "true",
        # Our own progress lines say what runs; Spark's stage bars would interleave them.
        "spark.ui.showConsoleProgress": "false",
    }
    if with_kafka:
        options["spark.jars"] = ",".join(str(p) for p in resolve_connector_jars(settings))
    options = with_extra(options, spark_settings.extra)
    local_master = options["spark.master"].startswith("local")
    if spark_settings.nio_local_fs and local_master:
        # On the JVM's own class path: Spark resolves file: paths before it loads the
        # jars of spark.jars. Local mode only, where that JVM runs the tasks too.
        for key, value in nio_local_fs_options().items():
            options.setdefault(key, value)
        class_path = [options.get("spark.driver.extraClassPath", "")]
        class_path += [str(p) for p in resolve_local_fs_jars(settings)]
        options["spark.driver.extraClassPath"] = os.pathsep.join(filter(None, class_path))
    if local_master:
        # Spark warns at start that the host name resolves to a loopback address unless
        # told which address to use; local mode uses loopback on purpose.
        os.environ.setdefault("SPARK_LOCAL_IP", options["spark.driver.host"])
        # Spark's Python workers (UDFs, RDD functions) would otherwise run the first
        # `python3` on PATH, not this environment's interpreter and packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    launch_jvm(
        options,
        own_session=spark_settings.own_process_group,
        log_file=None if spark_settings.verbose else spark_log_path(settings),
    )
    builder = SparkSession.builder
    for key, value in options.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


APPENDED_OPTIONS: Final = ("spark.driver.extraJavaOptions",)
"""Options whose value in ``spark.extra`` is appended to ours instead of replacing it:
the JVM flags (a flag given twice takes its last value, so the user's still win; a
collector the user picks replaces ours, since the JVM starts with one only)."""
COLLECTOR_FLAG: Final = re.compile(r"-XX:\+Use\w+GC")


def with_extra(options: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``options`` updated with the raw ``spark.extra`` keys; :data:`APPENDED_OPTIONS`
    are joined, so a user's JVM flag does not drop the collector and Derby flags."""
    merged = {**options, **extra}
    for key in APPENDED_OPTIONS:
        if key in options and key in extra:
            ours = options[key].split()
            if COLLECTOR_FLAG.search(extra[key]):  # the JVM refuses two collectors
                ours = [flag for flag in ours if not COLLECTOR_FLAG.fullmatch(flag)]
            merged[key] = " ".join([*ours, extra[key]]).strip()
    return merged


def spark_log_path(settings: Settings) -> Path:
    """Where Spark's own output goes unless ``spark.verbose`` is set."""
    return settings.home / "logs" / SPARK_LOG


def launch_jvm(options: dict[str, str], *, own_session: bool, log_file: Path | None) -> bool:
    """Launch PySpark's gateway JVM, its output in a log file, maybe in its own session.

    With ``log_file``, everything the JVM prints (log4j's lines, its start-up notes, a
    native library that fails to load) is appended there instead of the console, so a
    command shows only the project's own lines. With ``own_session``, a signal sent to
    the caller's process group (Ctrl-C in a terminal, SIGTERM from a service manager or
    ``kill -- -PGID``) reaches only Python, which stops the streaming queries and the
    JVM in order, instead of the JVM dying under running micro-batches. The JVM is still
    a child of this process and still exits when this process does (PySpark's gateway
    ends when its stdin closes).

    Args:
        options: the ``spark.*`` settings the JVM must start with (driver memory, jars).
        own_session: start the JVM in a session (and process group) of its own.
        log_file: append the JVM's stdout and stderr here (None: inherit the console).

    Returns:
        True when it launched the JVM; False when a JVM is already there (launched or
        attached), which is then left as it is.

    Raises:
        MissingToolError: the JVM did not start (the message names the log file).
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    with SparkContext._lock:
        if SparkContext._gateway is not None:
            return False
        conf = SparkConf(loadDefaults=False)  # no JVM yet: a plain Python map
        conf.setAll(list(options.items()))
        popen_kwargs: dict[str, object] = {"start_new_session": own_session}
        with contextlib.ExitStack() as stack:
            if log_file is not None:
                log_file.parent.mkdir(parents=True, exist_ok=True)
                if log_file.is_file() and log_file.stat().st_size > SPARK_LOG_MAX_BYTES:
                    log_file.replace(log_file.with_name(log_file.name + ".1"))  # keep one old
                # Appended, not truncated: another command may be writing it right now.
                sink = stack.enter_context(log_file.open("ab"))  # the JVM keeps its own copy
                popen_kwargs.update(stdout=sink, stderr=sink)
            try:
                gateway = launch_gateway(conf, popen_kwargs=popen_kwargs)
            except Exception as exc:  # pyspark raises a bare exception when java dies
                where = f"; its output is in {log_file}" if log_file else ""
                raise MissingToolError(f"Spark's JVM did not start ({exc}){where}") from exc
        SparkContext._gateway = gateway
        SparkContext._jvm = gateway.jvm
    return True

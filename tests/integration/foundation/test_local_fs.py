"""The Spark session reaches ``file:`` paths through Java NIO, with Hadoop's permissions.

``settings.spark.nio_local_fs`` (on by default) replaces Hadoop's local file system,
which starts a ``chmod`` process for every file it creates, for both the parquet
outputs (``fs.file.impl``) and the streaming checkpoints (the checkpoint manager).
"""

from __future__ import annotations

import stat
from pathlib import Path

from pyspark.sql import SparkSession

NIO_FS = "com.globalmentor.apache.hadoop.fs.BareLocalFileSystem"
FS_CHECKPOINTS = (
    "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager"
)


def _hadoop_conf(spark: SparkSession):  # type: ignore[no-untyped-def]
    return spark._jsc.hadoopConfiguration()  # type: ignore[union-attr]


def test_parquet_goes_through_nio_and_keeps_hadoops_file_modes(
    spark: SparkSession, tmp_path: Path
) -> None:
    jvm = spark._jvm  # type: ignore[attr-defined]
    folder = tmp_path / "out"
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(
        jvm.java.net.URI(folder.as_uri()), _hadoop_conf(spark)
    )
    assert fs.getClass().getName() == NIO_FS

    spark.range(100).repartition(2).write.parquet(str(folder))

    assert spark.read.parquet(str(folder)).count() == 100
    parts = sorted(folder.glob("part-*.parquet"))
    assert len(parts) == 2 and (folder / "_SUCCESS").is_file()
    # Hadoop's default file mode (0666) under the umask, set through NIO, not chmod.
    umask = int(_hadoop_conf(spark).get("fs.permissions.umask-mode", "022"), 8)
    for part in parts:
        assert stat.S_IMODE(part.stat().st_mode) == 0o666 & ~umask


def test_streaming_checkpoints_use_the_file_system_api(spark: SparkSession, tmp_path: Path) -> None:
    jvm = spark._jvm  # type: ignore[attr-defined]
    checkpoint = jvm.org.apache.hadoop.fs.Path(str(tmp_path / "checkpoint"))
    managers = jvm.org.apache.spark.sql.execution.streaming.checkpointing.CheckpointFileManager
    hadoop_conf = spark._jsparkSession.sessionState().newHadoopConf()  # type: ignore[attr-defined]
    manager = managers.create(checkpoint, hadoop_conf)
    assert manager.getClass().getName() == FS_CHECKPOINTS

    source = tmp_path / "in"
    spark.range(10).write.json(str(source))
    query = (
        spark.readStream.schema("id long")
        .json(str(source))
        .writeStream.format("noop")
        .trigger(availableNow=True)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .start()
    )
    assert query.awaitTermination(120), "the query did not finish its one batch in 120 s"
    assert sum(p["numInputRows"] for p in query.recentProgress) == 10
    commits = [p for p in (tmp_path / "checkpoint" / "commits").iterdir() if p.name.isdigit()]
    assert commits, "the query committed no micro-batch through the checkpoint manager"

"""A DataFrame computed once and read several times: :func:`materialized`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import DataFrame


@contextmanager
def materialized(frame: DataFrame) -> Iterator[DataFrame]:
    """``frame`` computed now and kept in the executors' memory (spilling to disk)
    while the ``with`` block reads it; released when the block ends, even on error.

    A local checkpoint, not ``persist()``: the frame handed to the block has a plan of
    one node (the stored rows), so each read plans in milliseconds instead of
    analysing, optimising and matching ``frame``'s whole plan against the cache, and
    the rows are kept as they are instead of being encoded into cached columns.
    Measured on the detector's ingest micro-batch (docs/detector.md, "Throughput and
    latency"): a fifth less time than ``persist()``.

    Args:
        frame: any batch DataFrame (a micro-batch of ``foreachBatch``, too).

    Yields:
        The stored frame: same columns and rows as ``frame``.
    """
    stored = frame.localCheckpoint(eager=True)
    try:
        yield stored
    finally:
        # A local checkpoint's rows are an RDD of the stored frame's plan; Spark has
        # no public call to drop them before the RDD is garbage collected.
        stored._jdf.queryExecution().analyzed().rdd().unpersist(False)

"""The 7a query: attack records per machine, stream and 2-minute window, in a memory sink.

Both attack topics, each stream watermarked on its own →
:func:`~pipelines.detector.transforms.attack_counts` → a memory sink in complete mode:
the Spark SQL table ``settings.detector.counts_table``, which the query is named after.
The window-counts topic is published from that table by the detector's monitor thread
(:mod:`~pipelines.detector.monitor`): one aggregation, two outputs.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

from pipelines.detector import transforms
from pipelines.detector.layout import COUNTS_CHECKPOINT
from pipelines.detector.streaming import QueryWiring
from pipelines.schema.columns import Stream


def start_counts_query(
    wiring: QueryWiring, attacks: Mapping[Stream, DataFrame], *, table: str, trigger_s: float
) -> StreamingQuery:
    """Start the 7a query (checkpointed in :data:`~pipelines.detector.layout.COUNTS_CHECKPOINT`).

    Args:
        wiring: the detector run's checkpoints.
        attacks: per stream, its attack records (``QueryWiring.attack_stream``).
        table: the memory sink's table, also the query's name.
        trigger_s: micro-batch interval, seconds.
    """
    counts = transforms.attack_counts(attacks)
    return (
        counts.writeStream.queryName(table)
        .outputMode("complete")
        .format("memory")
        .option("checkpointLocation", wiring.checkpoint(COUNTS_CHECKPOINT))
        .trigger(processingTime=f"{trigger_s} seconds")
        .start()
    )

"""Producer throughput: ``--max-rate`` replay beside a bare kafka-python send loop.

The bare loop sends the same pre-encoded records with the same client settings and
no planning, encoding or bookkeeping: it is the ceiling the replayer is measured
against, in the same run and on the same broker.
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaProducer

from pipelines import kafka_io
from pipelines.config import Settings
from pipelines.replay.kafka_producer import Replayer
from pipelines.replay.message import encode_key, encode_value
from pipelines.replay.rows import load_stream_rows
from pipelines.schema.columns import Stream


@dataclass(frozen=True)
class ProducerBenchmark:
    """Records per second of each run (acknowledged records / seconds incl. flush)."""

    replayer_per_s: tuple[float, ...]
    bare_loop_per_s: tuple[float, ...]
    records_per_run: int

    @property
    def replayer_median_per_s(self) -> float:
        return statistics.median(self.replayer_per_s)

    @property
    def bare_loop_median_per_s(self) -> float:
        return statistics.median(self.bare_loop_per_s)


def _bare_loop(settings: Settings, topic: str, values: list[tuple[bytes, bytes]]) -> float:
    replay = settings.replay
    producer = KafkaProducer(
        **kafka_io.client_config(
            settings.kafka,
            enable_idempotence=True,
            acks="all",
            linger_ms=replay.linger_ms,
            delivery_timeout_ms=int(replay.delivery_timeout_s * 1000),
        )
    )
    try:
        started = time.perf_counter()
        for key, value in values:
            producer.send(topic, key=key, value=value)
        producer.flush()
        return len(values) / (time.perf_counter() - started)
    finally:
        producer.close()


def measure_producer_rate(
    settings: Settings, stream: Stream, file: Path, *, runs: int = 5, cycles: int = 200
) -> ProducerBenchmark:
    """Time ``runs`` max-rate replays of ``cycles`` cycles and as many bare loops.

    Each run writes to a fresh topic. The bare loop sends as many records as the
    replay did (the first rows of the file, cycled).
    """
    rates: list[float] = []
    ceilings: list[float] = []
    rows = load_stream_rows(file, stream)
    flat = [row for machine_rows in rows.machines.values() for row in machine_rows]
    records = 0
    for _ in range(runs):
        topic = f"bench.{stream}.{uuid.uuid4().hex[:8]}"
        with Replayer(settings, stream, file=file, seed=1, max_rate=True, topic=topic) as r:
            report = r.run(cycles=cycles)
        records = report.total_acked
        rates.append(report.records_per_s)
        values = [
            (encode_key(row.machine), encode_value(row, ts=0.0, run_id="bench", pass_=0))
            for row in (flat[i % len(flat)] for i in range(records))
        ]
        bare_topic = f"bench.bare.{uuid.uuid4().hex[:8]}"
        kafka_io.ensure_topics(settings.kafka, [bare_topic])
        ceilings.append(_bare_loop(settings, bare_topic, values))
    return ProducerBenchmark(tuple(rates), tuple(ceilings), records)

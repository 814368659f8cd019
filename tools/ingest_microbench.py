"""Time the ingest's per-record work on one fixed batch, in one JVM: a rerunnable probe.

The fleet and drain benchmarks measure the whole detector, where two cores are shared
by every part and a 10 % change drowns in the noise of a two-minute run. This probe
times the ingest's own steps on the same batch again and again, in one Spark JVM:

- ``decode``: Kafka messages → records decoded, cleaned and flagged for the model
  (:func:`pipelines.detector.ingest.ingest_records`), written to Spark's ``noop``
  sink, on the ingest's own session (whole-stage codegen off, as in the detector);
- ``handler``: the whole ingest micro-batch (:class:`~pipelines.detector.ingest.IngestWriter`:
  decode, score, publish the attacks to Kafka, write the scored, cleaned and quarantine parquet)
  on the decoded records; needs a broker (``stophacking broker start``).

With ``--compare FILE`` the ``decode`` step also runs with ``decode_messages`` of
another ``pipelines/detector/transforms.py`` (e.g. ``git show HEAD~1:…`` saved to a
file), alternated with the current one, so both see the same JVM and the same moment.

Usage (the fleet data come from ``stophacking bench fleet``; the models from ``make setup``):

    python tools/ingest_microbench.py --stream process --layout array --runs 6
    python tools/ingest_microbench.py --step handler --records 60000 --runs 10
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.config import load_settings  # noqa: E402
from pipelines.detector import transforms  # noqa: E402
from pipelines.detector.ingest import IngestWriter, ingest_records, ingest_session  # noqa: E402
from pipelines.detector.streaming import kafka_options  # noqa: E402
from pipelines.replay.message import encode_tail  # noqa: E402
from pipelines.replay.rows import load_stream_rows  # noqa: E402
from pipelines.schema.columns import STREAMING_FILE_NAMES, Stream  # noqa: E402
from pipelines.spark.scoring import load_pipeline_model  # noqa: E402
from pipelines.spark.session import build_spark_session  # noqa: E402

WARMUP_RUNS = 2
"""Runs of each variant before the timed ones (the JIT compiles meanwhile)."""


def kafka_rows(data_dir: Path, stream: Stream, layout: str, records: int) -> list[tuple[Any, ...]]:
    """Kafka-shaped rows (topic, partition, offset, value, timestamp) of the fleet data:
    one record per message, or one JSON array per machine and cycle (the cycle's row
    count drawn from the brief's range, seeded)."""
    rows = load_stream_rows(data_dir / STREAMING_FILE_NAMES[stream], stream)
    tail = encode_tail(ts=1_700_000_000.0, run_id="microbench", pass_=0)
    low, high = (10, 50) if stream == "process" else (20, 80)
    rng = random.Random(7)
    values: list[bytes] = []
    taken = 0
    for machine_rows in rows.machines.values():
        i = 0
        while i < len(machine_rows) and taken < records:
            size = rng.randint(low, high) if layout == "array" else 1
            chunk = machine_rows[i : i + min(size, records - taken)]
            i += len(chunk)
            taken += len(chunk)
            bodies = [row.body + tail for row in chunk]
            values.append(
                ("[" + ",".join(bodies) + "]" if layout == "array" else bodies[0]).encode()
            )
        if taken >= records:
            break
    sent = datetime.fromtimestamp(1_700_000_000, UTC)
    return [("microbench", 0, offset, value, sent) for offset, value in enumerate(values)]


def load_transforms(path: Path) -> ModuleType:
    """Another version of ``pipelines/detector/transforms.py``, loaded under its own name."""
    spec = importlib.util.spec_from_file_location("transforms_compared", path)
    if spec is None or spec.loader is None:
        sys.exit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decode_with(module: ModuleType, messages: Any, stream: str, model: Any) -> Any:
    """:func:`ingest_records` with ``module``'s transforms."""
    decoded = module.decode_messages(messages, stream)
    flagged = module.flag_unscorable(module.clean_records(decoded, stream), model)
    return module.keep_raw_value_for_quarantine(flagged)


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def report(name: str, seconds: list[float], records: int) -> None:
    median = statistics.median(seconds)
    shown = ", ".join(f"{s:.2f}" for s in seconds)
    print(f"{name}: {median:.3f} s median ({records / median:,.0f} rec/s); runs: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", choices=("process", "memory"), default="process")
    parser.add_argument("--layout", choices=("record", "array"), default="record")
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=6, help="timed runs of each variant")
    parser.add_argument("--step", choices=("decode", "handler"), default="decode")
    parser.add_argument("--machines", type=int, default=500, help="which fleet data set")
    parser.add_argument("--compare", type=Path, help="another transforms.py (decode step)")
    args = parser.parse_args()
    stream: Stream = args.stream

    settings = load_settings()
    data_dir = settings.home / "data" / f"fleet-{args.machines}-seed7-rows600"
    model_dir = ROOT / "models" / f"{args.stream}_pipeline_model"
    for needed, how in ((data_dir, "stophacking bench fleet"), (model_dir, "make setup")):
        if not needed.exists():
            sys.exit(f"{needed} is missing: run `{how}` first")
    spark = build_spark_session(settings)
    spark.sparkContext.setLogLevel("ERROR")
    session = ingest_session(spark)
    messages = session.createDataFrame(
        kafka_rows(data_dir, stream, args.layout, args.records),
        "topic string, partition int, offset long, value binary, timestamp timestamp",
    )
    messages = messages.repartition(spark.sparkContext.defaultParallelism).cache()
    print(f"{messages.count():,} {args.layout} messages of {args.records:,} {args.stream} records")
    model = load_pipeline_model(model_dir)

    def decode(module: ModuleType) -> Callable[[], None]:
        # Built once, as the detector builds its query's plan once: each run then plans
        # and executes it, as each micro-batch does.
        frame = decode_with(module, messages, stream, model)

        def run() -> None:
            frame.write.format("noop").mode("overwrite").save()

        return run

    variants: dict[str, Callable[[], None]] = {}
    if args.step == "decode":
        variants["current"] = decode(transforms)
        if args.compare is not None:
            variants[f"compared ({args.compare})"] = decode(load_transforms(args.compare))
    else:
        # Not stored here: the handler stores the batch (frames.materialized), as in the
        # detector, so its time includes the decoding.
        records = ingest_records(messages, args.stream, model)
        writer = IngestWriter(
            stream,
            output_dir=Path(tempfile.mkdtemp(prefix="stophacking-microbench-")),
            kafka_options=kafka_options(settings),
            attack_topic=f"microbench.attacks-{args.stream}",
            on_figures=lambda figures: None,
        )
        batch_ids = iter(range(10**6))
        variants["handler"] = lambda: writer(records, next(batch_ids))
    for _ in range(WARMUP_RUNS):
        for run in variants.values():
            run()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.runs):  # alternated: each variant sees the same moments
        for name, run in variants.items():
            seconds[name].append(timed(run))
    for name, values in seconds.items():
        report(name, values, args.records)


if __name__ == "__main__":
    main()

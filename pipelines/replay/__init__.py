"""Producers: replay streaming telemetry files onto Kafka in cycles (SPEC §3).

Pure modules (no Kafka): :mod:`~pipelines.replay.rows` loads a streaming CSV into
per-machine rows, :mod:`~pipelines.replay.message` encodes one Kafka record,
:mod:`~pipelines.replay.plan` decides which rows each cycle sends,
:mod:`~pipelines.replay.clock` stamps ``ts`` and paces cycles,
:mod:`~pipelines.replay.loop` runs bounded cycles against any send function and
:mod:`~pipelines.replay.report` carries progress and summaries.
:mod:`~pipelines.replay.kafka_producer` is the kafka-python edge (``Replayer``),
:mod:`~pipelines.replay.console` the command-line front and
:mod:`~pipelines.replay.kafka_bench` the throughput measurement. See docs/producers.md.
"""

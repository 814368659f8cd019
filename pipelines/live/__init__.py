"""Live consumers (SPEC §4): streamz pipelines counting records per machine in a trailing
window of arrival time, drawn as HoloViews streaming DataFrames.

- :mod:`pipelines.live.counts`: the pure counting core (``TrailingCounts``).
- :mod:`pipelines.live.messages`: which machine each record of a message belongs to.
- :mod:`pipelines.live.kafka_source`: the kafka-python consumer thread (the only Kafka edge).
- :mod:`pipelines.live.pipeline`: the streamz graph and the HoloViews chart (``LiveCounts``).
"""

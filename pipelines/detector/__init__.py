"""The Spark Structured Streaming detector: its queries (ingest, 7a, 7b and alerts), their
handlers, the monitor thread, the outputs read back, health and quality. Built on
:mod:`pipelines.spark` (session, scoring, cleaning).
"""

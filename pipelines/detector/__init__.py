"""Spark Structured Streaming detector: session, transforms, scoring, sinks, job wiring."""

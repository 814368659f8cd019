"""Benchmarks measured by commands, not by timed tests (SPEC §8).

:mod:`~pipelines.bench.detector` times the streaming detector draining a replayed backlog.
"""

"""Model training: Spark ML pipelines, evaluation, model cards and saving (SPEC §6).

Spark-free modules (``card``, ``curves``, ``metrics``) can be imported anywhere, the
workbench included; ``pipeline`` and ``trainer`` import pyspark. Import the submodule
you need: this package imports nothing on its own.
"""

"""StopHacking pipelines: everything that moves or transforms telemetry.

Sub-packages by role: ``schema`` (pure), ``data`` (generator), ``replay`` (producers),
``live`` (streamz consumers), ``detector`` (Spark streaming), ``training`` (Spark ML),
``broker`` (embedded Kafka), ``bench``; ``cli`` is the one command.
"""

__version__ = "0.1.0"

"""One exception root for the product, and the few kinds callers tell apart.

Every message is meant for a person: it names what failed and where (file, line,
column, topic, path), and the CLI prints it as one line instead of a stack trace.
"""

from __future__ import annotations


class StopHackingError(Exception):
    """Root of every error this product raises on purpose."""


class ConfigError(StopHackingError):
    """A setting is missing or inconsistent."""


class MissingToolError(StopHackingError):
    """A required external program (java, mvn) is not installed."""


class DependencyResolutionError(StopHackingError):
    """Maven could not resolve the broker's or the Spark connector's jars."""


class BrokerUnavailable(StopHackingError):
    """No Kafka broker answers at the configured bootstrap servers."""


class BrokerRefused(BrokerUnavailable):
    """Something listens at the bootstrap servers but no Kafka session came about: the
    client's security settings do not match the listener (or it is still starting)."""


class BrokerStartError(StopHackingError):
    """The embedded broker did not start (port taken, crash, timeout)."""


class ParseError(StopHackingError):
    """A telemetry value could not be converted.

    Attributes name the place precisely so the message can be acted upon.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: str | None = None,
        value: object = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        self.column = column
        self.value = value
        where = ", ".join(
            part
            for part in (
                source,
                f"line {line}" if line is not None else None,
                f"column {column}" if column is not None else None,
            )
            if part
        )
        shown = f" (value {value!r})" if value is not None else ""
        super().__init__(f"{where}: {reason}{shown}" if where else f"{reason}{shown}")


class ModelError(StopHackingError):
    """A pipeline model folder is missing, corrupt or incompatible with the schema."""

"""What a producer run reports while it runs and when it ends (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReplayReport:
    """Progress of a producer run, or its summary when ``done``.

    Attributes:
        stream: ``process`` or ``memory``.
        topic: the Kafka topic written.
        run_id: this run's id (part of every record's identity).
        file: the streaming CSV replayed.
        cycles: cycles completed.
        sent: machine → records handed to the Kafka client.
        acked: machine → records the broker acknowledged.
        errors: records that failed (delivery errors, or not acknowledged at exit).
        last_error: the most recent error, for people.
        elapsed_s: seconds since the first cycle.
        done: True for the final summary.
        reason: why the run ended (``cycles``, ``duration``, ``stopped``, ``failed``).
        skipped_rows: bad CSV rows left out (``--skip-bad-rows``).
    """

    stream: str
    topic: str
    run_id: str
    file: str
    cycles: int
    sent: Mapping[int, int]
    acked: Mapping[int, int]
    errors: int = 0
    last_error: str | None = None
    elapsed_s: float = 0.0
    done: bool = False
    reason: str | None = None
    skipped_rows: int = 0

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    @property
    def total_acked(self) -> int:
        return sum(self.acked.values())

    @property
    def records_per_s(self) -> float:
        """Acknowledged records per second of the run so far."""
        return self.total_acked / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (machine ids as strings): one progress line of the CLI."""
        return {
            "event": "summary" if self.done else "progress",
            "stream": self.stream,
            "topic": self.topic,
            "run_id": self.run_id,
            "file": self.file,
            "cycles": self.cycles,
            "sent": {str(m): n for m, n in sorted(self.sent.items())},
            "acked": {str(m): n for m, n in sorted(self.acked.items())},
            "total_sent": self.total_sent,
            "total_acked": self.total_acked,
            "errors": self.errors,
            "last_error": self.last_error,
            "elapsed_s": round(self.elapsed_s, 3),
            "records_per_s": round(self.records_per_s, 1),
            "done": self.done,
            "reason": self.reason,
            "skipped_rows": self.skipped_rows,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReplayReport:
        """Read back a line written by :meth:`to_json` (the workbench's side)."""
        return cls(
            stream=data["stream"],
            topic=data["topic"],
            run_id=data["run_id"],
            file=data["file"],
            cycles=int(data["cycles"]),
            sent={int(m): int(n) for m, n in data["sent"].items()},
            acked={int(m): int(n) for m, n in data["acked"].items()},
            errors=int(data["errors"]),
            last_error=data.get("last_error"),
            elapsed_s=float(data["elapsed_s"]),
            done=bool(data["done"]),
            reason=data.get("reason"),
            skipped_rows=int(data.get("skipped_rows", 0)),
        )

    def summary_lines(self) -> list[str]:
        """A short human summary: totals, then records per machine."""
        per_machine = ", ".join(f"{m}: {n}" for m, n in sorted(self.acked.items()))
        head = (
            f"{self.stream} producer: {self.cycles} cycles, {self.total_acked} of "
            f"{self.total_sent} records acknowledged on {self.topic} in {self.elapsed_s:.1f} s "
            f"({self.records_per_s:.0f} records/s), {self.errors} errors"
        )
        lines = [head, f"records per machine: {per_machine or '(none)'}", f"run id: {self.run_id}"]
        if self.skipped_rows:
            lines.append(f"bad rows skipped: {self.skipped_rows} (not sent)")
        if self.reason:
            lines.append(f"ended by: {self.reason}")
        if self.last_error:
            lines.append(f"last error: {self.last_error}")
        return lines

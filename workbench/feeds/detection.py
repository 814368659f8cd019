"""Detection feed: the streaming detector inside the workbench process, and its results.

:class:`DetectionFeed` owns one :class:`pipelines.detector.job.Detector` (the Spark
driver lives in this process, so the 7a memory sink is queryable here). Starting and
stopping run on the worker pool. While it runs, a refresh cycle, also on the worker
pool, reads back every :data:`REFRESH_PERIOD_S`:

- the 7a counts from the memory sink with Spark SQL
  (:func:`pipelines.detector.readback.window_counts_frame`);
- the newest attack events from the ``alerts.parquet`` output (one row per key and window);
- the per-stream totals from ``Detector.stats``;
- whether a query failed (``Detector.failure()``): the detector is then stopped and the
  feed shows ``failed`` with the failure text; the rest of the workbench goes on;

and every :data:`QUALITY_PERIOD_S`, when the replayed data has ground truth, the
detection quality (:mod:`pipelines.detector.quality`). The next cycle is scheduled only
when the previous one has finished, so cycles never pile up, whatever the number of
browser sessions (none at all in a notebook).

Spark is imported only when the detector starts (through ``pipelines``): the tab and
its unit tests need no JVM.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import param

from pipelines.config import Settings
from pipelines.detector.window_view import WINDOW, RunSpan, classify_windows
from pipelines.schema.columns import STREAMS
from workbench.feeds.worker import submit

if TYPE_CHECKING:
    from pipelines.detector.drain import DrainReport
    from pipelines.detector.job import Detector

log = logging.getLogger(__name__)

STATES: Final = ["stopped", "starting", "running", "stopping", "failed"]
REFRESH_PERIOD_S: Final = 3.0
"""How often the 7a counts, attack events and totals are read back (≤ 5 s)."""
QUALITY_PERIOD_S: Final = 30.0
"""How often detection quality is evaluated (it reads every scored record: slower)."""
ALERT_ROWS: Final = 200
"""Attack events shown, newest first."""
NO_GROUND_TRUTH: Final = "no ground truth"
TOTAL_COLUMNS: Final = ["stream", "batches", "records", "quarantined", "scored", "attacks"]
QUALITY_COLUMNS: Final = ["scope", "tp", "fp", "fn", "precision", "recall", "f1"]


def totals_frame(per_stream: dict[str, Any]) -> pd.DataFrame:
    """Per-stream totals (``Detector.stats.per_stream``) as a table (pure)."""
    rows = [
        {
            "stream": stream,
            "batches": totals.batches,
            "records": totals.records,
            "quarantined": totals.quarantined,
            "scored": totals.scored,
            "attacks": totals.attacks,
        }
        for stream, totals in per_stream.items()
    ]
    return pd.DataFrame(rows, columns=TOTAL_COLUMNS)


def quality_frame(quality: Any) -> pd.DataFrame:
    """A ``DetectionQuality`` as a table: one row per stream plus the attack events (pure)."""
    scopes = [(f"{stream} records", scores) for stream, scores in quality.streams.items()]
    scopes.append(("attack events (7b)", quality.events))
    rows = [
        {
            "scope": scope,
            "tp": int(s.tp),
            "fp": int(s.fp),
            "fn": int(s.fn),
            "precision": round(float(s.precision), 3),
            "recall": round(float(s.recall), 3),
            "f1": round(float(s.f1), 3),
        }
        for scope, s in scopes
    ]
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)


class DetectionFeed(param.Parameterized):
    """Start/stop the detector in this process; its 7a counts, attack events and quality.

    Args:
        settings: the workbench's settings (Kafka, Spark, folders, detector defaults).
        model_paths: returns the (process, memory) model folders to load, read at each
            start (the Models tab's choice).
        data_file: returns the process data file being replayed (None: unknown), read
            at each quality evaluation to find its ground truth.
    """

    state: param.Selector = param.Selector(default="stopped", objects=STATES)
    message = param.String(default="Detector not started.")
    failure = param.String(default="", doc="why the detector failed; empty when it did not")
    busy = param.Boolean(default=False, doc="a start or stop is in progress")
    counts = param.DataFrame(default=None, allow_None=True, doc="7a rows of the memory sink")
    windows = param.DataFrame(
        default=None,
        allow_None=True,
        doc="the 7a rows as a chart draws them: closed, open or cut, zeros within runs "
        "(pipelines.detector.window_view.classify_windows)",
    )
    alerts = param.DataFrame(default=None, allow_None=True, doc="newest attack events")
    totals = param.DataFrame(default=None, allow_None=True, doc="per-stream totals")
    alerts_total = param.Integer(default=0, doc="alerts raised since the detector started")
    quality = param.DataFrame(default=None, allow_None=True, doc="precision/recall/F1")
    quality_note = param.String(default=NO_GROUND_TRUTH)
    refreshed_at = param.String(default="", doc="time of the last read-back (UTC)")
    delay = param.String(default="", doc="how far the detections trail the newest record")
    delay_level: param.Selector = param.Selector(
        default="", objects=["", "ok", "behind", "growing"], doc="'' while not running"
    )
    output_dir = param.String(default="", doc="the detector's parquet outputs")

    def __init__(
        self,
        settings: Settings,
        *,
        model_paths: Callable[[], tuple[Path, Path]] | None = None,
        data_file: Callable[[], Path | None] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.settings = settings
        self.model_paths = model_paths
        self.data_file = data_file or (lambda: None)
        self.detector: Detector | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._generation = 0  # bumped at every start/stop: stale cycles end themselves
        self._last_quality = 0.0
        self._spans: list[RunSpan] = []  # the event times of this process's earlier runs
        self.last_stop: DrainReport | None = None
        """How the last graceful stop went (None before one, or after a failure)."""

    @property
    def running(self) -> bool:
        return self.state == "running"

    # -- control ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the detector on a worker thread (non-blocking; ignored while busy)."""
        if not self.busy and self.state not in ("starting", "running", "stopping"):
            submit(self.start_now)

    def stop(self) -> None:
        """Stop the detector on a worker thread (non-blocking; ignored while busy)."""
        if not self.busy:
            submit(self.stop_now)

    def start_now(self) -> bool:
        """Create and start the detector (blocking: the JVM starts, models load).

        Returns:
            True when every query runs; False when it failed (``failure`` says why) or a
            start or stop was already in progress, or it already runs.
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self.detector is not None:
                return False
            self.param.update(
                busy=True, state="starting", failure="", message="Starting the detector…"
            )
            try:
                detector = self._make_detector()
                detector.start()  # checks everything it can before a query starts
            except Exception as exc:  # Spark, model or Kafka errors: show them, stay up
                self._fail(f"Could not start the detector: {_one_line(exc)}")
                return False
            self.detector = detector
            self._generation += 1
            self.param.update(
                state="running",
                output_dir=str(detector.output_dir),
                message=f"Running: trigger {detector.trigger_s:g} s, outputs in "
                f"{detector.output_dir}",
            )
            self._schedule(self._generation)
            return True
        finally:
            self.busy = False
            self._lock.release()

    def stop_now(self, wait_s: float = 0.0, drain_timeout_s: float | None = None) -> bool:
        """Stop gracefully (blocking): let the queries catch up with what the topics
        hold now, then stop them between two micro-batches; the message says what
        remains for the next start (also in :attr:`last_stop`), and the last read-back
        stays on show.

        Args:
            wait_s: how long to wait for a start or stop in progress to finish first
                (0: do not wait).
            drain_timeout_s: the longest drain, seconds (default
                ``settings.detector.drain_timeout_s``).

        Returns:
            True when stopped (or nothing ran); False when a start or stop was still
            running after ``wait_s``.
        """
        acquired = self._lock.acquire(timeout=wait_s) if wait_s > 0 else self._lock.acquire(False)
        if not acquired:
            return False
        try:
            self._generation += 1
            self._cancel_timer()
            self.last_stop = None
            detector, self.detector = self.detector, None
            if detector is None:
                return True
            timeout_s = (
                self.settings.detector.drain_timeout_s
                if drain_timeout_s is None
                else drain_timeout_s
            )
            self.param.update(
                busy=True,
                state="stopping",
                message=f"Stopping the detector: scoring what was sent (up to {timeout_s:g} s)…",
            )
            # One last read-back once drained, so the tab shows what the detector ended with.
            report = detector.stop_gracefully(
                timeout_s, before_stop=lambda: self._read_back(detector)
            )
            self.last_stop = report
            self._spans += detector.stats.spans(ended=True)
            if self.state != "failed":
                self.param.update(
                    state="stopped", message=report.sentence("Detector"), delay="", delay_level=""
                )
            return True
        finally:
            self.busy = False
            self._lock.release()

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Stop the detector, its Spark session and Spark's JVM (server unload).

        Waits up to ``timeout_s`` for a start in progress, so the JVM it launches is
        ended too and does not outlive ``panel serve``. No Spark session can be made in
        this process afterwards.
        """
        self._generation += 1
        self._cancel_timer()
        if not self._lock.acquire(timeout=timeout_s):
            log.warning("the detector was still starting after %.0f s", timeout_s)
            return
        try:
            detector, self.detector = self.detector, None
            if detector is None:
                return
            from pipelines.spark.jvm import stop_session_and_jvm

            try:
                detector.stop()
            except Exception as exc:  # the JVM may be gone already (SIGTERM to the group)
                log.warning("stopping the detector at shutdown: %s", _one_line(exc))
            try:
                # Spark's gateway JVM would otherwise outlive this process by seconds.
                stop_session_and_jvm(detector.spark)
            except Exception as exc:
                log.warning("ending the Spark JVM at shutdown: %s", _one_line(exc))
            self.param.update(state="stopped", message="Detector stopped.")
        finally:
            self._lock.release()

    # -- the refresh cycle -----------------------------------------------------------
    def _schedule(self, generation: int) -> None:
        def fire() -> None:
            submit(self._cycle, generation)

        timer = threading.Timer(REFRESH_PERIOD_S, fire)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _cycle(self, generation: int) -> None:
        detector = self.detector
        if detector is None or generation != self._generation:
            return
        try:
            self.refresh_now(detector)
        finally:
            # Scheduled only now: a slow read-back delays the next one, never stacks.
            if generation == self._generation and self.state == "running":
                self._schedule(generation)

    def refresh_now(self, detector: Detector | None = None) -> None:
        """One read-back: failure check, 7a counts, attack events, totals, maybe quality."""
        detector = detector or self.detector
        if detector is None:
            return
        failure = detector.failure()
        if failure is not None:
            self._on_failure(detector, failure)
            return
        try:
            self._read_back(detector)
        except Exception as exc:  # a failed read is shown; the next cycle tries again
            # No traceback while the detector (or its JVM, on SIGTERM) is going down.
            quiet = detector.stopping or "SparkContext" in _one_line(exc)
            log.warning("reading the detector's results back failed", exc_info=not quiet)
            self.message = f"Running; the last read-back failed: {_one_line(exc)}"
            return
        if time.monotonic() - self._last_quality >= QUALITY_PERIOD_S:
            self._last_quality = time.monotonic()
            self.evaluate_quality_now(detector)

    def _read_back(self, detector: Detector) -> None:
        from pipelines.detector.readback import latest_alerts, window_counts_frame

        counts = window_counts_frame(detector.spark, detector.counts_table)
        alerts = latest_alerts(detector.spark, detector.output_dir, ALERT_ROWS)
        # Plain integers updated by Spark's callback thread: a slightly stale read is fine.
        stats = detector.stats
        totals = totals_frame({s: stats.per_stream[s] for s in STREAMS})
        alerts_total = stats.alerts
        windows = classify_windows(
            counts, watermark=stats.watermark(), spans=[*self._spans, *stats.spans()]
        )
        # Only what changed: every changed frame redraws its chart or table in each page.
        frames = (("counts", counts), ("windows", windows), ("alerts", alerts), ("totals", totals))
        updates: dict[str, Any] = {
            name: frame for name, frame in frames if not _same(getattr(self, name), frame)
        }
        if alerts_total != self.alerts_total:
            updates["alerts_total"] = alerts_total
        if not detector.stopping:
            delay = stats.delay(detector.trigger_s)
            updates.update(delay=delay.text(), delay_level=delay.level)
        updates["refreshed_at"] = datetime.now(UTC).strftime("%H:%M:%S UTC")
        self.param.update(**updates)

    def evaluate_quality_now(self, detector: Detector | None = None) -> None:
        """Evaluate detection quality against the replayed data's ground truth, if any."""
        detector = detector or self.detector
        if detector is None:
            return
        try:
            from pipelines.detector.quality import (
                evaluate_detection,
                ground_truth_for,
            )
        except ImportError:
            self.param.update(quality=None, quality_note="quality evaluation not available")
            return
        data_file = self.data_file()
        truth = ground_truth_for(data_file) if data_file is not None else None
        if truth is None:
            self.param.update(quality=None, quality_note=NO_GROUND_TRUTH)
            return
        try:
            quality = evaluate_detection(detector.spark, detector.output_dir, truth)
        except Exception as exc:  # nothing scored yet, or unreadable: say so
            self.param.update(quality_note=f"quality not evaluated yet: {_one_line(exc)}")
            return
        self.param.update(
            quality=quality_frame(quality),
            quality_note=f"against the ground truth in {truth}",
        )

    def pairs_for(
        self, machine: int, cmd: str, pid: int, window_start: pd.Timestamp
    ) -> pd.DataFrame:
        """The process/memory pairs behind one alert (blocking: run it on a worker).

        Reads the detector's pairs output with pyarrow (no Spark job); empty when the
        detector has written none (or never ran in this workbench).
        """
        from pipelines.detector.readback import PAIR_DETAIL_COLUMNS, alert_pairs

        if not self.output_dir:
            return pd.DataFrame(columns=list(PAIR_DETAIL_COLUMNS))
        return alert_pairs(
            Path(self.output_dir),
            machine=machine,
            cmd=cmd,
            pid=pid,
            window_start=window_start,
            window_end=window_start + WINDOW,
        )

    # -- failures --------------------------------------------------------------------
    def _on_failure(self, detector: Detector, failure: str) -> None:
        self._generation += 1
        with self._lock:
            if self.detector is detector:
                self.detector = None
        try:
            detector.stop()
        except Exception:
            log.warning("stopping the failed detector failed", exc_info=True)
        self._fail(f"The detector failed: {failure}")

    def _fail(self, text: str) -> None:
        self.param.update(
            state="failed", failure=text, message="Detector failed.", delay="", delay_level=""
        )

    def _make_detector(self) -> Detector:
        from pipelines.detector.job import Detector

        kwargs: dict[str, Any] = {}
        if self.model_paths is not None:
            process_model, memory_model = self.model_paths()
            kwargs.update(process_model=process_model, memory_model=memory_model)
        # Trigger, offsets, folders and table name come from settings.detector.
        return Detector(self.settings, **kwargs)


def _same(before: pd.DataFrame | None, after: pd.DataFrame) -> bool:
    return before is not None and before.shape == after.shape and before.equals(after)


def _one_line(exc: BaseException) -> str:
    try:
        lines = str(exc).strip().splitlines()
    except Exception:  # py4j cannot describe an error once the JVM is gone
        lines = []
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")

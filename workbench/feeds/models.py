"""Models feed: train and evaluate, describe model folders, choose what the detector loads.

Training runs in this process (the workbench hosts the Spark driver anyway) on a worker
thread, never on the Bokeh event loop; its progress lines become parameter updates. The
detector tab reads :attr:`ModelsFeed.process_model_path` and
:attr:`ModelsFeed.memory_model_path`: the project's own folders by default, or any
compatible pipeline model folder (the provided Spark 3.0 models, for example).

Spark is imported only inside :meth:`ModelsFeed.train_now` (through ``pipelines``):
describing folders and reading cards needs no JVM.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import param

from pipelines.config import Settings
from pipelines.errors import StopHackingError
from pipelines.schema.columns import STREAMS, Stream
from pipelines.training.card import (
    ModelFolderInfo,
    default_model_path,
    describe_model_folder,
    missing_models,
)
from workbench.feeds.worker import submit

FAMILY_CHOICES = ["gbt", "random_forest", "logistic_regression"]
"""Model families the tab offers (pipelines.training.pipeline.FAMILIES, without pyspark)."""
DEFAULT_FAMILY_CHOICE = ["gbt", "random_forest"]
LOG_LINES = 40


def split_paths(text: str) -> list[Path]:
    """``"a.csv, b.csv"`` or one path per line → paths (empty text → no paths)."""
    parts = [p.strip() for chunk in text.splitlines() for p in chunk.split(",")]
    return [Path(p).expanduser() for p in parts if p]


class ModelsFeed(param.Parameterized):
    """Training controls and progress, model folder descriptions, the detector's choice."""

    process_model_path = param.String(default="", doc="model folder the detector loads")
    memory_model_path = param.String(default="", doc="model folder the detector loads")
    process_info = param.ClassSelector(class_=ModelFolderInfo, allow_None=True, default=None)
    memory_info = param.ClassSelector(class_=ModelFolderInfo, allow_None=True, default=None)

    process_files = param.String(default="", doc="labelled process CSVs; empty: demo data")
    memory_files = param.String(default="", doc="labelled memory CSVs; empty: demo data")
    seed = param.Integer(default=42, doc="split and learner seed")
    families = param.ListSelector(default=DEFAULT_FAMILY_CHOICE, objects=FAMILY_CHOICES)

    training = param.Boolean(default=False)
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="fraction done")
    message = param.String(default="Idle.")
    log_lines = param.List(default=[], doc="recent progress lines")
    error = param.String(default="", doc="last training error, empty when fine")
    revision = param.Integer(default=0, doc="bumped whenever model folders change")

    def __init__(self, settings: Settings, **params: Any) -> None:
        super().__init__(
            process_model_path=str(default_model_path(settings.models_dir, "process")),
            memory_model_path=str(default_model_path(settings.models_dir, "memory")),
            **params,
        )
        self.settings = settings
        self._lock = threading.Lock()
        self._log: deque[str] = deque(maxlen=LOG_LINES)
        self._started = 0.0
        self.refresh()

    # -- the detector's choice -------------------------------------------------------
    def model_path(self, stream: Stream) -> Path:
        """The folder the detector should load for ``stream``."""
        return Path(getattr(self, f"{stream}_model_path")).expanduser()

    def default_path(self, stream: Stream) -> Path:
        """The project's own model folder for ``stream`` (where training writes)."""
        return default_model_path(self.settings.models_dir, stream)

    def use_default(self, stream: Stream) -> None:
        """Point the detector at the project's own model for ``stream``."""
        setattr(self, f"{stream}_model_path", str(self.default_path(stream)))

    def info(self, stream: Stream) -> ModelFolderInfo | None:
        """The description of the chosen folder of ``stream``."""
        value = getattr(self, f"{stream}_info")
        return value if isinstance(value, ModelFolderInfo) else None

    @param.depends("process_model_path", "memory_model_path", watch=True)
    def refresh(self) -> None:
        """Describe the chosen folders again (cheap: reads small JSON files)."""
        self.param.update(
            process_info=describe_model_folder(self.model_path("process")),
            memory_info=describe_model_folder(self.model_path("memory")),
        )

    def problems(self) -> dict[Stream, str]:
        """Per stream, why the chosen folder cannot be loaded (empty when all are fine)."""
        found: dict[Stream, str] = {}
        for stream in STREAMS:
            info = self.info(stream)
            if info is None or not info.is_pipeline_model:
                found[stream] = (info.problem if info else None) or "not described yet"
        return found

    # -- training ----------------------------------------------------------------------
    def train(self) -> None:
        """Train and evaluate on a worker thread (non-blocking; no-op while training)."""
        submit(self.train_now)

    def ensure(self) -> None:
        """Train the default models on the demo data if missing, on a worker thread."""
        submit(self.ensure_now)

    def _on_progress(self, message: str, fraction: float) -> None:
        line = f"[{time.perf_counter() - self._started:6.1f} s] {message}"
        self._log.append(line)
        self.param.update(
            progress=min(max(fraction, 0.0), 1.0), message=message, log_lines=list(self._log)
        )

    def _begin(self, message: str) -> bool:
        with self._lock:
            if self.training:
                return False
            self._log.clear()
            self._started = time.perf_counter()
            self.param.update(training=True, progress=0.0, message=message, log_lines=[], error="")
            return True

    def _end(self, message: str, error: str = "") -> None:
        self.param.update(
            training=False,
            message=message,
            error=error,
            revision=self.revision + 1,
        )
        self.refresh()

    def train_now(self) -> bool:
        """Train and evaluate both streams now (blocking), then describe the new models.

        Files come from ``process_files`` / ``memory_files`` (comma- or line-separated);
        with both empty, the generated demo data is used. Models are written to
        ``settings.models_dir`` (the project's own folders).

        Returns:
            True when training ran and succeeded; False when it failed (``error`` says
            why) or another training was already running.
        """
        if not self._begin("Starting training…"):
            return False
        try:
            from pipelines.training.trainer import train_models

            files: dict[Stream, list[Path]] = {}
            for stream in STREAMS:
                paths = split_paths(getattr(self, f"{stream}_files"))
                if paths:
                    files[stream] = paths
            if not files:
                from pipelines.data.demo_set import demo_training_files

                self._on_progress("preparing the generated demo data", 0.0)
                files = demo_training_files(self.settings)
            run = train_models(
                self.settings,
                files,
                seed=self.seed,
                families=list(self.families) or DEFAULT_FAMILY_CHOICE,
                progress=self._on_progress,
            )
        except StopHackingError as exc:
            self._end("Training failed.", error=str(exc))
            return False
        except Exception as exc:  # Spark errors: show them, keep the workbench alive
            self._end("Training failed.", error=f"{type(exc).__name__}: {exc}")
            return False
        aucs = ", ".join(f"{s} AUC {c.test_metrics.auc_roc:.3f}" for s, c in run.cards.items())
        self._end(f"Trained in {run.seconds:.0f} s: {aucs}.")
        return True

    def ensure_now(self) -> bool:
        """Train the project's default models on the demo data when they are missing.

        Returns:
            True when the default models exist afterwards.
        """
        if not missing_models(self.settings.models_dir):
            return True
        if not self._begin("No trained models yet: training on the generated demo data…"):
            return False
        try:
            from pipelines.training.trainer import ensure_models

            ensure_models(self.settings, progress=self._on_progress, seed=self.seed)
        except Exception as exc:  # Spark errors: show them, keep the workbench alive
            self._end("Training failed.", error=f"{type(exc).__name__}: {exc}")
            return False
        self._end("Default models trained on the generated demo data.")
        return True

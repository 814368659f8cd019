"""Model cards: what a trained model is, what it was trained on and how well it does.

Pure module (no Spark): the workbench reads cards and describes model folders with it.
A card lives inside its model folder, beside Spark's ``metadata/`` and ``stages/``
(Spark's loader ignores other files), so copying a folder keeps its card:

```
models/process_pipeline_model/
    metadata/  stages/          the Spark ML PipelineModel
    model_card.json             this module's ModelCard
    model_card.md               the same, for people
    roc.png  pr.png             held-out ROC and precision–recall curves
```
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from pipelines.schema.columns import STREAMS, Stream

CARD_JSON: Final = "model_card.json"
CARD_MARKDOWN: Final = "model_card.md"
ROC_PNG: Final = "roc.png"
PR_PNG: Final = "pr.png"
MODEL_FOLDER_NAMES: Final[dict[Stream, str]] = {
    "process": "process_pipeline_model",
    "memory": "memory_pipeline_model",
}
"""Folder names under ``models_dir`` (the same names as the provided models)."""
HASH_CHUNK_BYTES: Final = 1 << 20


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputFile(_Frozen):
    """One training file and its content hash."""

    path: str
    bytes: int
    sha256: str


class TrainingData(_Frozen):
    """What the model was trained on, and how the rows were split."""

    files: list[InputFile]
    sha256: str = Field(description="hash over the files' hashes, in the given order")
    rows_read: int
    rows_parse_errors: int = Field(description="rows the schema cleaning rejected")
    rows_missing_features: int = Field(description="rows with a missing feature value")
    rows_used: int
    attack_rows: int
    split_method: str
    train_rows: int
    validation_rows: int
    test_rows: int


class Features(_Frozen):
    """The model's input columns by treatment."""

    numeric: list[str]
    categorical: list[str]
    text: str
    text_encoding: str
    excluded: list[str]


class FamilyResult(_Frozen):
    """One model family's showing in the comparison."""

    family: str
    validation_auc: float
    fit_seconds: float


class ConfusionMatrix(_Frozen):
    """Counts at the model's decision threshold (attack = positive)."""

    true_negatives: int
    false_positives: int
    false_negatives: int
    true_positives: int


class TypeRecall(_Frozen):
    """Recall on the held-out attack rows of one attack type."""

    rows: int
    detected: int
    recall: float | None


class Metrics(_Frozen):
    """Held-out (test split) quality of the chosen model."""

    rows: int
    auc_roc: float
    auc_pr: float
    accuracy: float
    precision: float | None
    recall: float | None
    f1: float | None
    confusion_matrix: ConfusionMatrix
    recall_by_type: dict[str, TypeRecall]


class ModelCard(_Frozen):
    """Everything the Models tab, the detector's alerts and a reviewer need to know."""

    stream: Stream
    model_version: str
    created_at: str = Field(description="UTC, ISO 8601")
    spark_version: str
    family: str
    seed: int
    selection: str
    comparison: list[FamilyResult]
    features: Features
    input_columns: list[str]
    training_data: TrainingData
    test_metrics: Metrics
    training_seconds: float
    roc_png: str = ROC_PNG
    pr_png: str = PR_PNG


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def describe_files(paths: Iterable[Path]) -> tuple[list[InputFile], str]:
    """Each file with its size and hash, and one hash over all of them (order matters)."""
    files = [InputFile(path=str(p), bytes=p.stat().st_size, sha256=file_sha256(p)) for p in paths]
    combined = hashlib.sha256("\n".join(f.sha256 for f in files).encode()).hexdigest()
    return files, combined


def write_card(folder: Path, card: ModelCard) -> None:
    """Write ``model_card.json`` and ``model_card.md`` into ``folder``."""
    (folder / CARD_JSON).write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (folder / CARD_MARKDOWN).write_text(card_markdown(card), encoding="utf-8")


def read_card(folder: Path) -> ModelCard | None:
    """The card in a model folder, or None when it has none (foreign models).

    Raises:
        ValueError: the card exists but is not a valid model card (message names the file).
    """
    path = folder / CARD_JSON
    if not path.is_file():
        return None
    try:
        return ModelCard.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not a valid model card: {exc}") from exc


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def card_markdown(card: ModelCard, *, with_images: bool = True) -> str:
    """The card as Markdown, for people (the model folder, and the Models tab without images).

    Args:
        card: the card.
        with_images: end with links to the ROC and PR pictures beside the card file.
    """
    m = card.test_metrics
    cm = m.confusion_matrix
    data = card.training_data
    lines = [
        f"# {card.stream.capitalize()} model `{card.model_version}`",
        "",
        f"- Family: **{card.family}** (chosen by {card.selection}), seed {card.seed}",
        f"- Trained {card.created_at} with Spark {card.spark_version} "
        f"in {card.training_seconds:.1f} s",
        f"- Input columns: {', '.join(f'`{c}`' for c in card.input_columns)}",
        f"- CMD encoding: {card.features.text_encoding}",
        f"- Never used: {', '.join(f'`{c}`' for c in card.features.excluded)}",
        "",
        "## Held-out test split",
        "",
        "| AUC (ROC) | AUC (PR) | accuracy | precision | recall | F1 | rows |",
        "|---|---|---|---|---|---|---|",
        f"| {_fmt(m.auc_roc)} | {_fmt(m.auc_pr)} | {_fmt(m.accuracy)} | {_fmt(m.precision)} "
        f"| {_fmt(m.recall)} | {_fmt(m.f1)} | {m.rows} |",
        "",
        "Confusion matrix (rows: actual, columns: predicted):",
        "",
        "| | normal | attack |",
        "|---|---|---|",
        f"| **normal** | {cm.true_negatives} | {cm.false_positives} |",
        f"| **attack** | {cm.false_negatives} | {cm.true_positives} |",
        "",
        "Recall per attack type:",
        "",
        "| type | rows | detected | recall |",
        "|---|---|---|---|",
        *[
            f"| {kind} | {r.rows} | {r.detected} | {_fmt(r.recall)} |"
            for kind, r in m.recall_by_type.items()
        ],
        "",
        "## Model families compared (validation split)",
        "",
        "| family | AUC (ROC) | fit (s) |",
        "|---|---|---|",
        *[
            f"| {r.family}{' (chosen)' if r.family == card.family else ''} "
            f"| {_fmt(r.validation_auc)} | {r.fit_seconds:.1f} |"
            for r in card.comparison
        ],
        "",
        "## Training data",
        "",
        f"- {data.rows_read} rows read, {data.rows_parse_errors} rejected by the schema, "
        f"{data.rows_missing_features} with a missing feature, {data.rows_used} used "
        f"({data.attack_rows} attacks)",
        f"- Split: {data.split_method}: train {data.train_rows}, validation "
        f"{data.validation_rows}, test {data.test_rows}",
        f"- Files (SHA-256 over all: `{data.sha256[:16]}…`):",
        *[f"  - `{f.path}` ({f.bytes} bytes, `{f.sha256[:16]}…`)" for f in data.files],
        "",
    ]
    if with_images:
        lines += [f"![ROC curve]({card.roc_png}) ![Precision-recall curve]({card.pr_png})", ""]
    return "\n".join(lines)


class ModelFolderInfo(_Frozen):
    """What a model folder holds, read from its files alone (no Spark needed)."""

    path: str
    exists: bool
    is_pipeline_model: bool
    spark_version: str | None = None
    uid: str | None = None
    stages: list[str] = Field(default_factory=list)
    card: ModelCard | None = None
    problem: str | None = None

    @property
    def version(self) -> str | None:
        """The card's model version, else the pipeline's uid (foreign models)."""
        if self.card is not None:
            return self.card.model_version
        return self.uid


def _first_json_line(metadata_folder: Path) -> dict[str, object]:
    parts = sorted(metadata_folder.glob("part-*"))
    if not parts:
        raise ValueError(f"{metadata_folder} has no part file")
    first = parts[0].read_text(encoding="utf-8").splitlines()[0]
    value = json.loads(first)
    if not isinstance(value, dict):
        raise ValueError(f"{parts[0]} does not hold a JSON object")
    return value


def describe_model_folder(path: Path) -> ModelFolderInfo:
    """Describe a Spark ML pipeline model folder without loading it.

    Reads ``metadata/part-*`` (class, Spark version, uid), the stage folder names and the
    model card when present. Never raises: problems land in ``problem``.
    """
    folder = Path(path)
    if not folder.is_dir():
        return ModelFolderInfo(
            path=str(folder), exists=False, is_pipeline_model=False, problem="no such folder"
        )
    try:
        metadata = _first_json_line(folder / "metadata")
    except (OSError, ValueError, IndexError) as exc:
        return ModelFolderInfo(
            path=str(folder),
            exists=True,
            is_pipeline_model=False,
            problem=f"no readable Spark ML metadata: {exc}",
        )
    kind = str(metadata.get("class", ""))
    stages_folder = folder / "stages"
    stages = (
        sorted(
            (p.name for p in stages_folder.iterdir() if p.is_dir()),
            key=lambda name: int(name.split("_", 1)[0]) if name.split("_", 1)[0].isdigit() else 0,
        )
        if stages_folder.is_dir()
        else []
    )
    problem = None
    card = None
    try:
        card = read_card(folder)
    except ValueError as exc:
        problem = str(exc)
    is_pipeline = kind.endswith("PipelineModel") and stages_folder.is_dir()
    if not is_pipeline and problem is None:
        problem = f"holds a {kind or 'unknown class'}, not a PipelineModel with stages/"
    return ModelFolderInfo(
        path=str(folder),
        exists=True,
        is_pipeline_model=is_pipeline,
        spark_version=str(metadata.get("sparkVersion")) if "sparkVersion" in metadata else None,
        uid=str(metadata.get("uid")) if "uid" in metadata else None,
        stages=stages,
        card=card,
        problem=problem,
    )


def default_model_path(models_dir: Path, stream: Stream) -> Path:
    """Where ``stophacking train`` writes (and the detector loads) ``stream``'s model."""
    return models_dir / MODEL_FOLDER_NAMES[stream]


def missing_models(models_dir: Path) -> list[Stream]:
    """The streams whose default model folder under ``models_dir`` is absent or unusable."""
    return [
        stream
        for stream in STREAMS
        if not describe_model_folder(default_model_path(models_dir, stream)).is_pipeline_model
    ]

"""Models tab: train and evaluate, model cards with ROC/PR curves, the detector's models.

Every piece is a Panel object bound to a :class:`~workbench.feeds.models.ModelsFeed`, so
a notebook can display the whole tab (:func:`models_tab`) or one stream's card and
curves (:func:`model_card_view`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import panel as pn

from pipelines.schema.columns import STREAMS, Stream
from pipelines.training.card import ModelFolderInfo, card_markdown
from workbench.feeds.models import ModelsFeed

CURVE_WIDTH_PX = 420


def folder_summary(info: ModelFolderInfo | None) -> str:
    """Markdown: what the chosen folder holds, or why the detector cannot load it."""
    if info is None:
        return "_Not described yet._"
    if not info.is_pipeline_model:
        return f"**Cannot load** `{info.path}`: {info.problem}. The detector cannot use it."
    card = info.card
    origin = (
        f"trained here: **{card.family}**, test AUC **{card.test_metrics.auc_roc:.3f}**"
        if card
        else "foreign model (no model card)"
    )
    stages = ", ".join(name.split("_", 1)[1].rsplit("_", 1)[0] for name in info.stages)
    return (
        f"**Loadable** `{info.path}`\n\n"
        f"Version `{info.version}` · Spark {info.spark_version} · {origin}\n\n"
        f"Stages: {stages}"
    )


def _picture(path: Path) -> pn.viewable.Viewable:
    # Bytes, not a path: the pane would otherwise cache the old picture after retraining.
    if not path.is_file():
        return pn.pane.Markdown(f"_No picture at `{path}`._")
    return pn.pane.PNG(path.read_bytes(), width=CURVE_WIDTH_PX)


def model_card_view(feed: ModelsFeed, stream: Stream) -> pn.viewable.Viewable:
    """One stream's chosen model: its card (metrics, comparison, data) and its curves."""

    def view(info: ModelFolderInfo | None, revision: int) -> pn.viewable.Viewable:
        del revision  # a dependency only: redraw after training
        if info is None or not info.is_pipeline_model:
            return pn.pane.Markdown(folder_summary(info))
        if info.card is None:
            return pn.pane.Markdown(
                folder_summary(info)
                + "\n\n_This folder has no model card: no held-out metrics or curves to show._"
            )
        folder = Path(info.path)
        return pn.Column(
            pn.Row(_picture(folder / info.card.roc_png), _picture(folder / info.card.pr_png)),
            pn.pane.Markdown(card_markdown(info.card, with_images=False)),
        )

    return pn.Column(
        pn.bind(view, feed.param[f"{stream}_info"], feed.param.revision),
        sizing_mode="stretch_width",
    )


def _percent(fraction: float) -> int:
    return round(fraction * 100)


def training_controls(feed: ModelsFeed) -> pn.viewable.Viewable:
    """Files, seed, families, the Train button, progress and the progress log."""
    process_files = pn.widgets.TextInput.from_param(
        feed.param.process_files,
        label="Labelled process CSV(s), comma-separated (empty: generated demo data)",
        sizing_mode="stretch_width",
    )
    memory_files = pn.widgets.TextInput.from_param(
        feed.param.memory_files,
        label="Labelled memory CSV(s), comma-separated (empty: generated demo data)",
        sizing_mode="stretch_width",
    )
    seed = pn.widgets.IntInput.from_param(feed.param.seed, label="Seed", width=120)
    families = pn.widgets.CheckButtonGroup.from_param(
        feed.param.families, label="Model families to compare"
    )
    train = pn.widgets.Button(label="Train and evaluate", color="primary", width=180)
    train.on_click(lambda _event: feed.train())
    train.disabled = feed.param.training
    for widget in (process_files, memory_files, seed, families):
        widget.disabled = feed.param.training
    progress = pn.indicators.Progress(
        value=pn.bind(_percent, feed.param.progress),
        max=100,
        sizing_mode="stretch_width",
        height=18,
    )

    def status(message: str, error: str, training: bool) -> pn.viewable.Viewable:
        if error:
            return pn.pane.Alert(f"{message} {error}", alert_type="danger")
        kind = "info" if training else "light"
        return pn.pane.Alert(message, alert_type=kind)

    def log(lines: list[str]) -> str:
        if not lines:
            return "_No training run yet in this workbench._"
        return "```\n" + "\n".join(lines[-12:]) + "\n```"

    return pn.Column(
        pn.pane.Markdown("### Train and evaluate"),
        process_files,
        memory_files,
        pn.Row(seed, families),
        pn.Row(train, pn.indicators.LoadingSpinner(value=feed.param.training, size=28)),
        progress,
        pn.bind(status, feed.param.message, feed.param.error, feed.param.training),
        pn.pane.Markdown(pn.bind(log, feed.param.log_lines)),
        sizing_mode="stretch_width",
    )


def _use_default_handler(feed: ModelsFeed, stream: Stream) -> Callable[[object], None]:
    def handler(_event: object) -> None:
        feed.use_default(stream)

    return handler


def model_choice(feed: ModelsFeed) -> pn.viewable.Viewable:
    """Which model folder the detector loads per stream: the project's own or any path."""
    rows: list[pn.viewable.Viewable] = [pn.pane.Markdown("### Models the detector loads")]
    for stream in STREAMS:
        path = pn.widgets.TextInput.from_param(
            feed.param[f"{stream}_model_path"],
            label=f"{stream.capitalize()} model folder",
            sizing_mode="stretch_width",
        )
        use_own = pn.widgets.Button(label="Project's model", width=140)
        use_own.on_click(_use_default_handler(feed, stream))
        rows += [
            pn.Row(path, use_own, sizing_mode="stretch_width"),
            pn.pane.Markdown(pn.bind(folder_summary, feed.param[f"{stream}_info"])),
        ]
    rows.append(
        pn.pane.Markdown(
            "_Any Spark ML PipelineModel over the schema's columns works, such as the "
            "provided Spark 3.0 models; rows it cannot score are quarantined before scoring._"
        )
    )
    return pn.Column(*rows, sizing_mode="stretch_width")


def models_tab(feed: ModelsFeed) -> pn.viewable.Viewable:
    """The Models tab's content, bound to ``feed`` (displayable in Jupyter too)."""
    cards = pn.Tabs(
        *[(f"{s.capitalize()} model", model_card_view(feed, s)) for s in STREAMS],
        dynamic=False,
    )
    return pn.Column(
        pn.Row(training_controls(feed), model_choice(feed), sizing_mode="stretch_width"),
        cards,
        name="Models",
        sizing_mode="stretch_width",
    )

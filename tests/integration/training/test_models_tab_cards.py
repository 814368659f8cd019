"""The Models tab shows a trained model's card and its curves."""

from __future__ import annotations

import panel as pn
from bokeh.document import Document
from pyviz_comms import Comm

from pipelines.config import Settings, replace
from workbench.feeds.models import ModelsFeed
from workbench.tabs.models import model_card_view, models_tab


def test_card_view_shows_metrics_and_both_curves(trained, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    feed = ModelsFeed(replace(settings, {"models_dir": str(trained.out_dir)}))
    assert feed.problems() == {}
    info = feed.info("memory")
    assert info is not None and info.card is not None
    view = model_card_view(feed, "memory")
    view.get_root(Document(), Comm())
    pictures = [p for p in view.select(pn.pane.PNG)]
    assert len(pictures) == 2
    assert all(isinstance(p.object, bytes) and p.object[:4] == b"\x89PNG" for p in pictures)
    text = "\n".join(str(m.object) for m in view.select(pn.pane.Markdown))
    assert f"| {info.card.test_metrics.auc_roc:.3f} |" in text
    assert "![ROC curve]" not in text  # pictures are panes, not broken relative links
    models_tab(feed).get_root(Document(), Comm())

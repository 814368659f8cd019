"""Keep every stylesheet of the served workbench on our own server (no CDN, ever).

Panel 1.9 serves its CSS from ``/static/extensions/panel/`` and rewrites the CDN
addresses of its components' stylesheets to that path, using the session document's
``dist_url``. A component updated while its model is not attached to a document (the
content of a tab that is not open: ``pn.Tabs(dynamic=True)`` detaches it) is rewritten
with no document at hand, and Panel then falls back to the CDN: the page fetched
``cdn.holoviz.org/…/markdown.css`` and ``loading.css`` hundreds of times in minutes,
which fails air-gapped and contacts a third party elsewhere.

:func:`serve_panel_css_locally` makes that fallback the server's own path instead. It is
installed once per server process, by ``app_hooks.on_server_loaded``; the browser test
``test_the_page_fetched_nothing_from_outside_the_machine_during_the_run`` fails on any
request that leaves 127.0.0.1 during a whole pipeline run.
"""

from __future__ import annotations

from typing import Any

_installed = False


def serve_panel_css_locally() -> None:
    """Point Panel's CDN fallback for component stylesheets at the local static path.

    Idempotent. Affects this process only (a ``panel serve`` server); notebooks keep
    Panel's own choice.
    """
    global _installed
    if _installed:
        return
    import panel.reactive
    from panel.io import resources

    original = resources.patch_stylesheet

    def patch_stylesheet(stylesheet: Any, dist_url: str) -> None:
        if dist_url == resources.CDN_DIST:
            dist_url = resources.get_dist_path(cdn=False)
        original(stylesheet, dist_url)

    # panel.reactive imported the function by name; panel.theme imports it at each call.
    resources.patch_stylesheet = patch_stylesheet
    panel.reactive.patch_stylesheet = patch_stylesheet
    _installed = True

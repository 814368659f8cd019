"""The workbench template: sidebar (status, controls) and tabs.

Importable for Jupyter: ``from workbench.app import build_tabs`` gives every tab's
content as Panel objects (``broker_banner`` the banner shown while Kafka is away);
``build_app`` gives the whole desktop-style template.
"""

from __future__ import annotations

import panel as pn

from workbench.feeds import WorkbenchState
from workbench.tabs.broker import broker_tab
from workbench.tabs.detection import detection_tab
from workbench.tabs.health import health_tab
from workbench.tabs.live import live_tab
from workbench.tabs.models import models_tab
from workbench.tabs.producers import producers_tab
from workbench.tabs.status import broker_banner, sidebar

TITLE = "StopHacking workbench"


def build_tabs(state: WorkbenchState) -> dict[str, pn.viewable.Viewable]:
    """Each tab's content by name, bound to the shared ``state``.

    Building the Process and Memory tabs starts their live pipelines, and the Health tab
    its health-topic reader (once per process). The tabs follow SPEC §7's order.
    """
    return {
        "Broker": broker_tab(state.broker),
        "Producers": producers_tab(state.producers),
        "Process": live_tab(state.live.process),
        "Memory": live_tab(state.live.memory),
        "Detection": detection_tab(state.detection),
        "Models": models_tab(state.models),
        "Health": health_tab(state.health, detection=state.detection),
    }


def build_app(state: WorkbenchState) -> pn.template.BootstrapTemplate:
    """The full application for one browser session."""
    # dynamic: the browser renders only the open tab. With every tab rendered, six live
    # charts redrawing at once kept Chromium's renderer busy enough on a loaded 2-core
    # machine that a fresh-clone run's page stopped answering.
    tabs = pn.Tabs(*[(name, view) for name, view in build_tabs(state).items()], dynamic=True)
    # Bootstrap rather than Fast: the Fast design always asks Google Fonts for a web font,
    # and the workbench must render behind a firewall with no request leaving the machine.
    return pn.template.BootstrapTemplate(
        title=TITLE,
        sidebar=[sidebar(state)],
        # Above the tabs, so that every tab sees it.
        main=[pn.Column(broker_banner(state.broker), tabs, sizing_mode="stretch_width")],
        header_background="#7f1d1d",
        sidebar_width=320,
    )

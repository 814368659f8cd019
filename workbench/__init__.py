"""The StopHacking Panel/HoloViews workbench (``panel serve workbench``, or Jupyter).

``from workbench import build_tabs, shared_state`` gives each tab as a Panel object;
``broker_banner`` and ``sidebar`` give the banner and the sidebar.
"""

from workbench.app import build_app, build_tabs
from workbench.feeds import WorkbenchState, shared_state
from workbench.tabs.status import broker_banner, sidebar

__all__ = ["WorkbenchState", "broker_banner", "build_app", "build_tabs", "shared_state", "sidebar"]

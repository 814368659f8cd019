"""The StopHacking Panel/HoloViews workbench (``panel serve workbench``, or Jupyter).

``from workbench import build_tabs, shared_state`` gives each tab as a Panel object.
"""

from workbench.app import build_app, build_tabs
from workbench.feeds import WorkbenchState, shared_state

__all__ = ["WorkbenchState", "build_app", "build_tabs", "shared_state"]

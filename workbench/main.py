"""What `panel serve workbench` runs, once per browser session."""

from __future__ import annotations

import panel as pn

from workbench.app import build_app
from workbench.feeds import shared_state

state = shared_state()
if not state.broker.reachable and not state.broker.busy:
    state.broker.ensure()
# First start: train the default models on the demo data when they are missing (a worker
# thread; the Models tab shows the progress). A no-op once they exist.
if not state.models.training:
    state.models.ensure()
pn.state.add_periodic_callback(state.broker.refresh, period=5000)
build_app(state).servable()

"""What `panel serve workbench` runs, once per browser session."""

from __future__ import annotations

import panel as pn

from pipelines.config import load_settings, replace
from workbench.access import is_allowed_client, refusal, session_client_ip
from workbench.app import build_app
from workbench.feeds import shared_state

STATUS_PERIOD_MS = 2000
"""How often each session asks for the state that is not pushed (the broker's)."""

# Spark's JVM in its own process group: SIGTERM or Ctrl-C sent to the server's group
# reaches only the server, whose shutdown stops the detector and then the JVM in order.
# Tabulator's script is loaded with the page: the alerts view sits in a tab rendered
# later. Notifications pop up on a high-severity alert.
pn.extension("tabulator", notifications=True)
state = shared_state(replace(load_settings(), {"spark.own_process_group": True}))
remote_ip = session_client_ip()
if not is_allowed_client(remote_ip, allow_remote=state.settings.workbench.allow_remote):
    # Bokeh has no setting for its listening address and binds every interface unless
    # --address is given: refuse other hosts here (STOPHACKING_WORKBENCH__ALLOW_REMOTE=1
    # opts in).
    refusal(remote_ip).servable()
else:
    if not state.broker.reachable and not state.broker.busy:
        state.broker.ensure()
    # First start: train the default models on the demo data when they are missing (a
    # worker thread; the Models tab shows the progress). A no-op once they exist.
    if not state.models.training:
        state.models.ensure()
    # Non-blocking: the broker check runs on the worker pool and is skipped while the
    # previous one still waits, so callbacks never pile up.
    pn.state.add_periodic_callback(state.poll, period=STATUS_PERIOD_MS)
    build_app(state).servable()

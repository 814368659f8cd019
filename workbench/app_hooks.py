"""Server lifecycle of `panel serve workbench`: stop what we started on shutdown."""

from __future__ import annotations

from typing import Any


def on_server_unloaded(server_context: Any) -> None:
    from workbench.feeds import reset_shared_state

    reset_shared_state()

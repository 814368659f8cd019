"""Who may open the workbench: loopback clients only, unless remote access is allowed.

``panel serve`` (Bokeh) listens on every interface unless ``--address`` is given and has
no setting or environment variable for it, so ``make workbench`` passes
``--address 127.0.0.1`` and ``main.py`` refuses sessions from other hosts for a plain
``panel serve workbench`` (setting ``workbench.allow_remote``, env var
``STOPHACKING_WORKBENCH__ALLOW_REMOTE=1``, opts in).
"""

from __future__ import annotations

import ipaddress

import panel as pn


def is_allowed_client(remote_ip: str | None, *, allow_remote: bool) -> bool:
    """Whether a browser at ``remote_ip`` may use the workbench.

    Args:
        remote_ip: the client's address as the HTTP server saw it; ``None`` when there
            is no HTTP request (a notebook, a test document), which is local.
        allow_remote: the ``workbench.allow_remote`` setting.
    """
    if allow_remote or remote_ip is None:
        return True
    try:
        address = ipaddress.ip_address(remote_ip.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def session_client_ip() -> str | None:
    """The current Bokeh session's client address (``None`` outside a served session)."""
    context = pn.state.curdoc.session_context if pn.state.curdoc is not None else None
    request = getattr(context, "request", None)
    # Bokeh's request proxy forwards unknown attributes to Tornado's request.
    return getattr(request, "remote_ip", None) if request is not None else None


def refusal(remote_ip: str | None) -> pn.viewable.Viewable:
    """The page a refused client gets (nothing of the workbench is built for it)."""
    return pn.pane.Markdown(
        f"## StopHacking workbench\n\nThis workbench serves this machine only; "
        f"`{remote_ip}` is not a loopback address. To serve other hosts, start it with "
        "`STOPHACKING_WORKBENCH__ALLOW_REMOTE=1` (and `--address`, "
        "`--allow-websocket-origin`)."
    )

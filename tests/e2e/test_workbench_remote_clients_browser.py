"""A plain `panel serve workbench` (no --address: Bokeh binds every interface) serves
this machine only: a browser reaching it through a non-loopback address of this host
gets a refusal, one on 127.0.0.1 the workbench; ``workbench.allow_remote`` opts in.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from pipelines.config import Settings
from tests.conftest import free_port
from tests.e2e.workbench_server import served_workbench


def host_address() -> str:
    """A non-loopback IPv4 address of this machine (the one its default route uses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # UDP connect sends nothing: it picks a route
        except OSError:
            pytest.fail("this test needs a non-loopback network interface (none has a route)")
        address = str(probe.getsockname()[0])
    if address.startswith("127."):
        pytest.fail(f"this test needs a non-loopback address; the route uses {address}")
    return address


@pytest.fixture(scope="module")
def served(
    broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The workbench served with Bokeh's default address: (loopback URL, host URL)."""
    port, host = free_port(), host_address()
    log = tmp_path_factory.mktemp("workbench-remote") / "panel-serve.log"
    with served_workbench(
        broker_settings, port, log, address=None, other_origins=[f"{host}:{port}"]
    ) as url:
        yield url, url.replace("127.0.0.1", host)


def test_other_hosts_are_refused_and_loopback_is_served(browser, served: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    loopback_url, host_url = served
    context = browser.new_context(viewport={"width": 1200, "height": 600})
    page = context.new_page()
    page.goto(host_url, wait_until="domcontentloaded")
    page.get_by_text("is not a loopback address").first.wait_for(timeout=60_000)
    assert page.get_by_role("button", name="Start pipeline").count() == 0
    page.goto(loopback_url, wait_until="domcontentloaded")
    page.get_by_role("button", name="Start pipeline").first.wait_for(timeout=60_000)
    assert page.get_by_text("is not a loopback address").count() == 0
    context.close()

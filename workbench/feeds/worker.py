"""One small thread pool for blocking feed work, so nothing blocks the Bokeh loop."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="workbench")


def submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run ``fn(*args)`` on the workbench's worker pool."""
    return _EXECUTOR.submit(fn, *args)

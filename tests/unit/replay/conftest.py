"""Producer test helpers: small streaming CSVs written into tmp dirs.

The writer lives in ``tests/replay_support.py`` (shared by the unit and integration
producer tests); with ``--import-mode=importlib`` test folders are not on
``sys.path``, so it is loaded from its file.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _load_support() -> ModuleType:
    name = "replay_support"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[2] / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_load_support()
